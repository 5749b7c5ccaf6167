/*
 * test_multipart.c - the streaming multipart/form-data parser and
 * scgi_filename_safe().
 *
 * Copyright (C) 2026 The libscgi authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Every body is fed whole, split in two at every offset, one byte at a
 * time and in random pieces; each piece is copied so that it ends right
 * before a PROT_NONE page, so that reading past it crashes at once. All
 * ways must give the same result and the same events, recorded as a log:
 * "<name|filename|content type>" for a part's start, its bytes, "</>\n"
 * for its end. Content handed over from outside the fed piece (bytes held
 * back at the end of a feed) is measured: never when fed whole, and
 * shorter than the delimiter otherwise.
 *
 * The captures are real requests (tests/captures/README.md). The memory
 * test runs first, while the process's peak RSS is still that of the test
 * itself, so that any growth shows.
 */
#include "config.h"
#include "../src/internal.h"
#include "header_wait.h"
#include "tap.h"

#include <pthread.h>
#include <stdbool.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* ---------------------------------------------------------------- helpers */

static void *xmalloc(size_t size)
{
  void *p = malloc(size != 0 ? size : 1);
  if (p == NULL) {
    perror("malloc");
    exit(99);
  }
  return p;
}

/* A growable string of bytes (NULs allowed), always NUL-terminated. */
struct bytes {
  char *data;
  size_t len, cap;
};

static void bytes_add(struct bytes *b, const void *src, size_t n)
{
  if (b->len + n + 1 > b->cap) {
    char *more;
    b->cap = (b->len + n + 1) * 2;
    more = realloc(b->data, b->cap);
    if (more == NULL)
      exit(99);
    b->data = more;
  }
  if (n != 0)
    memcpy(b->data + b->len, src, n);
  b->len += n;
  b->data[b->len] = '\0';
}

static void bytes_str(struct bytes *b, const char *s)
{
  bytes_add(b, s, strlen(s));
}

static void bytes_free(struct bytes *b)
{
  free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
}

static bool bytes_equal(const struct bytes *a, const struct bytes *b)
{
  return a->len == b->len && (a->len == 0 || !memcmp(a->data, b->data, a->len));
}

/* A message for a TAP line, made printable; one per macro call. */
static const char *msg(const char *fmt, ...) SCGI_PRINTF(1, 2);
static const char *msg(const char *fmt, ...)
{
  static char buf[512];
  va_list ap;

  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  /* Control characters of the inputs would break the TAP lines. */
  for (char *p = buf; *p != '\0'; p++)
    if ((unsigned char)*p < 0x20 || *p == 0x7f)
      *p = '?';
  return buf;
}

static uint64_t splitmix(uint64_t *s)
{
  uint64_t z = (*s += 0x9e3779b97f4a7c15u);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
  return z ^ (z >> 31);
}

static uint32_t crc_table[256];

static void crc_init(void)
{
  for (uint32_t i = 0; i < 256; i++) {
    uint32_t c = i;
    for (int k = 0; k < 8; k++)
      c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
    crc_table[i] = c;
  }
}

/* CRC-32 (zlib's), continued from `crc` (0 to start). */
static uint32_t crc32_add(uint32_t crc, const void *data, size_t len)
{
  const unsigned char *p = data;

  crc = ~crc;
  while (len--)
    crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
  return ~crc;
}

static double now_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static bool under_valgrind(void)
{
  const char *preload = getenv("LD_PRELOAD");
  return preload != NULL && strstr(preload, "valgrind") != NULL;
}

static long max_rss_kib(void)
{
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

/* ------------------------------------------------------------ guard pages */

/* Pages holding one piece so that it ends right before a PROT_NONE page. */
struct guard {
  char *map;
  size_t size; /* readable part, a multiple of the page size */
  size_t page;
};

static void guard_open(struct guard *g, size_t len)
{
  g->page = (size_t)sysconf(_SC_PAGESIZE);
  g->size = (len + g->page - 1) / g->page * g->page + g->page;
  g->map = mmap(NULL, g->size + g->page, PROT_READ | PROT_WRITE,
                MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (g->map == MAP_FAILED ||
      mprotect(g->map + g->size, g->page, PROT_NONE) != 0) {
    perror("mmap");
    exit(99);
  }
}

static char *guard_put(struct guard *g, const void *src, size_t n)
{
  char *dst = g->map + g->size - n;
  if (n != 0)
    memcpy(dst, src, n);
  return dst;
}

static void guard_close(struct guard *g)
{
  munmap(g->map, g->size + g->page);
}

/* -------------------------------------------------------------- recorder */

#define MAX_REC_PARTS 16

struct part_rec {
  char *name, *filename, *ctype, *disposition;
  struct bytes data;
};

/* Records the events of one parse, and what looks wrong about them. */
struct rec {
  struct bytes log;
  struct part_rec parts[MAX_REC_PARTS];
  size_t nparts;      /* parts begun */
  size_t events;
  size_t outside;     /* DATA events not pointing into the fed piece */
  size_t held_max;    /* the longest of those */
  int order_errors;   /* events out of order or with wrong arguments */
  bool in_part;
  const char *feed_lo, *feed_hi; /* the piece being fed */
  size_t abort_at;    /* event number whose callback returns abort_rc */
  int abort_rc;
};

static char *dup_or_null(const char *s)
{
  return s != NULL ? strdup(s) : NULL;
}

static void rec_begin(struct rec *r, const scgi_part *part)
{
  const char *name = scgi_part_name(part), *file = scgi_part_filename(part);
  const char *ct = scgi_part_content_type(part);
  char head[600];

  if (r->in_part || name == NULL)
    r->order_errors++;
  r->in_part = true;
  snprintf(head, sizeof head, "<%s|%s|%s>", name ? name : "(NULL!)",
           file ? file : "(null)", ct ? ct : "(null)");
  bytes_str(&r->log, head);
  if (r->nparts < MAX_REC_PARTS) {
    struct part_rec *p = &r->parts[r->nparts];
    p->name = dup_or_null(name);
    p->filename = dup_or_null(file);
    p->ctype = dup_or_null(ct);
    p->disposition =
        dup_or_null(scgi_part_header(part, "content-DISPOSITION"));
  }
  r->nparts++;
}

static void rec_data(struct rec *r, const scgi_part *part, const char *data,
                     size_t len)
{
  struct part_rec *p =
      r->nparts <= MAX_REC_PARTS ? &r->parts[r->nparts - 1] : NULL;

  if (!r->in_part || data == NULL || len == 0) {
    r->order_errors++;
    return;
  }
  /* The part's strings must stay valid until its END. */
  if (p != NULL && strcmp(p->name, scgi_part_name(part)) != 0)
    r->order_errors++;
  if (data < r->feed_lo || data + len > r->feed_hi) {
    r->outside++;
    if (len > r->held_max)
      r->held_max = len;
  }
  bytes_add(&r->log, data, len);
  if (p != NULL)
    bytes_add(&p->data, data, len);
}

static int on_event(void *arg, scgi_part_event event, const scgi_part *part,
                    const char *data, size_t len)
{
  struct rec *r = arg;

  if (++r->events == r->abort_at)
    return r->abort_rc;
  if (part == NULL) {
    r->order_errors++;
    return 0;
  }
  if (event == SCGI_PART_DATA) {
    rec_data(r, part, data, len);
    return 0;
  }
  if (data != NULL || len != 0)
    r->order_errors++;
  if (event == SCGI_PART_BEGIN) {
    rec_begin(r, part);
  } else if (event == SCGI_PART_END && r->in_part) {
    r->in_part = false;
    bytes_str(&r->log, "</>\n");
  } else {
    r->order_errors++;
  }
  return 0;
}

static void rec_free(struct rec *r)
{
  for (size_t i = 0; i < r->nparts && i < MAX_REC_PARTS; i++) {
    free(r->parts[i].name);
    free(r->parts[i].filename);
    free(r->parts[i].ctype);
    free(r->parts[i].disposition);
    bytes_free(&r->parts[i].data);
  }
  bytes_free(&r->log);
  memset(r, 0, sizeof *r);
}

/* ------------------------------------------------------------- feeding */

enum split_mode { WHOLE, SPLIT, BYTES, RANDOM };

struct split {
  enum split_mode mode;
  size_t at;    /* SPLIT: the first piece's length */
  uint64_t rng; /* RANDOM: state */
  size_t max;   /* RANDOM: longest piece */
};

static const struct split whole = {WHOLE, 0, 0, 0};

static size_t piece_len(struct split *s, size_t off, size_t left)
{
  size_t n = left;

  if (s->mode == SPLIT && off < s->at)
    n = s->at - off;
  else if (s->mode == BYTES)
    n = 1;
  else if (s->mode == RANDOM)
    n = 1 + (size_t)(splitmix(&s->rng) % s->max);
  return n < left ? n : left;
}

/* Limits to set before feeding; 0 keeps the default. */
struct limits {
  size_t max_header_bytes;
  size_t max_parts;
};

static scgi_multipart *open_parser(const char *ct, const struct limits *lim,
                                   struct rec *r)
{
  scgi_multipart *mp = NULL;
  int rc = scgi_multipart_new(ct, on_event, r, &mp);

  if (rc != 0) {
    tap_diag("scgi_multipart_new(%s): %s", ct, scgi_strerror(rc));
    exit(99);
  }
  if (lim != NULL && lim->max_header_bytes != 0)
    scgi_multipart_set(mp, SCGI_OPT_MAX_PART_HEADER_BYTES,
                       lim->max_header_bytes);
  if (lim != NULL && lim->max_parts != 0)
    scgi_multipart_set(mp, SCGI_OPT_MAX_PARTS, lim->max_parts);
  return mp;
}

/* After an error, the parser must keep returning it and call nothing. */
static void check_sticky(scgi_multipart *mp, struct rec *r, int rc)
{
  size_t events = r->events;

  if (scgi_multipart_feed(mp, "\r\n--x", 5) != rc ||
      scgi_multipart_end(mp) != rc || r->events != events)
    r->order_errors++;
}

/* Parses `body` cut as `sp` says; returns the first error of a feed, or
 * the result of scgi_multipart_end(). */
static int run(const char *ct, const char *body, size_t len, struct split sp,
               const struct limits *lim, struct rec *r)
{
  scgi_multipart *mp = open_parser(ct, lim, r);
  struct guard g;
  size_t n;
  int rc = 0;

  guard_open(&g, sp.mode == BYTES ? 1 : len);
  for (size_t off = 0; off < len && rc == 0; off += n) {
    n = piece_len(&sp, off, len - off);
    r->feed_lo = guard_put(&g, body + off, n);
    r->feed_hi = r->feed_lo + n;
    rc = scgi_multipart_feed(mp, r->feed_lo, n);
  }
  r->feed_lo = r->feed_hi = NULL;
  if (rc == 0)
    rc = scgi_multipart_end(mp);
  if (rc == 0 && r->in_part)
    r->order_errors++;
  if (rc != 0)
    check_sticky(mp, r, rc);
  guard_close(&g);
  scgi_multipart_free(mp);
  return rc;
}

/* The delimiter length for a test's content type (no escapes in its
 * boundary). */
static size_t delim_len(const char *ct)
{
  const char *b = strstr(ct, "boundary=");

  if (b == NULL)
    return 74;
  return b[9] == '"' ? 4 + strcspn(b + 10, "\"") : 4 + strcspn(b + 9, "; ");
}

/* Runs one way of cutting the body; compares with the whole-body run.
 * Returns true when everything agrees. */
static bool same_as_whole(const char *ct, const char *body, size_t len,
                          struct split sp, const struct limits *lim,
                          const struct rec *w, int want_rc)
{
  struct rec r = {0};
  int rc = run(ct, body, len, sp, lim, &r);
  bool ok = rc == want_rc && bytes_equal(&r.log, &w->log) &&
            r.order_errors == 0 && r.held_max < delim_len(ct);

  if (!ok)
    tap_diag("mode %d at %zu: rc %d (want %d), log %s, order errors %d, "
             "held %zu", (int)sp.mode, sp.at, rc, want_rc,
             bytes_equal(&r.log, &w->log) ? "same" : "DIFFERENT",
             r.order_errors, r.held_max);
  rec_free(&r);
  return ok;
}

/* Every cut but the whole one: at each offset, bytes, random pieces. */
static size_t count_disagreements(const char *ct, const char *body,
                                  size_t len, const struct limits *lim,
                                  const struct rec *w, int want_rc)
{
  size_t bad = 0;
  struct split sp = {SPLIT, 0, 0, 0};

  for (sp.at = 0; sp.at <= len; sp.at++)
    bad += !same_as_whole(ct, body, len, sp, lim, w, want_rc);
  sp.mode = BYTES;
  bad += !same_as_whole(ct, body, len, sp, lim, w, want_rc);
  sp.mode = RANDOM;
  for (uint64_t seed = 1; seed <= 20; seed++) {
    sp.rng = seed;
    sp.max = 1 + seed * seed;
    bad += !same_as_whole(ct, body, len, sp, lim, w, want_rc);
  }
  return bad;
}

/* Checks a body every way. `want_log` may be NULL (not compared). The
 * whole-body record is left in *w for more checks (rec_free() it). */
static void check_body_rec(const char *what, const char *ct, const char *body,
                           size_t len, const struct limits *lim, int want_rc,
                           const char *want_log, struct rec *w)
{
  int rc;

  memset(w, 0, sizeof *w);
  rc = run(ct, body, len, whole, lim, w);
  TAP_EQ(rc, want_rc, msg("%s: result", what));
  if (rc != want_rc)
    tap_diag("got %s", scgi_strerror(rc));
  if (want_log != NULL)
    TAP_STREQ(w->log.data ? w->log.data : "", want_log,
              msg("%s: events", what));
  TAP_EQ(w->order_errors, 0, msg("%s: events in order, sticky error", what));
  TAP_EQ(w->outside, 0, msg("%s: fed whole, all content zero-copy", what));
  TAP_EQ(count_disagreements(ct, body, len, lim, w, want_rc), 0,
         msg("%s: same result and events at every split, byte by byte, "
             "random pieces", what));
}

static void check_body(const char *what, const char *ct, const char *body,
                       size_t len, const struct limits *lim, int want_rc,
                       const char *want_log)
{
  struct rec w;
  check_body_rec(what, ct, body, len, lim, want_rc, want_log, &w);
  rec_free(&w);
}

/* ---------------------------------------------------------- captures */

static const char *srcdir(void)
{
  const char *dir = getenv("top_srcdir");
  return dir != NULL && *dir != '\0' ? dir : ".";
}

static char *read_file(const char *path, size_t *len)
{
  FILE *f = fopen(path, "rb");
  struct bytes b = {0};
  char chunk[8192];
  size_t got;

  if (f == NULL) {
    perror(path);
    exit(99);
  }
  while ((got = fread(chunk, 1, sizeof chunk, f)) > 0)
    bytes_add(&b, chunk, got);
  fclose(f);
  *len = b.len;
  return b.data;
}

/* A whole SCGI request from tests/captures, and where its body starts. */
struct capture {
  char *raw;
  size_t raw_len;
  const char *body;
  size_t body_len;
  char ct[256];
};

static void capture_load(struct capture *c, const char *name)
{
  char path[1024];
  scgi_parser *p = scgi_parser_new();
  long head;

  snprintf(path, sizeof path, "%s/tests/captures/%s", srcdir(), name);
  c->raw = read_file(path, &c->raw_len);
  head = scgi_parse(p, c->raw, c->raw_len);
  if (p == NULL || head <= 0 || !scgi_parser_get(p, "CONTENT_TYPE")) {
    tap_diag("%s: cannot parse the SCGI header", name);
    exit(99);
  }
  snprintf(c->ct, sizeof c->ct, "%s", scgi_parser_get(p, "CONTENT_TYPE"));
  c->body = c->raw + head;
  c->body_len = c->raw_len - (size_t)head;
  if (scgi_parser_content_length(p) != (int64_t)c->body_len)
    exit(99);
  scgi_parser_free(p);
}

static bool is_counting(const struct bytes *b, size_t want)
{
  if (b->len != want)
    return false;
  for (size_t i = 0; i < b->len; i++)
    if ((unsigned char)b->data[i] != i % 256)
      return false;
  return true;
}

static void check_chromium_parts(const struct rec *w)
{
  const struct part_rec *p = w->parts;

  TAP_EQ(w->nparts, 6, "chromium: 6 parts");
  if (w->nparts != 6)
    return;
  TAP_STREQ(p[0].name, "title", "chromium: title");
  TAP_STREQ(p[0].data.data, "h\xc3\xa9llo w\xc3\xb6rld",
            "chromium: title value, raw UTF-8");
  TAP_STREQ(p[0].filename, NULL, "chromium: title is no file");
  TAP_STREQ(p[0].ctype, NULL, "chromium: title has no Content-Type");
  TAP_STREQ(p[1].name, "notes", "chromium: notes");
  TAP_STREQ(p[1].data.data,
            "first line\r\n--boundary-looking--\r\nlast line",
            "chromium: notes keep CRLF and the boundary-looking line");
  TAP_OK(!strcmp(p[2].name, "tags") && !strcmp(p[2].data.data, "a") &&
             !strcmp(p[3].name, "tags") && !strcmp(p[3].data.data, "b"),
         "chromium: tags=a then tags=b");
  TAP_STREQ(p[4].name, "doc", "chromium: doc");
  TAP_STREQ(p[4].filename, "report \"final\".txt",
            "chromium: %22 decoded in the file name");
  TAP_STREQ(p[4].ctype, "text/plain", "chromium: doc is text/plain");
  TAP_EQ(p[4].data.len, 2000, "chromium: doc is 2000 bytes");
  TAP_OK(!strncmp(p[4].data.data, "line 0000: ", 11),
         "chromium: doc starts as sent");
  TAP_STREQ(p[4].disposition,
            "form-data; name=\"doc\"; filename=\"report %22final%22.txt\"",
            "chromium: the raw Content-Disposition stays available");
  TAP_STREQ(p[5].name, "img", "chromium: img");
  TAP_STREQ(p[5].filename, "pic.bin", "chromium: img file name");
  TAP_STREQ(p[5].ctype, "application/octet-stream",
            "chromium: img content type");
  TAP_OK(is_counting(&p[5].data, 5000), "chromium: img is 5000 bytes 0..255");
}

static void check_curl_parts(const struct rec *w, const struct capture *c)
{
  const struct part_rec *p = w->parts;
  const char *f2 = NULL;

  TAP_EQ(w->nparts, 4, "curl: 4 parts");
  if (w->nparts != 4)
    return;
  TAP_OK(!strcmp(p[0].name, "a") && !strcmp(p[0].data.data, "1"), "curl: a=1");
  TAP_OK(!strcmp(p[1].name, "b") && !strcmp(p[1].data.data, "hello world"),
         "curl: b=hello world");
  TAP_STREQ(p[2].filename, "t.txt", "curl: f1 file name");
  TAP_STREQ(p[2].ctype, "text/plain", "curl: f1 content type");
  TAP_STREQ(p[2].data.data, "line1\r\nline2\n", "curl: f1 bytes");
  TAP_STREQ(p[3].filename, "r.bin", "curl: f2 file name");
  TAP_EQ(p[3].data.len, 3000, "curl: f2 is 3000 bytes");
  /* The 3000 bytes are those of the body right after f2's headers. */
  f2 = strstr(c->body, "application/octet-stream\r\n\r\n");
  TAP_OK(f2 != NULL && p[3].data.len == 3000 &&
             !memcmp(f2 + 28, p[3].data.data, 3000),
         "curl: f2 bytes are the body's");
}

/* Aborting at each event: the callback's value comes back, sticky, and
 * no event follows. */
static void check_aborts(const struct capture *c, size_t events)
{
  size_t bad = 0;

  static const enum split_mode modes[] = {WHOLE, BYTES};

  for (size_t k = 1; k <= events; k++) {
    for (size_t m = 0; m < 2; m++) {
      struct split sp = {modes[m], 0, 0, 0};
      struct rec r = {0};
      int rc;
      r.abort_at = k;
      r.abort_rc = -4242;
      rc = run(c->ct, c->body, c->body_len, sp, NULL, &r);
      if (rc != -4242 || r.events != k || r.order_errors != 0) {
        if (bad++ == 0)
          tap_diag("abort at %zu: rc %d, events %zu", k, rc, r.events);
      }
      rec_free(&r);
    }
  }
  TAP_EQ(bad, 0, msg("callback abort at each of the %zu events, whole and "
                     "byte by byte: returned, sticky, nothing after", events));
}

static void test_chromium(void)
{
  struct capture c;
  struct rec w;

  capture_load(&c, "chromium-multipart.bin");
  TAP_STREQ(c.ct,
            "multipart/form-data; "
            "boundary=----WebKitFormBoundaryzE340gnAg6pViqzO",
            "chromium: unquoted boundary");
  check_body_rec("chromium capture", c.ct, c.body, c.body_len, NULL, 0, NULL,
                 &w);
  check_chromium_parts(&w);
  check_aborts(&c, w.events);
  rec_free(&w);
  free(c.raw);
}

static void test_curl(void)
{
  struct capture c;
  struct rec w;

  capture_load(&c, "nginx-curl-multipart.bin");
  check_body_rec("curl capture", c.ct, c.body, c.body_len, NULL, 0, NULL, &w);
  check_curl_parts(&w, &c);
  rec_free(&w);
  free(c.raw);
}

/* ---------------------------------------------------- synthetic bodies */

#define CT "multipart/form-data; boundary=AaB03x"
#define B "--AaB03x"
#define CD(n) "Content-Disposition: form-data; name=\"" n "\"\r\n"
#define PART(n, v) B "\r\n" CD(n) "\r\n" v "\r\n"
#define END B "--\r\n"

struct body_case {
  const char *what;
  const char *body;
  int rc;
  const char *log;
};

static const struct body_case body_cases[] = {
    {"one part", PART("a", "hello") END, 0, "<a|(null)|(null)>hello</>\n"},
    {"two parts", PART("a", "1") PART("b", "2") END, 0,
     "<a|(null)|(null)>1</>\n<b|(null)|(null)>2</>\n"},
    {"empty part: no DATA", PART("e", "") END, 0, "<e|(null)|(null)></>\n"},
    {"part of CRLF only", PART("e", "\r\n") END, 0,
     "<e|(null)|(null)>\r\n</>\n"},
    {"no parts at all", END, 0, ""},
    {"preamble and epilogue ignored",
     "preamble\r\n-- not\r\nx--AaB03x\r\n--AaB03\r\n--AaB03y\r\n" PART("a", "v")
         B "--\r\nepilogue\r\n" B "\r\n" CD("z") "\r\nignored\r\n" B "--",
     0, "<a|(null)|(null)>v</>\n"},
    {"body opening with CRLF", "\r\n" PART("a", "v") END, 0,
     "<a|(null)|(null)>v</>\n"},
    {"preamble starting like a boundary", "--AaB03\r\n" PART("a", "v") END, 0,
     "<a|(null)|(null)>v</>\n"},
    {"final delimiter without CRLF", PART("a", "v") B "--", 0,
     "<a|(null)|(null)>v</>\n"},
    {"transport padding", B " \t \r\n" CD("a") "\r\nv\r\n" B "\t\r\n" CD("b")
         "\r\nw\r\n" B "--",
     0, "<a|(null)|(null)>v</>\n<b|(null)|(null)>w</>\n"},
    {"content starting with the boundary line",
     B "\r\n" CD("a") "\r\n" B "\r\n" END, 0,
     "<a|(null)|(null)>" B "</>\n"},
    {"near-miss delimiters kept as content",
     B "\r\n" CD("a") "\r\n"
       "\r\r\n\r\n-\r\n--\r\n--A\r\n--Aa\r\n--AaB\r\n--AaB0\r\n--AaB03"
       "\r\n--aab03x\r\n--AaB03X\r\n-AaB03x\r\r\n--AaB03"
       "\r\n" B "--",
     0,
     "<a|(null)|(null)>\r\r\n\r\n-\r\n--\r\n--A\r\n--Aa\r\n--AaB\r\n--AaB0"
     "\r\n--AaB03\r\n--aab03x\r\n--AaB03X\r\n-AaB03x\r\r\n--AaB03</>\n"},
    {"content ending in CR, CRLF, CRLF-", PART("a", "x\r") PART("b", "y\r\n")
         PART("c", "z\r\n-") END,
     0,
     "<a|(null)|(null)>x\r</>\n<b|(null)|(null)>y\r\n</>\n"
     "<c|(null)|(null)>z\r\n-</>\n"},
    {"unquoted name and filename",
     B "\r\nContent-Disposition: form-data; name=plain; filename=f.txt\r\n\r\n"
       "v\r\n" END,
     0, "<plain|f.txt|(null)>v</>\n"},
    {"case and whitespace in Content-Disposition",
     B "\r\ncontent-disposition:FORM-DATA ;NAME = \"a\" ; FileName=\"x\"  \r\n"
       "\r\nv\r\n" END,
     0, "<a|x|(null)>v</>\n"},
    {"empty filename: a file field left empty",
     B "\r\nContent-Disposition: form-data; name=\"f\"; filename=\"\"\r\n"
       "Content-Type: application/octet-stream\r\n\r\n\r\n" END,
     0, "<f||application/octet-stream></>\n"},
    {"browser escapes in name and filename",
     B "\r\nContent-Disposition: form-data; name=\"a%22b%0D%0Ac%41%0d%0a%2\"; "
       "filename=\"%22%\"\r\n\r\nv\r\n" END,
     0, "<a\"b\r\nc%41\r\n%2|\"%|(null)>v</>\n"},
    {"old-style \\\" in a filename, Windows path kept",
     B "\r\nContent-Disposition: form-data; name=\"f\"; "
       "filename=\"C:\\dir\\a\\\"b.txt\"\r\n\r\nv\r\n" END,
     0, "<f|C:\\dir\\a\"b.txt|(null)>v</>\n"},
    {"filename* ignored",
     B "\r\nContent-Disposition: form-data; name=\"f\"; "
       "filename*=UTF-8''%C3%A9.txt\r\n\r\nv\r\n" END,
     0, "<f|(null)|(null)>v</>\n"},
    {"other parameters ignored",
     B "\r\nContent-Disposition: form-data; x=\"1;2\"; name=\"a\"; y=z;\r\n"
       "\r\nv\r\n" END,
     0, "<a|(null)|(null)>v</>\n"},
    /* Errors. */
    {"missing final boundary (CRLF held back, no END)", PART("a", "v"),
     SCGI_EPARTSEND, "<a|(null)|(null)>v"},
    {"body cut inside content", B "\r\n" CD("a") "\r\nabc\r\n--AaB",
     SCGI_EPARTSEND, "<a|(null)|(null)>abc"},
    {"body cut inside headers", B "\r\n" CD("a"), SCGI_EPARTSEND, ""},
    {"body cut after a boundary", B, SCGI_EPARTSEND, ""},
    {"body cut after boundary and -", B "-", SCGI_EPARTSEND, ""},
    {"only a preamble", "hello\r\n", SCGI_EPARTSEND, ""},
    {"empty body", "", SCGI_EPARTSEND, ""},
    {"boundary followed by garbage", B "x\r\n" CD("a") "\r\nv\r\n" END,
     SCGI_EMULTIPART, ""},
    {"longer boundary inside content", PART("a", "v") B "0\r\n",
     SCGI_EMULTIPART, "<a|(null)|(null)>v</>\n"},
    {"padding then dashes", B " --\r\n", SCGI_EMULTIPART, ""},
    {"boundary then bare LF", B "\n" CD("a"), SCGI_EMULTIPART, ""},
    {"boundary then CR x", B "\rx", SCGI_EMULTIPART, ""},
    {"boundary then -x", B "-x", SCGI_EMULTIPART, ""},
    {"header folding", B "\r\nContent-Disposition: form-data;\r\n name=\"a\""
                         "\r\n\r\nv\r\n" END,
     SCGI_EMULTIPART, ""},
    {"header folding with a tab", B "\r\n" CD("a") "\tx\r\n\r\nv\r\n" END,
     SCGI_EMULTIPART, ""},
    {"header without colon", B "\r\n" CD("a") "X-Foo bar\r\n\r\nv\r\n" END,
     SCGI_EMULTIPART, ""},
    {"header with empty name", B "\r\n" CD("a") ": bar\r\n\r\nv\r\n" END,
     SCGI_EMULTIPART, ""},
    {"space before colon",
     B "\r\nContent-Disposition : form-data; name=a\r\n\r\nv\r\n" END,
     SCGI_EMULTIPART, ""},
    {"header ending in bare LF", B "\r\n" CD("a") "X: y\n\r\nv\r\n" END,
     SCGI_EMULTIPART, ""},
    {"empty line as bare LF", B "\r\n" CD("a") "\nv\r\n" END, SCGI_EMULTIPART,
     ""},
    {"CR inside a header", B "\r\n" CD("a") "X: a\rb\r\n\r\nv\r\n" END,
     SCGI_EMULTIPART, ""},
    {"no headers", B "\r\n\r\nv\r\n" END, SCGI_EMULTIPART, ""},
    {"no Content-Disposition", B "\r\nContent-Type: text/plain\r\n\r\nv\r\n" END,
     SCGI_EMULTIPART, ""},
    {"disposition not form-data",
     B "\r\nContent-Disposition: attachment; name=\"a\"\r\n\r\nv\r\n" END,
     SCGI_EMULTIPART, ""},
    {"disposition form-datax",
     B "\r\nContent-Disposition: form-datax; name=\"a\"\r\n\r\nv\r\n" END,
     SCGI_EMULTIPART, ""},
    {"missing name", B "\r\nContent-Disposition: form-data; filename=\"f\"\r\n"
                       "\r\nv\r\n" END,
     SCGI_EMULTIPART, ""},
    {"empty name", B "\r\nContent-Disposition: form-data; name=\"\"\r\n\r\nv"
                     "\r\n" END,
     SCGI_EMULTIPART, ""},
    {"name twice",
     B "\r\nContent-Disposition: form-data; name=\"a\"; name=\"b\"\r\n\r\nv"
       "\r\n" END,
     SCGI_EMULTIPART, ""},
    {"filename twice",
     B "\r\nContent-Disposition: form-data; name=\"a\"; filename=x; "
       "filename=y\r\n\r\nv\r\n" END,
     SCGI_EMULTIPART, ""},
    {"Content-Disposition twice", B "\r\n" CD("a") CD("b") "\r\nv\r\n" END,
     SCGI_EMULTIPART, ""},
    {"Content-Type twice",
     B "\r\n" CD("a") "Content-Type: a/b\r\ncontent-type: c/d\r\n\r\nv\r\n" END,
     SCGI_EMULTIPART, ""},
    {"parameter without =",
     B "\r\nContent-Disposition: form-data; name\r\n\r\nv\r\n" END,
     SCGI_EMULTIPART, ""},
    {"unterminated quote",
     B "\r\nContent-Disposition: form-data; name=\"a\r\n\r\nv\r\n" END,
     SCGI_EMULTIPART, ""},
    {"garbage after a parameter",
     B "\r\nContent-Disposition: form-data; name=\"a\"x\r\n\r\nv\r\n" END,
     SCGI_EMULTIPART, ""},
    {"error after good parts", PART("a", "1") PART("b", "2") B "\r\nX\r\n",
     SCGI_EMULTIPART, "<a|(null)|(null)>1</>\n<b|(null)|(null)>2</>\n"},
};

static void test_body_cases(void)
{
  for (size_t i = 0; i < sizeof body_cases / sizeof body_cases[0]; i++) {
    const struct body_case *c = &body_cases[i];
    if (c->log == NULL)
      continue;
    check_body(c->what, CT, c->body, strlen(c->body), NULL, c->rc, c->log);
  }
}

/* Bodies made of random pieces of multipart syntax: whatever they give,
 * every way of cutting them must give the same. */
static void random_body(struct bytes *b, uint64_t *rng)
{
  static const char *const tokens[] = {
      "\r\n", "\r", "\n", "-", "--", " ", "\t", ":", ";", "\"", "v", "%22",
      B, "\r\n" B, "\r\n--AaB03", B "--", "\r\n" B "--\r\n",
      CD("a"), "Content-Disposition: form-data; name=", "filename=\"f\"",
      "Content-Type: x/y\r\n", "X: y\r\n", "\r\n\r\n"};
  size_t n = 1 + splitmix(rng) % 40;

  if (splitmix(rng) % 4 != 0)
    bytes_str(b, B "\r\n" CD("a") "\r\n");
  for (size_t i = 0; i < n; i++)
    bytes_str(b, tokens[splitmix(rng) % (sizeof tokens / sizeof *tokens)]);
  if (splitmix(rng) % 2 != 0)
    bytes_str(b, "\r\n" END);
}

static void test_random_bodies(void)
{
  size_t bad = 0, ok = 0;
  uint64_t rng = 2026;

  for (int i = 0; i < 3000; i++) {
    struct bytes b = {0};
    struct rec w = {0};
    struct split sp = {BYTES, 0, 0, 0};
    int rc;
    random_body(&b, &rng);
    rc = run(CT, b.data, b.len, whole, NULL, &w);
    ok += rc == 0;
    bad += w.order_errors != 0 || w.outside != 0;
    bad += !same_as_whole(CT, b.data, b.len, sp, NULL, &w, rc);
    sp.mode = RANDOM;
    for (uint64_t seed = 1; seed <= 4; seed++) {
      sp.rng = rng + seed;
      sp.max = 1 + seed * 7;
      bad += !same_as_whole(CT, b.data, b.len, sp, NULL, &w, rc);
    }
    rec_free(&w);
    bytes_free(&b);
  }
  TAP_EQ(bad, 0, msg("3000 random bodies (%zu valid): same result and "
                     "events however cut", ok));
}

/* The getters on a part with several headers. */
static const char header_body[] =
    B "\r\n"
      "Content-Disposition: form-data; name=\"f\"; filename=\"x.txt\"\r\n"
      "Content-Type:   text/plain; charset=utf-8 \t\r\n"
      "X-Empty:\r\n"
      "X-Spaces:   \t \r\n"
      "X-Twice: first\r\n"
      "X-Twice: second\r\n"
      "\r\nv\r\n" END;

struct header_seen {
  int begun;
  const char *ct, *cd, *empty, *spaces, *twice, *missing, *null_name;
};

static int on_headers(void *arg, scgi_part_event event, const scgi_part *part,
                      const char *data, size_t len)
{
  struct header_seen *s = arg;

  (void)data;
  (void)len;
  if (event != SCGI_PART_BEGIN)
    return 0;
  s->begun++;
  s->ct = scgi_part_header(part, "CONTENT-TYPE");
  s->cd = scgi_part_header(part, "content-disposition");
  s->empty = scgi_part_header(part, "x-empty");
  s->spaces = scgi_part_header(part, "X-SPACES");
  s->twice = scgi_part_header(part, "x-twice");
  s->missing = scgi_part_header(part, "X-Missing");
  s->null_name = scgi_part_header(part, NULL);
  if (scgi_part_content_type(part) != s->ct)
    s->begun = -100;
  return 0;
}

static void test_headers(void)
{
  struct header_seen s = {0};
  scgi_multipart *mp = NULL;

  TAP_EQ(scgi_multipart_new(CT, on_headers, &s, &mp), 0, "headers: new");
  TAP_EQ(scgi_multipart_feed(mp, header_body, sizeof header_body - 1), 0,
         "headers: feed");
  TAP_EQ(scgi_multipart_end(mp), 0, "headers: end");
  TAP_EQ(s.begun, 1, "headers: one part, content type getter = header");
  TAP_STREQ(s.ct, "text/plain; charset=utf-8",
            "headers: lookup ignores case, value trimmed");
  TAP_STREQ(s.cd, "form-data; name=\"f\"; filename=\"x.txt\"",
            "headers: Content-Disposition as sent");
  TAP_STREQ(s.empty, "", "headers: empty value");
  TAP_STREQ(s.spaces, "", "headers: value of blanks only");
  TAP_STREQ(s.twice, "first", "headers: the first of a repeated header");
  TAP_STREQ(s.missing, NULL, "headers: absent header is NULL");
  TAP_STREQ(s.null_name, NULL, "headers: NULL name is NULL");
  scgi_multipart_free(mp);
  check_body("headers, every way", CT, header_body, sizeof header_body - 1,
             NULL, 0, "<f|x.txt|text/plain; charset=utf-8>v</>\n");
}

/* A NUL byte in a header line: refused (names and values are strings). */
static void test_header_nul(void)
{
  static const char body[] = B "\r\n" CD("a") "X: a\0b\r\n\r\nv\r\n" END;

  check_body("NUL in a header", CT, body, sizeof body - 1, NULL,
             SCGI_EMULTIPART, "");
}

/* Builds one part whose header block (lines, CRLFs, empty line) has
 * exactly `header_bytes` bytes. */
static void header_sized_body(struct bytes *b, size_t header_bytes)
{
  static const char fixed[] = CD("a") "X-Pad: \r\n\r\n";
  size_t pad = header_bytes - (sizeof fixed - 1);

  bytes_str(b, B "\r\n" CD("a") "X-Pad: ");
  for (size_t i = 0; i < pad; i++)
    bytes_add(b, "p", 1);
  bytes_str(b, "\r\n\r\nv\r\n" END);
}

static void check_header_limit(size_t limit, size_t header_bytes, int want)
{
  struct limits lim = {limit, 0};
  struct split bytes1 = {BYTES, 0, 0, 0};
  struct bytes b = {0};
  struct rec r = {0};
  const char *what = msg("header block of %zu bytes, limit %zu%s",
                         header_bytes, limit, limit ? "" : " (default)");
  char label[200];

  snprintf(label, sizeof label, "%s", what);
  header_sized_body(&b, header_bytes);
  if (header_bytes < 200) {
    check_body(label, CT, b.data, b.len, &lim, want,
               want == 0 ? "<a|(null)|(null)>v</>\n" : "");
  } else {
    TAP_EQ(run(CT, b.data, b.len, whole, &lim, &r), want, label);
    rec_free(&r);
    TAP_EQ(run(CT, b.data, b.len, bytes1, &lim, &r), want,
           msg("%s, byte by byte", label));
    rec_free(&r);
  }
  bytes_free(&b);
}

static void test_header_limit(void)
{
  scgi_multipart *mp;
  struct rec r = {0};
  char junk[4096];
  int rc = 0;
  size_t fed = 0;

  check_header_limit(0, 16384, 0);
  check_header_limit(0, 16385, SCGI_EPARTHEADER);
  check_header_limit(100, 100, 0);
  check_header_limit(100, 101, SCGI_EPARTHEADER);
  check_header_limit(1 << 20, (1 << 20) - 1, 0);

  /* A line that never ends is refused once past the limit. */
  mp = open_parser(CT, NULL, &r);
  memset(junk, 'x', sizeof junk);
  rc = scgi_multipart_feed(mp, B "\r\nX-Long: ", 18);
  while (rc == 0 && fed < (1u << 24)) {
    rc = scgi_multipart_feed(mp, junk, sizeof junk);
    fed += sizeof junk;
  }
  TAP_EQ(rc, SCGI_EPARTHEADER, "endless header line: EPARTHEADER");
  TAP_OK(fed <= 16384 + sizeof junk, "endless header line: refused after "
                                     "%zu bytes", fed);
  scgi_multipart_free(mp);
  rec_free(&r);
}

static void many_parts(struct bytes *b, size_t n)
{
  char line[128];

  for (size_t i = 0; i < n; i++) {
    snprintf(line, sizeof line, PART("p%zu", "%zu"), i, i);
    bytes_str(b, line);
  }
  bytes_str(b, END);
}

static void test_too_many_parts(void)
{
  struct limits three = {0, 3};
  struct bytes b = {0};
  struct rec r = {0};
  const char *three_log = "<p0|(null)|(null)>0</>\n<p1|(null)|(null)>1</>\n"
                          "<p2|(null)|(null)>2</>\n";

  many_parts(&b, 3);
  check_body("3 parts, limit 3", CT, b.data, b.len, &three, 0, three_log);
  bytes_free(&b);
  many_parts(&b, 4);
  check_body("4 parts, limit 3", CT, b.data, b.len, &three,
             SCGI_ETOOMANYPARTS, three_log);
  bytes_free(&b);
  many_parts(&b, 1000);
  TAP_EQ(run(CT, b.data, b.len, whole, NULL, &r), 0, "1000 parts: default");
  TAP_EQ(r.nparts, 1000, "1000 parts: all delivered");
  rec_free(&r);
  bytes_free(&b);
  many_parts(&b, 1001);
  TAP_EQ(run(CT, b.data, b.len, whole, NULL, &r), SCGI_ETOOMANYPARTS,
         "1001 parts: ETOOMANYPARTS by default");
  TAP_EQ(r.nparts, 1000, "1001 parts: the first 1000 delivered");
  rec_free(&r);
  bytes_free(&b);
}

/* Content made of every prefix of the delimiter followed by each kind of
 * byte that breaks it, with a boundary that holds most bchars. */
static void test_near_misses(void)
{
  static const char ct[] = "multipart/form-data; boundary=\"a'()+_,-./:=? z\"";
  static const char bnd[] = "a'()+_,-./:=? z";
  static const char breakers[] = "\r\n-aZ";
  char delim[64];
  struct bytes content = {0}, body = {0}, want = {0};
  size_t dlen = (size_t)snprintf(delim, sizeof delim, "\r\n--%s", bnd);

  for (size_t k = 1; k < dlen; k++)
    for (const char *c = breakers; *c; c++)
      if (*c != delim[k]) {
        bytes_add(&content, delim, k);
        bytes_add(&content, c, 1);
      }
  bytes_add(&content, delim, dlen - 1); /* last: cut just before the end */
  bytes_str(&body, "--");
  bytes_str(&body, bnd);
  bytes_str(&body, "\r\n" CD("n") "\r\n");
  bytes_add(&body, content.data, content.len);
  bytes_add(&body, delim, dlen);
  bytes_str(&body, "--\r\n");
  bytes_str(&want, "<n|(null)|(null)>");
  bytes_add(&want, content.data, content.len);
  bytes_str(&want, "</>\n");
  check_body("near-miss delimiters, quoted boundary with bchars", ct,
             body.data, body.len, NULL, 0, want.data);
  bytes_free(&content);
  bytes_free(&body);
  bytes_free(&want);
}

/* --------------------------------------------------------- content types */

struct ct_case {
  const char *ct;
  int rc;
  const char *boundary; /* for the valid ones */
};

#define B70 "0123456789012345678901234567890123456789012345678901234567890123456789"

static const struct ct_case ct_cases[] = {
    {"multipart/form-data; boundary=AaB03x", 0, "AaB03x"},
    {"Multipart/Form-Data; BOUNDARY=AaB03x", 0, "AaB03x"},
    {"  multipart/form-data  ;  boundary = AaB03x ; charset=utf-8 ", 0,
     "AaB03x"},
    {"multipart/form-data;boundary=AaB03x;", 0, "AaB03x"},
    {"multipart/form-data; charset=\"a;b\"; boundary=\"AaB03x\"", 0,
     "AaB03x"},
    {"multipart/form-data; boundary=\"a b:c\"", 0, "a b:c"},
    {"multipart/form-data; boundary=\"a\\bc\"", 0, "abc"},
    {"multipart/form-data; boundary='()+_,-./:=?", 0, "'()+_,-./:=?"},
    {"multipart/form-data; boundary=" B70, 0, B70},
    {"multipart/form-data; boundary=\"" B70 "\"", 0, B70},
    {"multipart/form-data; boundary=" B70 "1", SCGI_ENOBOUNDARY, NULL},
    {"multipart/form-data; boundary=\"" B70 "1\"", SCGI_ENOBOUNDARY, NULL},
    {"multipart/form-data; boundary=\"ab \"", SCGI_ENOBOUNDARY, NULL},
    {"multipart/form-data; boundary=", SCGI_ENOBOUNDARY, NULL},
    {"multipart/form-data; boundary=\"\"", SCGI_ENOBOUNDARY, NULL},
    {"multipart/form-data", SCGI_ENOBOUNDARY, NULL},
    {"multipart/form-data;", SCGI_ENOBOUNDARY, NULL},
    {"multipart/form-data; boundary=a; boundary=a", SCGI_ENOBOUNDARY, NULL},
    {"multipart/form-data; boundary=\"abc", SCGI_ENOBOUNDARY, NULL},
    {"multipart/form-data; boundary=a@b", SCGI_ENOBOUNDARY, NULL},
    {"multipart/form-data; boundary=\"a\rb\"", SCGI_ENOBOUNDARY, NULL},
    {"multipart/form-data; boundary=a\"b\"", SCGI_ENOBOUNDARY, NULL},
    {"multipart/form-data boundary=abc", SCGI_ENOBOUNDARY, NULL},
    {"multipart/form-data; xboundary=abc", SCGI_ENOBOUNDARY, NULL},
    {"multipart/form-data; =abc", SCGI_ENOBOUNDARY, NULL},
    {"multipart/mixed; boundary=abc", SCGI_ECONTENTTYPE, NULL},
    {"multipart/form-datax; boundary=abc", SCGI_ECONTENTTYPE, NULL},
    {"multipart/form; boundary=abc", SCGI_ECONTENTTYPE, NULL},
    {"application/x-www-form-urlencoded", SCGI_ECONTENTTYPE, NULL},
    {"text/plain", SCGI_ECONTENTTYPE, NULL},
    {"", SCGI_ECONTENTTYPE, NULL},
    {"   ", SCGI_ECONTENTTYPE, NULL},
};

/* Parses a one-part body with the expected boundary. */
static bool boundary_works(const char *ct, const char *boundary)
{
  struct bytes b = {0};
  struct rec r = {0};
  int rc;

  bytes_str(&b, "--");
  bytes_str(&b, boundary);
  bytes_str(&b, "\r\n" CD("a") "\r\nv\r\n--");
  bytes_str(&b, boundary);
  bytes_str(&b, "--");
  rc = run(ct, b.data, b.len, whole, NULL, &r);
  rc = rc == 0 && !strcmp(r.log.data, "<a|(null)|(null)>v</>\n") ? 0 : -1;
  rec_free(&r);
  bytes_free(&b);
  return rc == 0;
}

static void test_content_types(void)
{
  static char sentinel;
  scgi_multipart *mp;
  struct rec r = {0};

  for (size_t i = 0; i < sizeof ct_cases / sizeof ct_cases[0]; i++) {
    const struct ct_case *c = &ct_cases[i];
    int rc;
    mp = (scgi_multipart *)(void *)&sentinel;
    rc = scgi_multipart_new(c->ct, on_event, &r, &mp);
    TAP_EQ(rc, c->rc, msg("content type '%s'", c->ct));
    if (rc == 0) {
      TAP_OK(boundary_works(c->ct, c->boundary), "... boundary '%s' works",
             c->boundary);
      scgi_multipart_free(mp);
    } else {
      TAP_OK(mp == NULL, "... *out set to NULL");
    }
  }
  TAP_EQ(scgi_multipart_new(NULL, on_event, &r, &mp), SCGI_ECONTENTTYPE,
         "NULL content type: ECONTENTTYPE");
  TAP_EQ(scgi_multipart_new(CT, NULL, &r, &mp), SCGI_EINVAL,
         "NULL callback: EINVAL");
  TAP_EQ(scgi_multipart_new(CT, on_event, &r, NULL), SCGI_EINVAL,
         "NULL out: EINVAL");
}

static void test_api_misuse(void)
{
  scgi_multipart *mp = NULL;
  struct rec r = {0};

  scgi_multipart_new(CT, on_event, &r, &mp);
  TAP_EQ(scgi_multipart_set(mp, SCGI_OPT_MAX_PARTS, 0), SCGI_EINVAL,
         "set: 0 refused");
  TAP_EQ(scgi_multipart_set(mp, SCGI_OPT_MAX_VARS, 5), SCGI_EINVAL,
         "set: another option refused");
  TAP_EQ(scgi_multipart_set(mp, SCGI_OPT_MAX_PART_HEADER_BYTES,
                            ((size_t)1 << 30) + 1),
         SCGI_EINVAL, "set: header limit over 1 GiB refused");
  TAP_EQ(scgi_multipart_set(mp, SCGI_OPT_MAX_PART_HEADER_BYTES, 1 << 30), 0,
         "set: header limit of 1 GiB");
  TAP_EQ(scgi_multipart_set(NULL, SCGI_OPT_MAX_PARTS, 1), SCGI_EINVAL,
         "set: NULL parser");
  TAP_EQ(scgi_multipart_feed(mp, NULL, 3), SCGI_EINVAL, "feed: NULL data");
  TAP_EQ(scgi_multipart_feed(NULL, "x", 1), SCGI_EINVAL, "feed: NULL parser");
  TAP_EQ(scgi_multipart_feed(mp, NULL, 0), 0, "feed: nothing");
  TAP_EQ(scgi_multipart_set(mp, SCGI_OPT_MAX_PARTS, 5), SCGI_ESTATE,
         "set after feeding: ESTATE");
  TAP_EQ(scgi_multipart_end(NULL), SCGI_EINVAL, "end: NULL parser");
  TAP_EQ(scgi_multipart_read(NULL, NULL), SCGI_EINVAL, "read: NULL");
  scgi_multipart_free(mp);
  scgi_multipart_free(NULL);
  TAP_EQ(r.events, 0, "misuse: no event");
}

/* ------------------------------------------------- big parts, memory, speed */

#define BIG_BOUNDARY "----TestBoundary7MA4YWxkTrZu0gW"
#define BIG_CT "multipart/form-data; boundary=" BIG_BOUNDARY
#define BIG_HEAD                                                               \
  "--" BIG_BOUNDARY "\r\nContent-Disposition: form-data; name=\"big\"; "      \
  "filename=\"big.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n"
#define BIG_TAIL "\r\n--" BIG_BOUNDARY "--\r\n"

/* Content byte i of the big part: random, except that every 4 KiB block
 * opens with a prefix of the delimiter broken by a '!'. */
static unsigned char big_byte(uint64_t i)
{
  static const char delim[] = "\r\n--" BIG_BOUNDARY;
  uint64_t block = i / 4096, j = i % 4096, k = block % (sizeof delim - 1);
  uint64_t s = i / 8;

  if (j < k)
    return (unsigned char)delim[j];
  if (j == k)
    return '!';
  return (unsigned char)(splitmix(&s) >> (8 * (i % 8)));
}

/* The whole body of one big part, produced piece by piece. */
struct big_gen {
  uint64_t size; /* content bytes */
  uint64_t pos;  /* in the whole body */
  uint32_t crc;  /* of the content produced so far */
};

static size_t big_fill(struct big_gen *g, char *buf, size_t n)
{
  uint64_t head = sizeof BIG_HEAD - 1, tail = sizeof BIG_TAIL - 1;
  uint64_t total = head + g->size + tail;
  size_t i = 0, content = 0, first = 0;

  for (; i < n && g->pos < total; i++, g->pos++) {
    uint64_t p = g->pos;
    if (p < head) {
      buf[i] = BIG_HEAD[p];
    } else if (p < head + g->size) {
      if (content++ == 0)
        first = i;
      buf[i] = (char)big_byte(p - head);
    } else {
      buf[i] = BIG_TAIL[p - head - g->size];
    }
  }
  g->crc = crc32_add(g->crc, buf + first, content);
  return i;
}

struct big_seen {
  uint32_t crc;
  uint64_t len;
  int begins, ends, bad;
};

static int on_big(void *arg, scgi_part_event event, const scgi_part *part,
                  const char *data, size_t len)
{
  struct big_seen *s = arg;

  if (event == SCGI_PART_BEGIN) {
    s->begins++;
    s->bad += strcmp(scgi_part_filename(part), "big.bin") != 0;
  } else if (event == SCGI_PART_DATA) {
    s->crc = crc32_add(s->crc, data, len);
    s->len += len;
  } else {
    s->ends++;
  }
  return 0;
}

static void test_big_part(void)
{
  uint64_t size = under_valgrind() ? 4u << 20 : 50u << 20;
  size_t cap = 256 * 1024, n;
  char *buf = xmalloc(cap);
  struct big_gen g = {size, 0, 0};
  struct big_seen s = {0};
  uint64_t rng = 7;
  scgi_multipart *mp = NULL;
  long before, after;
  int rc = 0;

  memset(buf, 0, cap);
  scgi_multipart_new(BIG_CT, on_big, &s, &mp);
  before = max_rss_kib();
  while (rc == 0 && (n = big_fill(&g, buf, 1 + splitmix(&rng) % cap)) > 0)
    rc = scgi_multipart_feed(mp, buf, n);
  if (rc == 0)
    rc = scgi_multipart_end(mp);
  after = max_rss_kib();
  TAP_EQ(rc, 0, msg("%llu MiB part in random pieces: parsed",
                    (unsigned long long)(size >> 20)));
  TAP_OK(s.begins == 1 && s.ends == 1 && s.bad == 0, "big part: one part");
  TAP_EQ(s.len, size, "big part: every byte delivered");
  TAP_EQ(s.crc, g.crc, "big part: CRC-32 of the content matches");
  TAP_OK(after - before <= 1024,
         "big part: peak RSS grew by %ld KiB (at most 1 MiB)", after - before);
  scgi_multipart_free(mp);
  free(buf);
}

static int on_count(void *arg, scgi_part_event event, const scgi_part *part,
                    const char *data, size_t len)
{
  (void)part;
  (void)data;
  if (event == SCGI_PART_DATA)
    *(uint64_t *)arg += len;
  return 0;
}

/* Feeds a part of `total` bytes taken from `src` (cycled) in 64 KiB
 * pieces and reports the speed. */
static void measure(const char *what, const char *src, size_t src_len,
                    size_t total)
{
  const size_t piece = 64 * 1024;
  scgi_multipart *mp = NULL;
  uint64_t got = 0;
  double t0, secs;
  int rc;

  scgi_multipart_new(BIG_CT, on_count, &got, &mp);
  t0 = now_s();
  rc = scgi_multipart_feed(mp, BIG_HEAD, sizeof BIG_HEAD - 1);
  for (size_t off = 0; off < total && rc == 0; off += piece)
    rc = scgi_multipart_feed(mp, src + off % src_len, piece);
  if (rc == 0)
    rc = scgi_multipart_feed(mp, BIG_TAIL, sizeof BIG_TAIL - 1);
  if (rc == 0)
    rc = scgi_multipart_end(mp);
  secs = now_s() - t0;
  TAP_OK(rc == 0 && got == total, "throughput, %s: parsed", what);
  tap_diag("throughput, %s: %zu MiB in 64 KiB feeds from a %zu MiB buffer: "
           "%.3f s, %.0f MB/s", what, total >> 20, src_len >> 20, secs,
           (double)total / secs / 1e6);
  scgi_multipart_free(mp);
}

/* 256 MiB, from a buffer larger than the CPU caches, so that the figure
 * includes reading memory as a real upload does. */
static void test_throughput(void)
{
  bool slow = under_valgrind();
  size_t len = slow ? 4u << 20 : 64u << 20;
  size_t total = slow ? 16u << 20 : 256u << 20;
  char *src = xmalloc(len);
  uint64_t rng = 99;

  for (size_t i = 0; i < len; i += 8) {
    uint64_t x = splitmix(&rng);
    memcpy(src + i, &x, 8);
  }
  measure("random binary", src, len, total);
  for (size_t i = 0; i < len; i++)
    src[i] = i % 80 == 78 ? '\r' : i % 80 == 79 ? '\n' : (char)('a' + i % 26);
  measure("text, CRLF every 80 bytes", src, len, total);
  /* Worst case: a delimiter missing only its last byte, over and over. */
  for (size_t i = 0; i < len; i++)
    src[i] = i % 35 == 34 ? '!' : "\r\n--" BIG_BOUNDARY[i % 35];
  measure("near-miss delimiters every 35 bytes", src, len, total);
  free(src);
}

/* ------------------------------------------------------- through a socket */

static struct scgi__conn_settings settings(void)
{
  struct scgi__conn_settings cfg = {
      .max_header_bytes = SCGI__DEFAULT_MAX_HEADER_BYTES,
      .max_vars = SCGI__DEFAULT_MAX_VARS,
      .read_timeout_ms = 5000,
      .write_timeout_ms = 5000,
      .log = NULL,
  };
  return cfg;
}

struct writer {
  pthread_t thread;
  int fd;
  const char *data;
  size_t len;
};

static void *writer_main(void *arg)
{
  struct writer *w = arg;

  for (size_t off = 0; off < w->len;) {
    size_t n = w->len - off < 100000 ? w->len - off : 100000;
    ssize_t k = send(w->fd, w->data + off, n, MSG_NOSIGNAL);
    if (k < 0)
      break;
    off += (size_t)k;
  }
  shutdown(w->fd, SHUT_WR);
  return NULL;
}

/* Sends `raw` from the peer of a new request, reads its header, then runs
 * scgi_multipart_read() with `fn`. */
static int read_through_socket(const char *raw, size_t len, scgi_part_fn fn,
                               void *arg, int64_t *left)
{
  struct scgi__conn_settings cfg = settings();
  struct writer w = {0};
  scgi_multipart *mp = NULL;
  scgi_request *req;
  int sv[2], rc;

  if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
    exit(99);
  req = scgi__request_new(sv[0], &cfg, NULL, 0);
  w.fd = sv[1];
  w.data = raw;
  w.len = len;
  pthread_create(&w.thread, NULL, writer_main, &w);
  rc = read_header_waiting(req);
  if (rc == 0)
    rc = scgi_multipart_new(scgi_request_content_type(req), fn, arg, &mp);
  if (rc == 0)
    rc = scgi_multipart_read(mp, req);
  if (mp != NULL && scgi_multipart_end(mp) != rc)
    rc = -99999; /* not sticky */
  *left = scgi_request_body_left(req);
  scgi_multipart_free(mp);
  scgi__request_destroy(req);
  pthread_join(w.thread, NULL);
  close(sv[1]);
  return rc;
}

/* A request with CONTENT_TYPE and the big body of `size` content bytes;
 * CONTENT_LENGTH claims `extra` bytes more than are sent. */
static void big_request(struct bytes *out, uint64_t size, size_t extra,
                        uint32_t *crc)
{
  struct big_gen g = {size, 0, 0};
  struct bytes body = {0}, block = {0};
  char num[64], chunk[65536];
  size_t n;

  while ((n = big_fill(&g, chunk, sizeof chunk)) > 0)
    bytes_add(&body, chunk, n);
  *crc = g.crc;
  snprintf(num, sizeof num, "%zu", body.len + extra);
  bytes_add(&block, "CONTENT_LENGTH", 15);
  bytes_add(&block, num, strlen(num) + 1);
  bytes_add(&block, "SCGI\0" "1", 7);
  bytes_add(&block, "CONTENT_TYPE", 13);
  bytes_add(&block, BIG_CT, sizeof BIG_CT);
  snprintf(num, sizeof num, "%zu:", block.len);
  bytes_str(out, num);
  bytes_add(out, block.data, block.len);
  bytes_str(out, ",");
  bytes_add(out, body.data, body.len);
  bytes_free(&body);
  bytes_free(&block);
}

static void test_read_request(void)
{
  struct capture c;
  struct rec w = {0}, r = {0};
  struct big_seen s = {0};
  struct bytes raw = {0};
  uint32_t crc;
  int64_t left;

  capture_load(&c, "chromium-multipart.bin");
  run(c.ct, c.body, c.body_len, whole, NULL, &w);
  TAP_EQ(read_through_socket(c.raw, c.raw_len, on_event, &r, &left), 0,
         "scgi_multipart_read: chromium request over a socket");
  TAP_OK(bytes_equal(&r.log, &w.log) && r.order_errors == 0,
         "scgi_multipart_read: same events as fed whole");
  TAP_EQ(left, 0, "scgi_multipart_read: the whole body was read");
  rec_free(&r);
  rec_free(&w);
  free(c.raw);

  big_request(&raw, 3u << 20, 0, &crc);
  TAP_EQ(read_through_socket(raw.data, raw.len, on_big, &s, &left), 0,
         "scgi_multipart_read: 3 MiB part over a socket");
  TAP_OK(s.len == 3u << 20 && s.crc == crc && s.ends == 1,
         "scgi_multipart_read: 3 MiB part intact");
  bytes_free(&raw);

  memset(&s, 0, sizeof s);
  big_request(&raw, 100000, 5000, &crc);
  TAP_EQ(read_through_socket(raw.data, raw.len - 50000, on_big, &s, &left),
         SCGI_ETRUNCATED, "scgi_multipart_read: cut body gives ETRUNCATED, "
                          "sticky");
  bytes_free(&raw);
}

/* ------------------------------------------------------- file names */

struct name_case {
  const char *in;
  ssize_t rc; /* 0: want `out` */
  const char *out;
};

static const struct name_case name_cases[] = {
    {"report \"final\".txt", 0, "report \"final\".txt"},
    {"C:\\Users\\me\\cv.pdf", 0, "cv.pdf"},
    {"/etc/passwd", 0, "passwd"},
    {"../../x", 0, "x"},
    {"a/b\\c", 0, "c"},
    {"..a", 0, "..a"},
    {"...", 0, "..."},
    {".bashrc", 0, ".bashrc"},
    {"h\xc3\xa9llo w\xc3\xb6rld.txt", 0, "h\xc3\xa9llo w\xc3\xb6rld.txt"},
    {"dir\x01/ok.txt", 0, "ok.txt"},
    {"x", 0, "x"},
    {"", SCGI_EFILENAME, NULL},
    {".", SCGI_EFILENAME, NULL},
    {"..", SCGI_EFILENAME, NULL},
    {"dir/", SCGI_EFILENAME, NULL},
    {"dir/..", SCGI_EFILENAME, NULL},
    {"a\\.", SCGI_EFILENAME, NULL},
    {"/", SCGI_EFILENAME, NULL},
    {"x\ty", SCGI_EFILENAME, NULL},
    {"x\ry", SCGI_EFILENAME, NULL},
    {"x\ny", SCGI_EFILENAME, NULL},
    {"x\x7f", SCGI_EFILENAME, NULL},
    {"\x1b[31mred", SCGI_EFILENAME, NULL},
};

static void test_filename_safe(void)
{
  struct guard g;
  char out[64], buf[] = "a/b/c.txt";
  const char *in;

  guard_open(&g, 64);
  for (size_t i = 0; i < sizeof name_cases / sizeof name_cases[0]; i++) {
    const struct name_case *c = &name_cases[i];
    in = guard_put(&g, c->in, strlen(c->in) + 1); /* NUL before the guard */
    memset(out, 'Z', sizeof out);
    ssize_t rc = scgi_filename_safe(in, out, sizeof out);
    TAP_EQ(rc, c->rc != 0 ? c->rc : (ssize_t)strlen(c->out),
           msg("filename_safe(\"%s\")", c->in));
    TAP_STREQ(out, c->rc != 0 ? "" : c->out, "... output");
  }
  guard_close(&g);
  TAP_EQ(scgi_filename_safe(NULL, out, sizeof out), SCGI_EFILENAME,
         "filename_safe(NULL): EFILENAME");
  memset(out, 'Z', sizeof out);
  TAP_EQ(scgi_filename_safe("d/abc", out, 3), SCGI_E2BIG,
         "filename_safe: no room for the NUL: E2BIG");
  TAP_EQ(out[0], '\0', "... output emptied");
  TAP_EQ(scgi_filename_safe("d/abc", out, 4), 3, "filename_safe: just fits");
  TAP_STREQ(out, "abc", "... output");
  TAP_EQ(scgi_filename_safe("abc", NULL, 0), SCGI_E2BIG,
         "filename_safe: size 0: E2BIG");
  TAP_EQ(scgi_filename_safe("abc", NULL, 5), SCGI_EINVAL,
         "filename_safe: NULL out: EINVAL");
  TAP_EQ(scgi_filename_safe(buf, buf, sizeof buf), 5,
         "filename_safe: in place");
  TAP_STREQ(buf, "c.txt", "... output");
}

/* ---------------------------------------------------------------- main */

int main(void)
{
  crc_init();
  test_big_part(); /* first: the peak RSS is still the test's own */
  test_content_types();
  test_api_misuse();
  test_chromium();
  test_curl();
  test_body_cases();
  test_random_bodies();
  test_headers();
  test_header_nul();
  test_header_limit();
  test_too_many_parts();
  test_near_misses();
  test_read_request();
  test_filename_safe();
  test_throughput();
  return tap_done();
}
