/*
 * fuzz_config.c - scgiserver's config file reading (conf_load()).
 *
 * Copyright (C) 2026 The libscgi authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Input: the contents of the file given to `scgiserver -c`, written to a
 * memfd and read back through /proc/self/fd. Host names resolve through
 * tests/fuzz/resolve.c, never DNS. A config that loads must keep the
 * promises of conf.h: apps with unique names, routes and listeners.
 */
#include "config.h"

#include <sys/mman.h>
#include <unistd.h>

#include "../../scgiserver/conf.h"
#include "fuzz.h"

static int memfd = -1;

/* Each string of a[0..n) differs from every string of b[0..m) after it
 * (the same array: from the next one on). */
static void distinct(char *const *a, size_t n, char *const *b, size_t m,
                     int same)
{
  for (size_t i = 0; i < n; i++)
    for (size_t j = same ? i + 1 : 0; j < m; j++)
      FUZZ_CHECK(strcmp(a[i], b[j]) != 0);
}

static void check_app(const struct conf *c, size_t i)
{
  const struct app_conf *app = &c->apps[i];

  FUZZ_CHECK(app->name[0] != '\0' && !(app->argv && app->nconnect));
  FUZZ_CHECK(app->nroutes + app->nlisten > 0);
  FUZZ_CHECK(app->workers >= 1 && app->workers != CONF_UNSET);
  FUZZ_CHECK(app->concurrency >= 1 && app->concurrency != CONF_UNSET);
  FUZZ_CHECK(app->handoff == HANDOFF_PASS || app->handoff == HANDOFF_PROXY);
  FUZZ_CHECK(!app->nconnect || app->handoff == HANDOFF_PROXY);
  for (size_t r = 0; r < app->nroutes; r++)
    FUZZ_CHECK(app->routes[r][0] == '/');
  distinct(app->routes, app->nroutes, app->routes, app->nroutes, 1);
  distinct(app->listen, app->nlisten, app->listen, app->nlisten, 1);
  distinct(app->listen, app->nlisten, c->listen, c->nlisten, 0);
  for (size_t j = i + 1; j < c->napps; j++) {
    FUZZ_CHECK(strcmp(app->name, c->apps[j].name) != 0);
    distinct(app->routes, app->nroutes, c->apps[j].routes,
             c->apps[j].nroutes, 0);
    distinct(app->listen, app->nlisten, c->apps[j].listen,
             c->apps[j].nlisten, 0);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  char path[64], err[512];
  char *argv[] = { "scgiserver", "-c", path, NULL };
  struct conf c;
  enum conf_result rc;

  if (memfd < 0)
    memfd = memfd_create("scgiserver.conf", MFD_CLOEXEC);
  FUZZ_CHECK(memfd >= 0 && ftruncate(memfd, 0) == 0);
  FUZZ_CHECK(pwrite(memfd, data, size, 0) == (ssize_t)size);
  snprintf(path, sizeof path, "/proc/self/fd/%d", memfd);

  rc = conf_load(3, argv, 2, &c, err, sizeof err);
  FUZZ_CHECK(rc == CONF_OK || rc == CONF_ERROR);
  FUZZ_CHECK(strlen(err) < sizeof err && (rc == CONF_OK) == (err[0] == '\0'));
  if (rc == CONF_OK) {
    FUZZ_CHECK(c.napps >= 1 && c.threads >= 1 && c.max_header_bytes >= 1);
    FUZZ_CHECK(strcmp(c.config_file, path) == 0);
    distinct(c.listen, c.nlisten, c.listen, c.nlisten, 1);
    for (size_t i = 0; i < c.napps; i++)
      check_app(&c, i);
  }
  conf_free(&c);
  return 0;
}
