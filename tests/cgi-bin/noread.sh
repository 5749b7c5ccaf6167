#!/bin/sh
# Answers without reading its input.
printf 'Content-Type: text/plain\n\nnot read\n'
