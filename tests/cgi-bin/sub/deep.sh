#!/bin/sh
printf 'Content-Type: text/plain\n\ndeep %s\n' "$PATH_INFO"
