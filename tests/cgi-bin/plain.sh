#!/bin/sh
printf 'Content-Type: text/plain\n\nnot executable\n'
