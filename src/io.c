/* io.c */
#include "config.h"
#include "internal.h"
