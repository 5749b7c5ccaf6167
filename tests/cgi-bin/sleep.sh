#!/bin/sh
# Sleeps QUERY_STRING seconds (in a child, to show that the whole process
# group goes at a timeout), then answers. Writes "PID CHILD" to sleep.pid.
sleep "${QUERY_STRING:-30}" &
echo "$$ $!" >sleep.pid
wait
printf 'Content-Type: text/plain\n\nslept\n'
