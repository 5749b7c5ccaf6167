/* request.c */
#include "config.h"
#include "internal.h"
