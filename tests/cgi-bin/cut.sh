#!/bin/sh
# Dies by a signal halfway through a long body.
printf 'Content-Type: text/plain\n\n'
head -c 300000 /dev/zero | tr '\0' x
kill -9 $$
