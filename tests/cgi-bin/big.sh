#!/bin/sh
# A body of 3 MiB: more than any buffer on the way.
printf 'Content-Type: application/octet-stream\n\n'
head -c 3145728 /dev/zero
