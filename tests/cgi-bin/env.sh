#!/bin/sh
# Prints the environment it got, sorted.
printf 'Content-Type: text/plain\n\n'
env | LC_ALL=C sort
