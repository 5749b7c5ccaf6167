#!/bin/sh
echo "warning: the frobnicator is low" >&2
printf 'a control\001byte\n' >&2
printf 'Content-Type: text/plain\n\nok\n'
