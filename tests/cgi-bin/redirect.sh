#!/bin/sh
printf 'Location: https://example.org/moved\n\n'
