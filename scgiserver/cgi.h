/*
 * cgi.h - CGI mode: one process per request, from a directory of
 * programs (like fcgiwrap), answered through libscgi.
 *
 * Copyright (C) 2026 The libscgi authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#ifndef SCGISERVER_CGI_H
#define SCGISERVER_CGI_H

#include <scgi.h>

#include "conf.h"
#include "workers.h"

struct cgi_app;

/* A CGI app of the config `c` (c->cgi_dir set; c must outlive it):
 * at most c->workers programs run at once, `queue` more requests may wait
 * for a place. Returns 0 or -errno. */
int cgi_app_new(const struct app_conf *c, unsigned queue,
                struct cgi_app **out);

/* Frees an app whose requests are all done. NULL allowed. */
void cgi_app_free(struct cgi_app *app);

/* Takes a place for one program, waiting up to wait_ms when all are
 * taken. Returns 0 (then cgi_release() once done), -EAGAIN when `queue`
 * requests wait already, -ETIMEDOUT when no place came free in time. */
int cgi_acquire(struct cgi_app *app, unsigned wait_ms);
void cgi_release(struct cgi_app *app);

/* How a request ended. */
enum cgi_end {
  CGI_OK,         /* the program's response went out whole */
  CGI_NO_PROGRAM, /* the path names no program that may run: 400, 403
                     or 404 answered */
  CGI_FAILED,     /* it could not start, or its output was no CGI
                     response: 502 answered (500 when out of memory) */
  CGI_TIMED_OUT,  /* it ran past app-timeout and was killed: 504
                     answered, or the connection reset when the response
                     had begun */
  CGI_FRONT_GONE  /* the front connection failed, or its request body
                     stopped arriving (408 answered then): the program
                     was killed */
};

struct cgi_result {
  enum cgi_end end;
  int status;        /* the status answered, 0 when reset or gone */
  long long bytes;   /* body bytes sent */
};

/* Runs the program the request's path names below the app's route (the
 * path: SCRIPT_NAME, with PATH_INFO appended when the front server
 * splits them, else DOCUMENT_URI, else REQUEST_URI decoded; see
 * cgi_locate()) with the request body on its standard input, and answers
 * with its output; its standard error goes to the log, line by line.
 * Call between cgi_acquire() and cgi_release(). Logs every failure. */
void cgi_serve(struct cgi_app *app, scgi_request *req,
               struct cgi_result *out);

/* Counters for the status page, in worker terms: workers = the cap,
 * alive = busy = programs running, waiting = requests queued, served =
 * programs run, crashes = programs that exited with a signal or a
 * nonzero status. */
void cgi_stats(struct cgi_app *app, struct worker_stats *out);

#endif /* SCGISERVER_CGI_H */
