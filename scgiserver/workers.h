/*
 * workers.h - the application processes scgiserver starts and supervises.
 *
 * Copyright (C) 2026 The libscgi authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * One worker set per application: COUNT processes of the same program,
 * each given one inherited descriptor as fd 3:
 * - handoff "pass": one end of an AF_UNIX SOCK_SEQPACKET socketpair, with
 *   SCGI_HANDOFF_FD=3 in its environment (libscgi's handoff convention: one
 *   message per connection, SCM_RIGHTS fd + the bytes already read; the
 *   worker answers each finished connection with a one-byte "D");
 * - handoff "proxy": a listening Unix socket in the runtime directory, with
 *   LISTEN_FDS=1 and LISTEN_PID set to the worker's pid (systemd's socket
 *   activation convention), to which scgiserver connects per request.
 * Inherited LISTEN_FDS, LISTEN_PID, LISTEN_FDNAMES and SCGI_HANDOFF_FD of
 * scgiserver's own environment are never passed on.
 *
 * A supervisor thread per set watches the workers through pidfds (no
 * SIGCHLD handler, no reaping race), counts the "D" messages, restarts a
 * worker that exited with an exponential backoff (100 ms doubling to 10 s,
 * reset after a worker lived 10 s; a crash loop is logged once per backoff
 * step, never spun), and recycles a worker that served max_requests: that
 * worker takes no new connection; its replacement starts at once (pass) or
 * once the old one is idle (proxy: it binds the same socket path); the old
 * one gets its handoff socket closed and SIGTERM once idle, SIGKILL after
 * stop_timeout_ms.
 *
 * The rest of scgiserver must leave children alone: no waitpid(-1) and
 * SIGCHLD not set to SIG_IGN (either would steal the exit statuses).
 * Each worker leads a process group of its own, so that a terminal's
 * Ctrl-C reaches scgiserver only, which then drains and stops them.
 *
 * Thread safety: every function but workers_start/workers_free may be
 * called from any thread; one mutex per set guards its state.
 */
#ifndef SCGISERVER_WORKERS_H
#define SCGISERVER_WORKERS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

enum handoff_mode { HANDOFF_PASS, HANDOFF_PROXY };

struct worker_spec {
  const char *name;         /* application name, for log lines */
  char *const *argv;        /* program and arguments (argv[0] is looked up
                               in PATH when it has no '/') */
  unsigned count;           /* processes to run, >= 1 */
  enum handoff_mode mode;
  unsigned concurrency;     /* connections one worker takes at once, >= 1 */
  unsigned max_requests;    /* recycle a worker after this many; 0: never */
  unsigned queue;           /* most requests waiting for a worker at once */
  const char *runtime_dir;  /* existing directory for proxy sockets */
  unsigned stop_timeout_ms; /* SIGTERM to SIGKILL when stopping */
};

struct worker_set;

/* What workers_acquire() gives: the worker to use for one connection.
 * Borrowed from the set: handoff_fd stays open (even if the worker dies)
 * until the reference is given back with workers_handed_off() or
 * workers_release(), which every successful acquire must be followed by
 * exactly once; socket_path lives as long as the set. */
struct worker_ref {
  int handoff_fd;           /* pass: the SEQPACKET socket to send on, in
                               blocking mode (send with MSG_NOSIGNAL, and
                               MSG_DONTWAIT if need be); proxy: -1 */
  const char *socket_path;  /* proxy: Unix socket to connect to; pass: NULL */
  unsigned id;              /* worker slot, for log lines */
  unsigned generation;      /* which process in that slot */
};

/* Starts the workers (returns once they are forked; a worker whose program
 * is not found or fails to exec is logged "cannot run PROGRAM: reason" and
 * retried with backoff). The spec is copied. Returns 0; -EINVAL for a bad
 * spec; -ENAMETOOLONG when the proxy socket path does not fit; or -errno of
 * a system call that failed (e.g. binding in runtime_dir), nothing left
 * running. */
int workers_start(const struct worker_spec *spec, struct worker_set **out);

/* Takes a free slot of a live worker (the least busy one), waiting up to
 * wait_ms when every worker is busy or restarting. Returns 0; -EAGAIN when
 * `queue` requests already wait (answer 503 at once); -ETIMEDOUT when none
 * became free in time (503); -ESRCH when the set is stopping (waiters are
 * woken with it), or when no worker is running and no restart is due within
 * wait_ms, i.e. every worker is in a crash-loop backoff (502). */
int workers_acquire(struct worker_set *ws, unsigned wait_ms,
                    struct worker_ref *ref);

/* pass: the connection was sent on ref->handoff_fd; the slot is released
 * when the worker's "D" arrives (or when it dies). A reference to a worker
 * that was replaced meanwhile is accepted and ignored. */
void workers_handed_off(struct worker_set *ws, const struct worker_ref *ref);

/* Gives the slot back without a handoff (proxy: the relay ended; pass: the
 * send failed). `worker_failed` when the worker did not answer properly,
 * which is logged with the worker's pid. */
void workers_release(struct worker_set *ws, const struct worker_ref *ref,
                     bool worker_failed);

/* Whether the process behind a held reference (proxy) has exited, or
 * exits within wait_ms: for a relay whose worker closed its socket in a
 * way that a dying process would. *pid (may be NULL) gets its pid. Does not
 * reap it or release the reference. */
bool workers_exited(struct worker_set *ws, const struct worker_ref *ref,
                    unsigned wait_ms, pid_t *pid);

/* Counters for logs and the status page: alive workers (started and not
 * failed to exec), busy slots, waiting acquires; connections handed off
 * (pass) or released without failure (proxy); restarts after an exit;
 * crashes (killed by a signal that was not our SIGTERM/SIGKILL); workers
 * replaced after max_requests. */
struct worker_stats {
  unsigned alive, busy, waiting;
  unsigned long long served, restarts, crashes, recycles;
};
void workers_stats(struct worker_set *ws, struct worker_stats *out);

/* The pid of the process currently in slot `id`, or 0 while it restarts
 * (for log lines, the status page and tests). */
pid_t workers_pid(struct worker_set *ws, unsigned id);

/* Stops the set: no new acquire (waiters get -ESRCH); waits up to drain_ms
 * for busy slots to come back ("D" or release); then closes the handoff
 * sockets and sends SIGTERM, then SIGKILL after stop_timeout_ms; reaps
 * every process and removes the proxy sockets. Returns once all is done.
 * Call it from one thread, once (later calls do nothing). */
void workers_stop(struct worker_set *ws, unsigned drain_ms);

/* Frees a set, stopping it first (with no drain) if need be. No other
 * thread may use it any more. NULL allowed. */
void workers_free(struct worker_set *ws);

#endif /* SCGISERVER_WORKERS_H */
