/*
 * parser_bench.c - how fast scgi_parse() is, against the practical ceiling.
 *
 * Copyright (C) 2026 The libscgi authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Usage: bench/parser_bench [CAPTURES_DIR]
 *
 * The ceiling is one pass over the same header block that finds every NUL
 * and records its offset, which is the least work any SCGI parser must do
 * (see bench/README.md). It is timed two ways, 16-byte SSE2 compares and
 * repeated memchr(), and the faster one counts.
 */
#include <scgi.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

/* Each figure is the best of RUNS short runs: a run that another process
 * interrupts only gets slower, so the minimum is the undisturbed speed. */
#define RUNS 60
#define RUN_NS (1 * 1000000.0) /* 1 ms per run */
#define MAX_NULS 4096

/* Keeps results alive so that the compiler cannot drop the timed work. */
static volatile uint64_t sink;

/* Tells the compiler that memory may have changed, so that nothing is
 * hoisted out of a timing loop. */
#define CLOBBER(ptr) __asm__ volatile("" : : "r"(ptr) : "memory")

struct request {
  const char *label;
  char *bytes;
  size_t len;
  size_t block_start; /* first header block byte */
  size_t block_end;   /* the ',' */
};

typedef uint64_t (*bench_fn)(const struct request *rq, void *arg);

static double now_ns(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e9 + ts.tv_nsec;
}

/* One figure to measure: a function, its argument, and the best time. */
struct job {
  bench_fn fn;
  void *arg;
  unsigned long batch; /* calls per run, so that a run lasts about RUN_NS */
  double best;         /* ns per call */
};

static double run_batch(struct job *job, const struct request *rq)
{
  double t0 = now_ns();
  for (unsigned long i = 0; i < job->batch; i++)
    sink += job->fn(rq, job->arg);
  return now_ns() - t0;
}

static void size_batch(struct job *job, const struct request *rq)
{
  job->batch = 1;
  while (run_batch(job, rq) < RUN_NS / 8)
    job->batch *= 2;
  job->batch *= 8;
  job->best = 1e30;
}

/* Measures several jobs in turns, so that a slow period of the machine
 * affects all of them alike; keeps each one's best ns per call. */
static void measure(struct job *jobs, int n, const struct request *rq)
{
  for (int j = 0; j < n; j++)
    size_batch(&jobs[j], rq);
  for (int run = 0; run < RUNS; run++)
    for (int j = 0; j < n; j++) {
      double ns = run_batch(&jobs[j], rq) / (double)jobs[j].batch;
      if (ns < jobs[j].best)
        jobs[j].best = ns;
    }
}

/* ---------------------------------------------------------------- inputs */

static char *read_file(const char *path, size_t *len)
{
  FILE *f = fopen(path, "rb");
  char *buf = NULL;
  long size;

  if (f == NULL)
    return NULL;
  if (fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) > 0 &&
      fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)size)) != NULL &&
      fread(buf, 1, (size_t)size, f) != (size_t)size) {
    free(buf);
    buf = NULL;
  }
  if (buf != NULL)
    *len = (size_t)size;
  fclose(f);
  return buf;
}

static void add_var(char *block, size_t *len, const char *name,
                    const char *value)
{
  size_t n = strlen(name) + 1, v = strlen(value) + 1;
  memcpy(block + *len, name, n);
  memcpy(block + *len + n, value, v);
  *len += n + v;
}

/* A POST as nginx would send it for a browser form: 30 variables. */
static char *make_post(size_t *len)
{
  static const char *const vars[][2] = {
      {"CONTENT_LENGTH", "27"},
      {"REQUEST_METHOD", "POST"},
      {"REQUEST_URI", "/app/form/submit?lang=en"},
      {"QUERY_STRING", "lang=en"},
      {"CONTENT_TYPE", "application/x-www-form-urlencoded"},
      {"DOCUMENT_URI", "/app/form/submit"},
      {"DOCUMENT_ROOT", "/srv/www"},
      {"SCGI", "1"},
      {"SERVER_PROTOCOL", "HTTP/1.1"},
      {"REQUEST_SCHEME", "https"},
      {"HTTPS", "on"},
      {"REMOTE_ADDR", "203.0.113.77"},
      {"REMOTE_PORT", "51234"},
      {"SERVER_PORT", "443"},
      {"SERVER_NAME", "www.example.org"},
      {"HTTP_HOST", "www.example.org"},
      {"HTTP_USER_AGENT", "Mozilla/5.0 (X11; Linux x86_64) Chrome/126.0"},
      {"HTTP_ACCEPT", "text/html,application/xhtml+xml,*/*;q=0.8"},
      {"HTTP_ACCEPT_LANGUAGE", "en-US,en;q=0.9"},
      {"HTTP_ACCEPT_ENCODING", "gzip, deflate, br"},
      {"HTTP_CONTENT_TYPE", "application/x-www-form-urlencoded"},
      {"HTTP_CONTENT_LENGTH", "27"},
      {"HTTP_ORIGIN", "https://www.example.org"},
      {"HTTP_REFERER", "https://www.example.org/app/form"},
      {"HTTP_COOKIE", "session=7f3a9c0e2b; theme=dark"},
      {"HTTP_COOKIE", "consent=yes"},
      {"HTTP_CACHE_CONTROL", "max-age=0"},
      {"HTTP_UPGRADE_INSECURE_REQUESTS", "1"},
      {"HTTP_SEC_FETCH_MODE", "navigate"},
      {"HTTP_X_REQUEST_ID", "a3f1c2d4e5b60718"},
  };
  static const char body[] = "name=Ada+Lovelace&year=1843";
  char block[4096], *req;
  size_t blen = 0, head;

  for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
    add_var(block, &blen, vars[i][0], vars[i][1]);
  req = malloc(blen + sizeof body + 32);
  if (req == NULL)
    return NULL;
  head = (size_t)snprintf(req, 32, "%zu:", blen);
  memcpy(req + head, block, blen);
  req[head + blen] = ',';
  memcpy(req + head + blen + 1, body, sizeof body - 1);
  *len = head + blen + 1 + sizeof body - 1;
  return req;
}

/* Finds the header block with the parser itself, and checks that the
 * request is valid, so that the timings are of a successful parse. */
static int locate_block(struct request *rq)
{
  scgi_parser *p = scgi_parser_new();
  long r = p != NULL ? scgi_parse(p, rq->bytes, rq->len) : SCGI_ENOMEM;
  scgi_parser_free(p);
  if (r <= 0) {
    fprintf(stderr, "parser_bench: %s: %s\n", rq->label,
            r == 0 ? "incomplete" : scgi_strerror((int)r));
    return -1;
  }
  rq->block_start =
      (size_t)((const char *)memchr(rq->bytes, ':', rq->len) - rq->bytes) + 1;
  rq->block_end = (size_t)r - 1;
  return 0;
}

/* ---------------------------------------------------------------- timed work */

static uint64_t run_parse(const struct request *rq, void *arg)
{
  scgi_parser *p = arg;
  CLOBBER(rq->bytes);
  scgi_parser_reset(p);
  return (uint64_t)scgi_parse(p, rq->bytes, rq->len);
}

/* The ceiling, memchr flavour: one call per NUL. */
static uint64_t run_memchr(const struct request *rq, void *arg)
{
  uint32_t *offs = arg;
  const char *s = rq->bytes + rq->block_start, *end = rq->bytes + rq->block_end;
  size_t n = 0;
  const char *q;

  CLOBBER(rq->bytes);
  while (s < end && (q = memchr(s, 0, (size_t)(end - s))) != NULL) {
    offs[n++ & (MAX_NULS - 1)] = (uint32_t)(q - rq->bytes);
    s = q + 1;
  }
  CLOBBER(offs);
  return n;
}

#ifdef __SSE2__
static unsigned nul_mask16(const char *s)
{
  __m128i v = _mm_loadu_si128((const __m128i *)(const void *)s);
  return (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_setzero_si128()));
}

/* The ceiling, SSE2 flavour: 16-byte compare + movemask, then one step per
 * set bit. The last partial chunk is read as the 16 bytes ending at the
 * block end, shifted, as the parser does. */
static uint64_t run_sse2(const struct request *rq, void *arg)
{
  uint32_t *offs = arg;
  const char *buf = rq->bytes;
  size_t at = rq->block_start, end = rq->block_end, n = 0;

  CLOBBER(rq->bytes);
  while (at < end) {
    size_t step = end - at < 16 ? end - at : 16;
    unsigned mask = step == 16 ? nul_mask16(buf + at)
                               : nul_mask16(buf + end - 16) >> (16 - step);
    for (; mask != 0; mask &= mask - 1)
      offs[n++ & (MAX_NULS - 1)] = (uint32_t)(at + (unsigned)__builtin_ctz(mask));
    at += step;
  }
  CLOBBER(offs);
  return n;
}
#endif

struct lookup {
  scgi_parser *p;
  const char *name;
};

static uint64_t run_get(const struct request *rq, void *arg)
{
  struct lookup *lk = arg;
  const char *name = lk->name;
  (void)rq;
  CLOBBER(name);
  return (uint64_t)(uintptr_t)scgi_parser_get(lk->p, name);
}

/* ---------------------------------------------------------------- report */

static int bench_request(struct request *rq, scgi_parser *p, uint32_t *offs)
{
  struct job jobs[3] = {{run_parse, p, 0, 0}, {run_memchr, offs, 0, 0},
#ifdef __SSE2__
                        {run_sse2, offs, 0, 0}
#endif
  };
  int n = (int)(sizeof jobs / sizeof jobs[0]);
  double sse, ceiling;

  if (locate_block(rq) != 0)
    return -1;
#ifndef __SSE2__
  n = 2;
#endif
  measure(jobs, n, rq);
  sse = n == 3 ? jobs[2].best : 1e30;
  ceiling = jobs[1].best < sse ? jobs[1].best : sse;
  scgi_parser_reset(p);
  scgi_parse(p, rq->bytes, rq->len);
  printf("| %s | %zu | %zu | %.1f | %.1f | %.1f | %.2f |\n", rq->label,
         rq->len, scgi_parser_count(p), jobs[0].best, sse, jobs[1].best,
         ceiling / jobs[0].best);
  return 0;
}

static void bench_lookups(const struct request *rq, scgi_parser *p)
{
  static const char *const what[4] = {"first", "middle", "last", "absent"};
  struct lookup lks[4];
  struct job jobs[4];
  size_t count;

  scgi_parser_reset(p);
  scgi_parse(p, rq->bytes, rq->len);
  count = scgi_parser_count(p);
  scgi_parser_var(p, 0, &lks[0].name, NULL, NULL);
  scgi_parser_var(p, count / 2, &lks[1].name, NULL, NULL);
  scgi_parser_var(p, count - 1, &lks[2].name, NULL, NULL);
  lks[3].name = "REMOTE_USER"; /* absent; a length that many names share */
  for (int i = 0; i < 4; i++) {
    lks[i].p = p;
    jobs[i] = (struct job){run_get, &lks[i], 0, 0};
  }
  measure(jobs, 4, rq);
  for (int i = 0; i < 4; i++)
    printf("| %s | %s (%s) | %.1f |\n", rq->label, what[i], lks[i].name,
           jobs[i].best);
}

static char *capture_path(int argc, char **argv)
{
  const char *top = getenv("top_srcdir");
  const char *dir = argc > 1 ? argv[1] : NULL;
  static char path[4096];

  if (dir == NULL)
    dir = top != NULL ? NULL : "tests/captures";
  if (dir != NULL)
    snprintf(path, sizeof path, "%s/nginx-get.bin", dir);
  else
    snprintf(path, sizeof path, "%s/tests/captures/nginx-get.bin", top);
  return path;
}

int main(int argc, char **argv)
{
  static uint32_t offs[MAX_NULS];
  const char *path = capture_path(argc, argv);
  struct request get = {"nginx GET", NULL, 0, 0, 0};
  struct request post = {"POST, 30 vars", NULL, 0, 0, 0};
  scgi_parser *p = scgi_parser_new();
  int rc = 0;

  get.bytes = read_file(path, &get.len);
  post.bytes = make_post(&post.len);
  if (get.bytes == NULL || post.bytes == NULL || p == NULL) {
    fprintf(stderr, "parser_bench: %s: %s\n", path, strerror(errno));
    return 1;
  }
  printf("| request | bytes | vars | parser ns | SSE2 NUL pass ns "
         "| memchr NUL pass ns | ratio (ceiling/parser) |\n");
  printf("|---|---:|---:|---:|---:|---:|---:|\n");
  if (bench_request(&get, p, offs) != 0 || bench_request(&post, p, offs) != 0)
    rc = 1;
  printf("\n| request | lookup | ns |\n|---|---|---:|\n");
  bench_lookups(&get, p);
  bench_lookups(&post, p);
  scgi_parser_free(p);
  free(get.bytes);
  free(post.bytes);
  return rc;
}
