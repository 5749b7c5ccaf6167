/* response.c */
#include "config.h"
#include "internal.h"
