/* error.c */
#include "config.h"
#include "internal.h"
