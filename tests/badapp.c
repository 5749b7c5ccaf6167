/*
 * badapp.c - a libscgi application that misbehaves on purpose, to test
 * how scgiserver copes with the applications it runs or relays to.
 *
 * Copyright (C) 2026 The libscgi authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * usage: badapp [-t THREADS] MODE [MS] [ADDRESS]
 *
 * Without ADDRESS it serves the inherited listener (scgiserver's
 * SCGI_HANDOFF_FD, or LISTEN_FDS), like any libscgi program. MODE:
 *   ok          answers 200 "ok\n";
 *   silent      reads the request, never answers (sleeps until SIGTERM,
 *               then fails the request and exits);
 *   die-before  reads the request, then _exit(1) without a byte;
 *   die-after   sends Status 200, headers and "partial-" with scgi_flush(),
 *               then _exit(1); when the query string is "cl" it also
 *               announces "Content-Length: 1000000", so that a front
 *               server can tell that the response was cut short;
 *   slow MS     sleeps MS milliseconds (whatever signals come), then
 *               answers 200 "slow MS\n";
 *   pid         answers 200 with its getpid() and a newline.
 * Every answer has a Content-Length. SIGTERM and SIGINT stop the server
 * (requests in progress finish); stderr gets one line per request.
 */
#include <scgi.h>

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define USAGE                                                                  \
  "usage: badapp [-t THREADS] MODE [MS] [ADDRESS]\n"                           \
  "  MODE: ok | silent | die-before | die-after | slow MS | pid\n"             \
  "  -t THREADS  handler threads (default 4)\n"                                \
  "  ADDRESS     unix:/PATH, HOST:PORT or fd:N; without it, the inherited\n"   \
  "              listener (scgiserver or systemd)\n"

enum mode { M_OK, M_SILENT, M_DIE_BEFORE, M_DIE_AFTER, M_SLOW, M_PID };

static scgi_server *server;
static volatile sig_atomic_t stopping;
static enum mode mode;
static long slow_ms;

static void on_signal(int sig)
{
  (void)sig;
  stopping = 1;
  scgi_server_stop(server);
}

static long long now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Sleeps `ms` milliseconds in full, across signals. */
static void sleep_ms(long ms)
{
  long long end = now_ms() + ms, left;

  while ((left = end - now_ms()) > 0) {
    struct timespec ts = {left / 1000, (left % 1000) * 1000000L};
    nanosleep(&ts, NULL);
  }
}

/* Reads and drops the request body; 0 or a negative error. */
static int drain_body(scgi_request *req)
{
  char buf[16384];
  ssize_t got;

  while ((got = scgi_read(req, buf, sizeof buf)) > 0)
    ;
  return got < 0 ? (int)got : 0;
}

/* Answers 200 with `text` and its Content-Length. */
static int answer(scgi_request *req, const char *text)
{
  char length[32];
  int rc;

  snprintf(length, sizeof length, "%zu", strlen(text));
  if ((rc = scgi_status(req, 200, NULL)) == 0 &&
      (rc = scgi_header(req, "Content-Type", "text/plain")) == 0 &&
      (rc = scgi_header(req, "Content-Length", length)) == 0)
    rc = scgi_write(req, text, strlen(text));
  return rc;
}

static int handle(scgi_request *req, void *arg)
{
  const char *uri = scgi_request_uri(req);
  const char *query = scgi_request_query_string(req);
  int announce_length = query && !strcmp(query, "cl");
  char text[64];
  int rc;

  (void)arg;
  fprintf(stderr, "badapp[%ld]: %s\n", (long)getpid(), uri ? uri : "?");
  if ((rc = drain_body(req)) < 0)
    return rc;
  switch (mode) {
  case M_OK:
    return answer(req, "ok\n");
  case M_SILENT:
    while (!stopping)
      sleep_ms(50);
    return SCGI_ESTOPPED; /* scgi_serve() fails the request */
  case M_DIE_BEFORE:
    _exit(1);
  case M_DIE_AFTER:
    if ((rc = scgi_status(req, 200, NULL)) == 0 &&
        (rc = scgi_header(req, "Content-Type", "text/plain")) == 0 &&
        (!announce_length ||
         (rc = scgi_header(req, "Content-Length", "1000000")) == 0) &&
        (rc = scgi_write(req, "partial-", 8)) == 0)
      rc = scgi_flush(req);
    if (rc < 0)
      fprintf(stderr, "badapp: die-after: %s\n", scgi_strerror(rc));
    /* Let the bytes leave before the process and its sockets go away. */
    sleep_ms(100);
    _exit(1);
  case M_SLOW:
    sleep_ms(slow_ms);
    snprintf(text, sizeof text, "slow %ld\n", slow_ms);
    return answer(req, text);
  case M_PID:
    snprintf(text, sizeof text, "%ld\n", (long)getpid());
    return answer(req, text);
  }
  return SCGI_EINVAL;
}

static long parse_number(const char *s, long min, long max)
{
  char *end;
  long v;

  errno = 0;
  v = strtol(s, &end, 10);
  if (errno || end == s || *end || v < min || v > max)
    return -1;
  return v;
}

int main(int argc, char **argv)
{
  struct sigaction sa = {.sa_handler = on_signal};
  const char *address = NULL, *name;
  long threads = 4;
  int opt, rc;

  while ((opt = getopt(argc, argv, "+t:h")) != -1) {
    if (opt == 't' && (threads = parse_number(optarg, 1, 1024)) > 0)
      continue;
    fputs(USAGE, opt == 'h' ? stdout : stderr);
    return opt == 'h' ? 0 : 2;
  }
  if (optind >= argc) {
    fputs(USAGE, stderr);
    return 2;
  }
  name = argv[optind++];
  if (!strcmp(name, "ok"))
    mode = M_OK;
  else if (!strcmp(name, "silent"))
    mode = M_SILENT;
  else if (!strcmp(name, "die-before"))
    mode = M_DIE_BEFORE;
  else if (!strcmp(name, "die-after"))
    mode = M_DIE_AFTER;
  else if (!strcmp(name, "pid"))
    mode = M_PID;
  else if (!strcmp(name, "slow")) {
    mode = M_SLOW;
    if (optind >= argc ||
        (slow_ms = parse_number(argv[optind++], 0, INT_MAX)) < 0) {
      fputs("badapp: slow needs a number of milliseconds\n", stderr);
      return 2;
    }
  } else {
    fprintf(stderr, "badapp: unknown mode '%s'\n" USAGE, name);
    return 2;
  }
  if (optind < argc)
    address = argv[optind++];
  if (optind < argc) {
    fputs(USAGE, stderr);
    return 2;
  }

  if (!(server = scgi_server_new())) {
    fprintf(stderr, "badapp: %s\n", scgi_strerror(SCGI_ENOMEM));
    return 1;
  }
  if ((rc = scgi_server_listen(server, address)) < 0) {
    fprintf(stderr, "badapp: %s: %s\n", address ? address : "(inherited)",
            scgi_strerror(rc));
    scgi_server_free(server);
    return 1;
  }
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  rc = scgi_serve(server, (unsigned)threads, handle, NULL);
  if (rc < 0)
    fprintf(stderr, "badapp: %s\n", scgi_strerror(rc));
  scgi_server_free(server);
  return rc < 0;
}
