/*
 * fuzz_response.c - scgiserver's reading of an application's response
 * head (relay_response_head()).
 *
 * Copyright (C) 2026 The libscgi authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Input: the first bytes of a response. The status is 0 (head not complete
 * or status malformed) or three digits; the announced total is -1 or at
 * least the head; a head complete in a prefix reads the same in the whole.
 */
#include "config.h"

#include "../../scgiserver/relay.h"
#include "fuzz.h"

static void head(const uint8_t *data, size_t len, int *status, int64_t *total)
{
  char *buf = fuzz_copy(data, len);

  relay_response_head(buf, len, status, total);
  free(buf);
  FUZZ_CHECK(*status == 0 || (*status >= 100 && *status <= 999));
  FUZZ_CHECK(*total == -1 || (*status >= 200 && *total > 0));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  int status, half_status;
  int64_t total, half_total;

  head(data, size, &status, &total);
  head(data, size / 2, &half_status, &half_total);
  FUZZ_CHECK(half_status == 0 ||
             (half_status == status && half_total == total));
  return 0;
}
