#!/bin/sh
# Answers its header block at once, then goes silent.
printf 'Content-Type: text/plain\n\nstarted\n'
exec sleep 30
