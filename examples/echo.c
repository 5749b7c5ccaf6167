/*
 * echo.c - answers every request with its CGI variables and its body.
 *
 * Copyright (C) 2026 The libscgi authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * The response body is each variable in wire order as NAME=VALUE and a
 * newline (duplicates included), one empty line, then the request body byte
 * for byte. Bodies of any size pass without being held in memory: a large
 * one is spooled to a temporary file, then sent with scgi_sendfile().
 */
#include <scgi.h>

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define USAGE                                                                  \
  "usage: echo [-t THREADS] [-T MS] [ADDRESS]\n"                               \
  "  -t THREADS  handler threads (default: one per CPU)\n"                     \
  "  -T MS       read timeout in milliseconds (default: the library's)\n"      \
  "  ADDRESS     unix:/PATH, HOST:PORT, [IPV6]:PORT or fd:N; without it,\n"    \
  "              the listener inherited from systemd or scgiserver\n"          \
  "example: echo unix:/tmp/echo.sock   or   echo 127.0.0.1:4000\n"

static scgi_server *server;

static void on_signal(int sig)
{
  (void)sig;
  scgi_server_stop(server);
}

/* Bytes of the "NAME=VALUE\n" lines and the empty line, so that the
 * response can announce its length before the body streams through. */
static uint64_t vars_size(const scgi_request *req)
{
  uint64_t total = 1;
  size_t n = scgi_request_count(req);

  for (size_t i = 0; i < n; i++) {
    const char *name;
    size_t value_len;
    scgi_request_var(req, i, &name, NULL, &value_len);
    total += strlen(name) + 1 + value_len + 1;
  }
  return total;
}

static int write_vars(scgi_request *req)
{
  size_t n = scgi_request_count(req);
  int rc = 0;

  for (size_t i = 0; i < n && rc == 0; i++) {
    const char *name, *value;
    size_t value_len;
    scgi_request_var(req, i, &name, &value, &value_len);
    if ((rc = scgi_write(req, name, strlen(name))) == 0 &&
        (rc = scgi_write(req, "=", 1)) == 0 &&
        (rc = scgi_write(req, value, value_len)) == 0)
      rc = scgi_write(req, "\n", 1);
  }
  return rc ? rc : scgi_write(req, "\n", 1);
}

/* Reads the whole body before anything is sent: nginx stops sending the
 * request body once it has forwarded the response header, so a response
 * that starts before the body is read can wait forever for the rest of it.
 * A body that fits in `small` stays there; a larger one goes to an unlinked
 * temporary file (*spool), never whole into memory. Returns the number of
 * bytes kept in `small`, or a negative error. */
static ssize_t read_body(scgi_request *req, char *small, size_t size,
                         FILE **spool)
{
  char buf[16384];
  size_t kept = 0;
  ssize_t got;

  *spool = NULL;
  while ((got = scgi_read(req, kept < size ? small + kept : buf,
                          kept < size ? size - kept : sizeof buf)) > 0) {
    if (kept < size) {
      kept += (size_t)got;
      continue;
    }
    if (!*spool && (!(*spool = tmpfile()) ||
                    fwrite(small, 1, kept, *spool) != kept))
      return -errno;
    if (fwrite(buf, 1, (size_t)got, *spool) != (size_t)got)
      return -errno;
  }
  if (got == 0 && *spool && fflush(*spool) != 0)
    return -errno;
  return got < 0 ? got : (ssize_t)kept;
}

static int write_body(scgi_request *req, const char *small, size_t kept,
                      FILE *spool)
{
  int64_t length = scgi_request_content_length(req);

  if (!spool)
    return scgi_write(req, small, kept);
  return scgi_sendfile(req, fileno(spool), 0, (size_t)length);
}

static int echo(scgi_request *req, void *arg)
{
  char small[16384], length[32];
  uint64_t total = vars_size(req) + (uint64_t)scgi_request_content_length(req);
  FILE *spool;
  ssize_t kept;
  int rc;

  (void)arg;
  snprintf(length, sizeof length, "%" PRIu64, total);
  if ((kept = read_body(req, small, sizeof small, &spool)) < 0)
    rc = (int)kept;
  else if ((rc = scgi_status(req, 200, NULL)) == 0 &&
           (rc = scgi_header(req, "Content-Type", "text/plain")) == 0 &&
           (rc = scgi_header(req, "Content-Length", length)) == 0 &&
           (rc = write_vars(req)) == 0)
    rc = write_body(req, small, (size_t)kept, spool);
  if (spool)
    fclose(spool);
  if (rc < 0) {
    const char *uri = scgi_request_uri(req);
    fprintf(stderr, "echo: %s: %s\n", uri ? uri : "(no REQUEST_URI)",
            scgi_strerror(rc));
  }
  return rc;
}

/* Parses a decimal option value in [min, max]; -1 when it is not one. */
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

static int start(const char *address, long timeout_ms)
{
  int rc;

  if (!(server = scgi_server_new())) {
    fprintf(stderr, "echo: %s\n", scgi_strerror(SCGI_ENOMEM));
    return 1;
  }
  if (timeout_ms >= 0)
    scgi_server_set(server, SCGI_OPT_READ_TIMEOUT_MS, (size_t)timeout_ms);
  rc = scgi_server_listen(server, address);
  if (rc == SCGI_ENOLISTENER) {
    fprintf(stderr, "echo: %s.\nGive an address to listen on.\n" USAGE,
            scgi_strerror(rc));
    return 2;
  }
  if (rc < 0) {
    fprintf(stderr, "echo: %s: %s\n", address ? address : "(inherited)",
            scgi_strerror(rc));
    return 1;
  }
  return 0;
}

int main(int argc, char **argv)
{
  struct sigaction sa = {.sa_handler = on_signal};
  long threads = 0, timeout_ms = -1;
  int opt, rc;

  while ((opt = getopt(argc, argv, "t:T:h")) != -1) {
    if (opt == 't' && (threads = parse_number(optarg, 0, 1024)) >= 0)
      continue;
    if (opt == 'T' && (timeout_ms = parse_number(optarg, 0, INT_MAX)) >= 0)
      continue;
    fputs(USAGE, opt == 'h' ? stdout : stderr);
    return opt == 'h' ? 0 : 2;
  }
  if (argc - optind > 1) {
    fputs(USAGE, stderr);
    return 2;
  }
  if ((rc = start(optind < argc ? argv[optind] : NULL, timeout_ms)) != 0) {
    scgi_server_free(server);
    return rc;
  }

  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  rc = scgi_serve(server, (unsigned)threads, echo, NULL);
  if (rc < 0)
    fprintf(stderr, "echo: %s\n", scgi_strerror(rc));
  /* scgi_serve() also returns without a signal (scgiserver closed the
   * handoff socket): one arriving now must not reach a freed server. */
  sa.sa_handler = SIG_IGN;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  scgi_server_free(server);
  return rc < 0;
}
