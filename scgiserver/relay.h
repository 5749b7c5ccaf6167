/*
 * relay.h - moving a front connection to its application: handing the
 * descriptor over (pass), or relaying its bytes both ways (proxy).
 *
 * Copyright (C) 2026 The libscgi authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Everything here works on descriptors already detached from libscgi
 * (scgi_request_detach()), so the responses it writes itself (502, 504)
 * are raw CGI bytes sent with MSG_NOSIGNAL.
 */
#ifndef SCGISERVER_RELAY_H
#define SCGISERVER_RELAY_H

#include <stddef.h>
#include <stdint.h>

/* pass: sends one SEQPACKET message on handoff_fd: conn_fd as SCM_RIGHTS
 * and the bytes already read (raw) as payload, waiting up to timeout_ms
 * for room. conn_fd stays ours (close it after). Returns 0 or -errno. */
int relay_pass(int handoff_fd, int conn_fd, const char *raw, size_t len,
               unsigned timeout_ms);

/* How a proxied request ended. */
enum relay_end {
  RELAY_OK,         /* the app's whole response went to the front */
  RELAY_FRONT_GONE, /* the front closed, failed or stopped reading; or it
                       stopped sending the body for the timeout: 408
                       answered when nothing was relayed yet (status) */
  RELAY_APP_EMPTY,  /* the app closed or failed before its first byte:
                       502 answered */
  RELAY_APP_CUT,    /* the app failed mid-response: front connection reset */
  RELAY_TIMEOUT     /* the app was silent for the timeout: 504 answered, or
                       the front reset when the response had begun */
};

struct relay_result {
  enum relay_end end;
  int status;          /* status sent to the front (0: none, or reset) */
  int err;             /* -errno behind a failure, or 0 */
  uint64_t up, down;   /* bytes relayed front->app and app->front */
  int app_died;        /* RELAY_APP_CUT because job->app_died said so */
};

/* What relay_proxy() relays. */
struct relay_job {
  const char *raw;          /* scgi_request_raw(): header netstring and the
                               first body bytes */
  size_t raw_len;
  uint64_t content_length;  /* of the request body */
  unsigned timeout_ms;      /* every wait without progress, including the
                               one for the first response byte; 0: none */
  int head;                 /* a HEAD request: its response has no body */
  /* Own workers only (NULL otherwise): called when the app closed its
   * socket fully after a response whose end cannot be checked (no
   * Content-Length); returns nonzero when the app's process died, which
   * makes the response cut. See "Telling a finished app from a dead one"
   * in relay.c. */
  int (*app_died)(void *ctx);
  void *ctx;
};

/* proxy: writes the raw bytes to app_fd, then relays the rest of the
 * request body to the app and the app's response to the front until the
 * app closes. A response that ends before the length its headers announce
 * (or inside its headers) counts as cut. Takes both descriptors and
 * closes them. */
void relay_proxy(int front_fd, int app_fd, const struct relay_job *job,
                 struct relay_result *out);

/* Answers `status` (408, 502, 503 or 504) with a short text body directly
 * on a detached connection, then closes it without destroying the answer
 * with a reset (unread request bytes are drained for a moment first). */
void relay_answer(int fd, int status);

/* Closes a connection with a reset (SO_LINGER 0), so that a front server
 * never takes a cut response for a complete one. */
void relay_reset(int fd);

/* Reads the CGI header block at the start of a response: *status gets the
 * Status header's code (200 without one; 0 when the block is not complete
 * in buf or the status is malformed); *total gets the whole response's
 * announced size (the block plus Content-Length), or -1 when unknown. */
void relay_response_head(const char *buf, size_t len, int *status,
                         int64_t *total);

#endif /* SCGISERVER_RELAY_H */
