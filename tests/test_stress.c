/*
 * test_stress.c - many threads accepting, reading and answering at once.
 *
 * Also built under ThreadSanitizer (--enable-sanitizers=tsan): it must stay
 * race-free and finish in a few seconds there.
 *
 * Copyright (C) 2026 The libscgi authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include "scgi.h"
#include "tap.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define SERVE_THREADS 8
#define CLIENTS 8
#define REQUESTS_PER_CLIENT 250 /* 2000 in all */
#define MAX_BODY 24000
#define MAX_EXTRA_VARS 24
#define LOOKUP_THREADS 2

#define ACCEPT_THREADS 4
#define ACCEPT_CLIENTS 4
#define ACCEPT_REQUESTS 100

#define IO_TIMEOUT_MS 10000

static char sock_path[108];
/* Divides the request counts: valgrind runs one thread at a time. */
static unsigned slowdown = 1;

/* ---- small tools ------------------------------------------------------------ */

static uint64_t next_rand(uint64_t *s)
{
  /* xorshift64*: each thread has its own state. */
  *s ^= *s >> 12;
  *s ^= *s << 25;
  *s ^= *s >> 27;
  return *s * 2685821657736338717ULL;
}

static uint64_t fnv1a(uint64_t h, const void *data, size_t len)
{
  const unsigned char *p = data;

  for (size_t i = 0; i < len; i++)
    h = (h ^ p[i]) * 1099511628211ULL;
  return h;
}

#define FNV_START 14695981039346656037ULL

static atomic_int log_lines;

static void count_log(void *arg, scgi_log_level level, const char *message)
{
  (void)arg;
  (void)level;
  if (atomic_fetch_add(&log_lines, 1) < 5)
    printf("# log: %s\n", message);
}

static int connect_unix(void)
{
  struct sockaddr_un sun = { .sun_family = AF_UNIX };
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

  memcpy(sun.sun_path, sock_path, sizeof sun.sun_path);
  if (fd >= 0 && connect(fd, (struct sockaddr *)&sun, sizeof sun) < 0) {
    close(fd);
    return -1;
  }
  return fd;
}

static int send_all(int fd, const char *p, size_t len)
{
  while (len > 0) {
    ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return -1;
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

/* Reads the reply until EOF into buf (NUL-terminated). */
static size_t read_reply(int fd, char *buf, size_t size)
{
  size_t len = 0;

  while (len + 1 < size) {
    struct pollfd pfd = { .fd = fd, .events = POLLIN };
    ssize_t n;
    if (poll(&pfd, 1, IO_TIMEOUT_MS) <= 0)
      break;
    n = recv(fd, buf + len, size - 1 - len, 0);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    len += (size_t)n;
  }
  buf[len] = '\0';
  return len;
}

/* ---- the request a client sends ----------------------------------------------- */

struct client_req {
  char head[8192];   /* netstring */
  size_t head_len;
  char body[MAX_BODY];
  size_t body_len;
  unsigned id;
  size_t nvars;
};

static size_t add_var(char *block, size_t len, const char *name,
                      const char *value)
{
  size_t n = strlen(name) + 1, v = strlen(value) + 1;

  memcpy(block + len, name, n);
  memcpy(block + len + n, value, v);
  return len + n + v;
}

static void make_request(struct client_req *r, unsigned id, uint64_t *rng)
{
  char block[7000], value[64];
  size_t len = 0, extra = next_rand(rng) % (MAX_EXTRA_VARS + 1);
  int pl;

  r->id = id;
  r->body_len = next_rand(rng) % 4 == 0 ? 0 : next_rand(rng) % MAX_BODY;
  for (size_t i = 0; i < r->body_len; i++)
    r->body[i] = (char)next_rand(rng);

  snprintf(value, sizeof value, "%zu", r->body_len);
  len = add_var(block, len, "CONTENT_LENGTH", value);
  len = add_var(block, len, "REQUEST_METHOD", "POST");
  snprintf(value, sizeof value, "%u", id);
  len = add_var(block, len, "X_ID", value);
  r->nvars = 3;
  for (size_t i = 0; i < extra; i++) {
    char name[32];
    snprintf(name, sizeof name, "HTTP_X_%zu", i);
    snprintf(value, sizeof value, "v%zu-%u", i, id);
    len = add_var(block, len, name, value);
    r->nvars++;
    if (i == extra / 2) {
      len = add_var(block, len, "SCGI", "1");
      r->nvars++;
    }
  }
  if (extra == 0) {
    len = add_var(block, len, "SCGI", "1");
    r->nvars++;
  }
  /* Duplicates are legal (nginx sends them): the first one wins. */
  snprintf(value, sizeof value, "first-%u", id);
  len = add_var(block, len, "HTTP_COOKIE", value);
  len = add_var(block, len, "HTTP_COOKIE", "second");
  r->nvars += 2;

  pl = snprintf(r->head, sizeof r->head, "%zu:", len);
  memcpy(r->head + pl, block, len);
  r->head[(size_t)pl + len] = ',';
  r->head_len = (size_t)pl + len + 1;
}

/* Sends the header netstring in 1 to 4 random pieces, then the body in
 * random pieces. */
static int send_request(int fd, const struct client_req *r, uint64_t *rng)
{
  size_t pos = 0, pieces = 1 + next_rand(rng) % 4;

  for (size_t i = 1; i < pieces && pos + 1 < r->head_len; i++) {
    size_t n = 1 + next_rand(rng) % (r->head_len - pos - 1);
    if (send_all(fd, r->head + pos, n) < 0)
      return -1;
    pos += n;
    sched_yield();
  }
  if (send_all(fd, r->head + pos, r->head_len - pos) < 0)
    return -1;
  for (pos = 0; pos < r->body_len;) {
    size_t n = 1 + next_rand(rng) % (r->body_len - pos);
    if (send_all(fd, r->body + pos, n) < 0)
      return -1;
    pos += n;
  }
  return 0;
}

static bool check_reply(const struct client_req *r, const char *reply)
{
  char want[256];
  uint64_t sum = fnv1a(FNV_START, r->body, r->body_len);

  snprintf(want, sizeof want,
           "\r\n\r\nid=%u len=%zu sum=%016" PRIx64
           " vars=%zu cookie=first-%u lookups=ok",
           r->id, r->body_len, sum, r->nvars, r->id);
  if (strncmp(reply, "Status: 200", 11) == 0 && strstr(reply, want) != NULL)
    return true;
  printf("# want: %s\n# got: %s\n", want + 4, reply);
  return false;
}

struct client {
  pthread_t tid;
  unsigned index;
  unsigned requests;
  atomic_int ok;
};

static void *client_main(void *p)
{
  struct client *c = p;
  struct client_req *r = malloc(sizeof *r);
  uint64_t rng = 0x9E3779B97F4A7C15ULL * (c->index + 1);
  char reply[1024];

  for (unsigned i = 0; i < c->requests; i++) {
    int fd = connect_unix();
    make_request(r, c->index * 100000 + i, &rng);
    if (fd < 0)
      continue;
    if (send_request(fd, r, &rng) == 0) {
      read_reply(fd, reply, sizeof reply);
      if (check_reply(r, reply))
        atomic_fetch_add(&c->ok, 1);
    }
    close(fd);
  }
  free(r);
  return NULL;
}

static int run_clients(unsigned n, unsigned requests)
{
  struct client *cs = calloc(n, sizeof *cs);
  int ok = 0;

  for (unsigned i = 0; i < n; i++) {
    cs[i].index = i;
    cs[i].requests = requests;
    atomic_init(&cs[i].ok, 0);
    pthread_create(&cs[i].tid, NULL, client_main, &cs[i]);
  }
  for (unsigned i = 0; i < n; i++) {
    pthread_join(cs[i].tid, NULL);
    ok += atomic_load(&cs[i].ok);
  }
  free(cs);
  return ok;
}

/* ---- the handler ----------------------------------------------------------------- */

/* Read-only lookups, done by the handler and, at the same time, by extra
 * threads on the same request. */
static bool lookups_agree(const scgi_request *req)
{
  const char *id = scgi_request_get(req, "X_ID"), *cookie;
  size_t n = scgi_request_count(req);
  char want[64];

  if (id == NULL)
    return false;
  snprintf(want, sizeof want, "first-%s", id);
  cookie = scgi_request_get(req, "HTTP_COOKIE");
  if (cookie == NULL || strcmp(cookie, want) != 0)
    return false;
  if (scgi_request_method(req) == NULL ||
      strcmp(scgi_request_method(req), "POST") != 0)
    return false;
  for (size_t i = 0; i < n; i++) {
    const char *name, *value, *first;
    size_t len;
    if (scgi_request_var(req, i, &name, &value, &len) != 0 ||
        strlen(value) != len)
      return false;
    first = scgi_request_get(req, name);
    if (first == NULL)
      return false;
    if (strncmp(name, "HTTP_X_", 7) == 0 &&
        (value[0] != 'v' || strcmp(strchr(value, '-') + 1, id) != 0))
      return false;
  }
  return scgi_request_var(req, n, NULL, NULL, NULL) == SCGI_EINVAL;
}

struct lookup_job {
  const scgi_request *req;
  bool ok;
};

static void *lookup_main(void *p)
{
  struct lookup_job *job = p;

  job->ok = true;
  for (int i = 0; i < 3; i++)
    job->ok = job->ok && lookups_agree(job->req);
  return NULL;
}

static int stress_handler(scgi_request *req, void *arg)
{
  struct lookup_job jobs[LOOKUP_THREADS];
  pthread_t tids[LOOKUP_THREADS];
  bool ok = lookups_agree(req);
  uint64_t sum = FNV_START;
  char buf[3000];
  size_t total = 0, want = (size_t)scgi_request_content_length(req);
  ssize_t n;

  (void)arg;
  for (int i = 0; i < LOOKUP_THREADS; i++) {
    jobs[i].req = req;
    jobs[i].ok = false;
    if (pthread_create(&tids[i], NULL, lookup_main, &jobs[i]) != 0)
      jobs[i].req = NULL;
  }
  ok = ok && lookups_agree(req);
  for (int i = 0; i < LOOKUP_THREADS; i++) {
    if (jobs[i].req == NULL)
      continue; /* could not start: the check is done by this thread */
    pthread_join(tids[i], NULL);
    ok = ok && jobs[i].ok;
  }

  /* Odd read sizes, to cross the early-body boundary anywhere. */
  while ((n = scgi_read(req, buf, 1 + (total * 7919) % sizeof buf)) > 0) {
    sum = fnv1a(sum, buf, (size_t)n);
    total += (size_t)n;
  }
  if (n < 0 || total != want || scgi_request_body_left(req) != 0)
    return -1;
  return scgi_printf(req,
                     "id=%s len=%zu sum=%016" PRIx64
                     " vars=%zu cookie=%s lookups=%s",
                     scgi_request_get(req, "X_ID"), total, sum,
                     scgi_request_count(req),
                     scgi_request_get(req, "HTTP_COOKIE"),
                     ok ? "ok" : "BAD");
}

/* ---- scgi_serve() with 8 threads --------------------------------------------------- */

struct serving {
  scgi_server *srv;
  int rc;
};

static void *serve_main(void *p)
{
  struct serving *s = p;

  s->rc = scgi_serve(s->srv, SERVE_THREADS, stress_handler, NULL);
  return NULL;
}

static void *stop_main(void *p)
{
  scgi_server_stop(p);
  return NULL;
}

static scgi_server *unix_server(void)
{
  char addr[128];
  scgi_server *srv = scgi_server_new();

  scgi_server_set_log(srv, count_log, NULL);
  scgi_server_set(srv, SCGI_OPT_READ_TIMEOUT_MS, IO_TIMEOUT_MS);
  snprintf(addr, sizeof addr, "unix:%s", sock_path);
  TAP_EQ(scgi_server_listen(srv, addr), 0, "listening on the Unix socket");
  return srv;
}

static void test_serve(void)
{
  struct serving s = { .rc = 1 };
  pthread_t serve_tid, stop_tid;
  struct timespec t0, t1;
  int ok;

  s.srv = unix_server();
  clock_gettime(CLOCK_MONOTONIC, &t0);
  pthread_create(&serve_tid, NULL, serve_main, &s);
  ok = run_clients(CLIENTS, REQUESTS_PER_CLIENT / slowdown);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  TAP_EQ(ok, CLIENTS * (REQUESTS_PER_CLIENT / slowdown),
         "every request answered correctly (8 serving threads, 8 clients)");
  tap_diag("%d requests in %.2f s", ok,
           (double)(t1.tv_sec - t0.tv_sec) +
               (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
  pthread_create(&stop_tid, NULL, stop_main, s.srv);
  pthread_join(stop_tid, NULL);
  pthread_join(serve_tid, NULL);
  TAP_EQ(s.rc, 0, "scgi_serve returns 0 after a stop from another thread");
  TAP_EQ(atomic_load(&log_lines), 0, "nothing logged");
  scgi_server_free(s.srv);
}

/* ---- scgi_accept() from several threads directly ------------------------------------ */

struct acceptor {
  pthread_t tid;
  scgi_server *srv;
  int served;
  int last_rc;
};

static void *acceptor_main(void *p)
{
  struct acceptor *a = p;
  scgi_request *req;
  int rc;

  while ((rc = scgi_accept(a->srv, &req)) == 0) {
    if (stress_handler(req, NULL) < 0)
      scgi_fail(req);
    scgi_request_free(req);
    a->served++;
  }
  a->last_rc = rc;
  return NULL;
}

static void test_accept_threads(void)
{
  struct acceptor as[ACCEPT_THREADS];
  scgi_server *srv = unix_server();
  int ok, served = 0;
  bool all_stopped = true;

  for (int i = 0; i < ACCEPT_THREADS; i++) {
    as[i].srv = srv;
    as[i].served = 0;
    pthread_create(&as[i].tid, NULL, acceptor_main, &as[i]);
  }
  ok = run_clients(ACCEPT_CLIENTS, ACCEPT_REQUESTS / slowdown);
  TAP_EQ(ok, ACCEPT_CLIENTS * (ACCEPT_REQUESTS / slowdown),
         "every request answered (4 threads in scgi_accept at once)");
  scgi_server_stop(srv);
  for (int i = 0; i < ACCEPT_THREADS; i++) {
    pthread_join(as[i].tid, NULL);
    served += as[i].served;
    all_stopped = all_stopped && as[i].last_rc == SCGI_ESTOPPED;
  }
  TAP_EQ(served, ACCEPT_CLIENTS * (ACCEPT_REQUESTS / slowdown),
         "each connection accepted exactly once");
  TAP_OK(all_stopped, "every scgi_accept returned SCGI_ESTOPPED");
  TAP_EQ(atomic_load(&log_lines), 0, "nothing logged");
  scgi_server_free(srv);
}

int main(void)
{
  char dir[] = "/tmp/test_stress.XXXXXX";
  const char *preload = getenv("LD_PRELOAD");

  signal(SIGPIPE, SIG_IGN);
  alarm(120); /* a hang fails the test instead of blocking make check */
  if (mkdtemp(dir) == NULL) {
    perror("mkdtemp");
    return 2;
  }
  snprintf(sock_path, sizeof sock_path, "%s/stress.sock", dir);
  if (preload != NULL && strstr(preload, "valgrind") != NULL) {
    slowdown = 5;
    tap_diag("valgrind: 1/%u of the requests", slowdown);
  }
  test_serve();
  test_accept_threads();
  TAP_OK(access(sock_path, F_OK) < 0, "socket file removed");
  rmdir(dir);
  return tap_done();
}
