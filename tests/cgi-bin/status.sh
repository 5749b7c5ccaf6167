#!/bin/sh
printf 'Status: 418 I am a teapot\nContent-Type: text/plain\n\nshort and stout\n'
