/* parser.c */
#include "config.h"
#include "internal.h"
