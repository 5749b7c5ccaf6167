/*
 * test_parser.c - the SCGI header parser, against data-driven cases, real
 * captures and its limits.
 *
 * Copyright (C) 2026 The libscgi authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Every input is parsed five ways, which must all give the same result:
 * whole; split in two at every offset; one byte at a time; with a buffer
 * that moves on every call; and copied so that its last byte sits just
 * before a PROT_NONE page, with the bytes read-only (so that an over-read
 * or a write crashes at once).
 *
 * Cases live in $top_srcdir/tests/cases: <name>.in holds the raw bytes and
 * <name>.expect the expected result (format in tests/cases/README.md).
 */
#include "config.h"
#include "../src/internal.h"

#include "tap.h"

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <sys/mman.h>
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

static char *copy_bytes(const char *src, size_t len)
{
  char *dst = xmalloc(len);
  if (len != 0)
    memcpy(dst, src, len);
  return dst;
}

static char *read_file(const char *path, size_t *len)
{
  FILE *f = fopen(path, "rb");
  char *buf = NULL;
  size_t cap = 0, n = 0, got;

  if (f == NULL)
    return NULL;
  do {
    if (n == cap) {
      char *more = realloc(buf, cap = cap * 2 + 4096);
      if (more == NULL)
        exit(99);
      buf = more;
    }
    got = fread(buf + n, 1, cap - n, f);
    n += got;
  } while (got != 0);
  fclose(f);
  *len = n;
  return buf;
}

static const char *srcdir(void)
{
  const char *dir = getenv("top_srcdir");
  return dir != NULL && *dir != '\0' ? dir : ".";
}

/* A growable string of bytes (NULs allowed). */
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
  memcpy(b->data + b->len, src, n);
  b->len += n;
  b->data[b->len] = '\0';
}

static void bytes_str(struct bytes *b, const char *s)
{
  bytes_add(b, s, strlen(s));
}

/* ---------------------------------------------------------------- outcome */

/* What a parse ended with, comparable between feeding modes. */
struct outcome {
  long result;
  size_t offset;
  struct bytes vars; /* "NAME=VALUE\n" per variable, in wire order */
  size_t count;
  int64_t content_length;
  bool well_formed;  /* every name and value NUL-terminated where said */
};

static void outcome_free(struct outcome *o)
{
  free(o->vars.data);
  memset(o, 0, sizeof *o);
}

/* Reads everything the getters tell, right after the last scgi_parse(). */
static void outcome_take(struct outcome *o, const scgi_parser *p, long result)
{
  const char *name, *value;
  size_t value_len;

  memset(o, 0, sizeof *o);
  o->result = result;
  o->offset = scgi_parser_error_offset(p);
  o->count = scgi_parser_count(p);
  o->content_length = scgi_parser_content_length(p);
  o->well_formed = true;
  bytes_str(&o->vars, "");
  for (size_t i = 0; scgi_parser_var(p, i, &name, &value, &value_len) == 0;
       i++) {
    bytes_str(&o->vars, name);
    bytes_add(&o->vars, "=", 1);
    bytes_add(&o->vars, value, value_len);
    bytes_add(&o->vars, "\n", 1);
    if (value[value_len] != '\0' || i >= o->count)
      o->well_formed = false;
  }
}

static bool outcome_same(const struct outcome *a, const struct outcome *b)
{
  return a->result == b->result && a->offset == b->offset &&
         a->count == b->count && a->content_length == b->content_length &&
         a->well_formed && b->well_formed && a->vars.len == b->vars.len &&
         memcmp(a->vars.data, b->vars.data, a->vars.len) == 0;
}

static void outcome_diag(const char *what, const struct outcome *o)
{
  tap_diag("%s: result %ld, offset %zu, count %zu, content_length %" PRId64
           "%s",
           what, o->result, o->offset, o->count, o->content_length,
           o->well_formed ? "" : ", NOT well formed");
}

/* ---------------------------------------------------------------- feeding */

/* Parser limits for a run; 0 keeps the default. */
struct limits {
  size_t max_header_bytes;
  size_t max_vars;
};

static const struct limits default_limits = {0, 0};

static scgi_parser *new_parser(const struct limits *lim)
{
  scgi_parser *p = scgi_parser_new();
  if (p == NULL)
    exit(99);
  if (lim->max_header_bytes != 0 &&
      scgi_parser_set(p, SCGI_OPT_MAX_HEADER_BYTES, lim->max_header_bytes) != 0)
    exit(99);
  if (lim->max_vars != 0 &&
      scgi_parser_set(p, SCGI_OPT_MAX_VARS, lim->max_vars) != 0)
    exit(99);
  return p;
}

/* The input and where the first non-zero result appeared. */
struct feed {
  const char *in;
  size_t len;
  const struct limits *lim;
  size_t decided;   /* bytes it took for a non-zero result; len + 1 if never */
  bool sticky;      /* once non-zero, every later call returned the same */
};

/* Remembers the first non-zero result and checks that it stays. */
static void note(struct feed *f, long *first, long r, size_t n)
{
  if (r == 0 && *first == 0)
    return;
  if (*first == 0) {
    *first = r;
    if (n < f->decided)
      f->decided = n;
  } else if (r != *first) {
    f->sticky = false;
  }
}

static void feed_whole(struct feed *f, struct outcome *o)
{
  scgi_parser *p = new_parser(f->lim);
  char *buf = copy_bytes(f->in, f->len);
  long r = scgi_parse(p, buf, f->len);

  if (scgi_parse(p, buf, f->len) != r)
    f->sticky = false;
  outcome_take(o, p, r);
  free(buf);
  scgi_parser_free(p);
}

/* Two calls, the first with `k` bytes; returns the first call's result. */
static long feed_split(struct feed *f, size_t k, struct outcome *o)
{
  scgi_parser *p = new_parser(f->lim);
  char *buf = copy_bytes(f->in, f->len);
  long first = scgi_parse(p, buf, k);
  long r = scgi_parse(p, buf, f->len);

  if (first != 0 && r != first)
    f->sticky = false;
  outcome_take(o, p, r);
  free(buf);
  scgi_parser_free(p);
  return first;
}

static void feed_bytes(struct feed *f, struct outcome *o)
{
  scgi_parser *p = new_parser(f->lim);
  char *buf = copy_bytes(f->in, f->len);
  long first = 0, r = 0;

  for (size_t n = 0; n <= f->len; n++) {
    r = scgi_parse(p, buf, n);
    note(f, &first, r, n);
  }
  outcome_take(o, p, r);
  free(buf);
  scgi_parser_free(p);
}

/* Every call gets a fresh copy of exactly the bytes so far, and the copy of
 * the previous call is freed: a kept pointer would be a use after free. */
static void feed_moving(struct feed *f, struct outcome *o)
{
  scgi_parser *p = new_parser(f->lim);
  char *prev = NULL;
  long first = 0, r = scgi_parse(p, NULL, 0);

  for (size_t n = 1; n <= f->len; n++) {
    char *buf = copy_bytes(f->in, n);
    r = scgi_parse(p, buf, n);
    note(f, &first, r, n);
    free(prev);
    prev = buf;
  }
  outcome_take(o, p, r);
  free(prev);
  scgi_parser_free(p);
}

/* Pages holding the input so that it ends right before a PROT_NONE page. */
struct guard {
  char *map;
  size_t data_size; /* readable part, a multiple of the page size */
  size_t page;
};

static void guard_open(struct guard *g, size_t len)
{
  g->page = (size_t)sysconf(_SC_PAGESIZE);
  g->data_size = (len + g->page - 1) / g->page * g->page + g->page;
  g->map = mmap(NULL, g->data_size + g->page, PROT_READ | PROT_WRITE,
                MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (g->map == MAP_FAILED || mprotect(g->map + g->data_size, g->page,
                                       PROT_NONE) != 0) {
    perror("mmap");
    exit(99);
  }
}

/* Copies the first n bytes to end at the guard page, then makes them
 * read-only so that the parser and the getters cannot write. */
static const char *guard_put(struct guard *g, const char *in, size_t n)
{
  char *dst = g->map + g->data_size - n;
  if (mprotect(g->map, g->data_size, PROT_READ | PROT_WRITE) != 0)
    exit(99);
  if (n != 0)
    memcpy(dst, in, n);
  if (mprotect(g->map, g->data_size, PROT_READ) != 0)
    exit(99);
  return dst;
}

static void feed_guard(struct feed *f, struct outcome *o)
{
  scgi_parser *p = new_parser(f->lim);
  struct guard g;
  long first = 0, r = 0;

  guard_open(&g, f->len);
  for (size_t n = 0; n <= f->len; n++) {
    r = scgi_parse(p, guard_put(&g, f->in, n), n);
    note(f, &first, r, n);
  }
  outcome_take(o, p, r);
  munmap(g.map, g.data_size + g.page);
  scgi_parser_free(p);
}

/* ---------------------------------------------------------------- runs */

static void check_same(const char *label, const char *mode,
                       const struct outcome *got, const struct outcome *want)
{
  bool same = outcome_same(got, want);
  TAP_OK(same, "%s: %s", label, mode);
  if (!same) {
    outcome_diag("got ", got);
    outcome_diag("want", want);
  }
}

/* Splits at every offset: same final outcome, and the first call already
 * decides exactly when it holds at least `decided` bytes. */
static void check_splits(const char *label, struct feed *f,
                         const struct outcome *want)
{
  size_t bad_k = (size_t)-1;
  bool early_ok = true;

  for (size_t k = 0; k <= f->len && bad_k == (size_t)-1; k++) {
    struct outcome o;
    long first = feed_split(f, k, &o);
    if (!outcome_same(&o, want))
      bad_k = k;
    if ((first != 0) != (k >= f->decided))
      early_ok = false;
    outcome_free(&o);
  }
  TAP_OK(bad_k == (size_t)-1, "%s: split in two at each of %zu offsets",
         label, f->len + 1);
  if (bad_k != (size_t)-1)
    tap_diag("first failing split at %zu", bad_k);
  TAP_OK(early_ok, "%s: split: decided exactly from %zu bytes on", label,
         f->decided);
}

/* Runs every feeding mode on `in` and compares each with the whole parse,
 * which it returns in *whole (to free). */
static void check_modes(const char *label, const char *in, size_t len,
                        const struct limits *lim, struct outcome *whole,
                        size_t *decided)
{
  struct feed f = {in, len, lim, len + 1, true};
  struct outcome o;

  feed_whole(&f, whole);
  feed_bytes(&f, &o);
  check_same(label, "byte by byte", &o, whole);
  outcome_free(&o);
  feed_moving(&f, &o);
  check_same(label, "buffer moving on every call", &o, whole);
  outcome_free(&o);
  feed_guard(&f, &o);
  check_same(label, "ending at a guard page, read-only", &o, whole);
  outcome_free(&o);
  check_splits(label, &f, whole);
  TAP_OK(f.sticky, "%s: result sticky once known", label);
  *decided = f.decided;
}

/* ---------------------------------------------------------------- cases */

struct error_name {
  const char *name;
  long code;
};

static const struct error_name error_names[] = {
#define SCGI__TEST_ERROR(name, code, text) {#name, code},
    SCGI_ERROR_MAP(SCGI__TEST_ERROR)
#undef SCGI__TEST_ERROR
};

static long error_code(const char *name)
{
  for (size_t i = 0; i < sizeof error_names / sizeof error_names[0]; i++)
    if (strcmp(error_names[i].name, name) == 0)
      return error_names[i].code;
  return 1; /* never a parse result of an error */
}

/* An .expect file, parsed. */
struct expect {
  long result;
  size_t offset;
  long decided;         /* -1: not given */
  long count;           /* -1: not given */
  bool list_vars;       /* NAME=VALUE lines were given */
  struct bytes vars;
  struct bytes checks;  /* "get ..." / "absent ..." / "content_length ..." */
  bool bad;             /* the file itself is malformed */
};

static void expect_line(struct expect *e, char *line)
{
  char word[32];
  long a, b;

  if (*line == '\0' || *line == '#')
    return;
  if (sscanf(line, "ok %ld", &a) == 1) {
    e->result = a;
  } else if (sscanf(line, "error %31s %ld", word, &b) == 2) {
    e->result = error_code(word);
    e->offset = (size_t)b;
    e->bad |= e->result == 1;
  } else if (strcmp(line, "more") == 0) {
    e->result = 0;
  } else if (sscanf(line, "decided %ld", &a) == 1) {
    e->decided = a;
  } else if (sscanf(line, "count %ld", &a) == 1) {
    e->count = a;
  } else if (strncmp(line, "get ", 4) == 0 ||
             strncmp(line, "absent ", 7) == 0 ||
             strncmp(line, "content_length ", 15) == 0) {
    bytes_str(&e->checks, line);
    bytes_add(&e->checks, "\n", 1);
  } else if (strchr(line, '=') != NULL) {
    e->list_vars = true;
    bytes_str(&e->vars, line);
    bytes_add(&e->vars, "\n", 1);
  } else {
    e->bad = true;
  }
}

static bool expect_read(struct expect *e, const char *path)
{
  size_t len;
  char *text = read_file(path, &len), *line, *save = NULL;

  memset(e, 0, sizeof *e);
  e->result = 1;
  e->decided = e->count = -1;
  bytes_str(&e->vars, "");
  bytes_str(&e->checks, "");
  if (text == NULL)
    return false;
  text = realloc(text, len + 1);
  text[len] = '\0';
  for (line = strtok_r(text, "\n", &save); line != NULL;
       line = strtok_r(NULL, "\n", &save))
    expect_line(e, line);
  free(text);
  return !e->bad && e->result != 1;
}

static void expect_free(struct expect *e)
{
  free(e->vars.data);
  free(e->checks.data);
}

/* One "get NAME=VALUE", "absent NAME" or "content_length N" line. */
static void check_lookup(const char *label, const scgi_parser *p, char *line)
{
  char *arg = strchr(line, ' ') + 1, *eq = strchr(arg, '=');
  long long n;

  if (strncmp(line, "get ", 4) == 0 && eq != NULL) {
    *eq = '\0';
    TAP_STREQ(scgi_parser_get(p, arg), eq + 1, label);
  } else if (strncmp(line, "absent ", 7) == 0) {
    TAP_STREQ(scgi_parser_get(p, arg), NULL, label);
  } else if (sscanf(arg, "%lld", &n) == 1) {
    TAP_EQ(scgi_parser_content_length(p), n, label);
  }
}

/* Lookups on a whole parse (the buffer read-only behind a guard page). */
static void check_lookups(const char *label, const char *in, size_t len,
                          const struct expect *e)
{
  scgi_parser *p = new_parser(&default_limits);
  struct guard g;
  char what[512], *lines = copy_bytes(e->checks.data, e->checks.len + 1);
  char *line, *save = NULL;

  guard_open(&g, len);
  scgi_parse(p, guard_put(&g, in, len), len);
  for (line = strtok_r(lines, "\n", &save); line != NULL;
       line = strtok_r(NULL, "\n", &save)) {
    snprintf(what, sizeof what, "%s: %s", label, line);
    check_lookup(what, p, line);
  }
  free(lines);
  munmap(g.map, g.data_size + g.page);
  scgi_parser_free(p);
}

/* What the getters say when the parse did not complete. */
static void check_incomplete_getters(const char *label,
                                     const struct outcome *o)
{
  TAP_OK(o->count == 0 && o->content_length == -1 && o->vars.len == 0,
         "%s: getters empty without a complete block", label);
}

static void check_expectation(const char *label, const struct expect *e,
                              const struct outcome *whole, size_t decided)
{
  char what[512];

  snprintf(what, sizeof what, "%s: result", label);
  TAP_EQ(whole->result, e->result, what);
  snprintf(what, sizeof what, "%s: error offset", label);
  TAP_EQ(whole->offset, e->result < 0 ? e->offset : 0, what);
  if (e->result <= 0)
    check_incomplete_getters(label, whole);
  if (e->decided >= 0) {
    snprintf(what, sizeof what, "%s: decided after exactly N bytes", label);
    TAP_EQ(decided, e->decided, what);
  }
  if (e->count >= 0) {
    snprintf(what, sizeof what, "%s: variable count", label);
    TAP_EQ(whole->count, e->count, what);
  }
  if (e->list_vars) {
    bool same = whole->vars.len == e->vars.len &&
                memcmp(whole->vars.data, e->vars.data, e->vars.len) == 0;
    TAP_OK(same, "%s: variables in wire order", label);
    if (!same)
      tap_diag("got:\n%s# want:\n%s", whole->vars.data, e->vars.data);
  }
}

static void run_case(const char *dir, const char *name)
{
  char path[2048], label[300];
  struct expect e;
  struct outcome whole;
  size_t len = 0, decided;
  bool readable;
  char *in;

  snprintf(label, sizeof label, "case %s", name);
  snprintf(path, sizeof path, "%s/%s.in", dir, name);
  in = read_file(path, &len);
  snprintf(path, sizeof path, "%s/%s.expect", dir, name);
  readable = expect_read(&e, path) && in != NULL;
  TAP_OK(readable, "%s: files readable and well formed", label);
  if (!readable) {
    expect_free(&e);
    free(in);
    return;
  }
  check_modes(label, in, len, &default_limits, &whole, &decided);
  check_expectation(label, &e, &whole, decided);
  if (e.result > 0)
    check_lookups(label, in, len, &e);
  outcome_free(&whole);
  expect_free(&e);
  free(in);
}

static int compare_names(const void *a, const void *b)
{
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static void run_cases(void)
{
  char dir[1024], *names[1024];
  size_t n = 0;
  struct dirent *d;
  DIR *dp;

  snprintf(dir, sizeof dir, "%s/tests/cases", srcdir());
  dp = opendir(dir);
  TAP_OK(dp != NULL, "case directory %s", dir);
  if (dp == NULL)
    return;
  while ((d = readdir(dp)) != NULL && n < 1024) {
    size_t l = strlen(d->d_name);
    if (l > 3 && strcmp(d->d_name + l - 3, ".in") == 0)
      names[n++] = strndup(d->d_name, l - 3);
  }
  closedir(dp);
  qsort(names, n, sizeof names[0], compare_names);
  TAP_OK(n >= 100, "found %zu cases", n);
  for (size_t i = 0; i < n; i++) {
    run_case(dir, names[i]);
    free(names[i]);
  }
}

/* ---------------------------------------------------------------- captures */

/* Real requests (tests/captures/README.md), with facts read off them. */
struct capture {
  const char *file;
  long size;    /* header netstring */
  size_t count; /* variables */
  int64_t content_length;
  const char *lookups[5][2];
};

static const struct capture captures[] = {
    {"nginx-get.bin", 375, 17, 0,
     {{"REQUEST_METHOD", "GET"},
      {"REQUEST_URI", "/capture/get/path?x=1&y=two%20words"},
      {"CONTENT_TYPE", ""},
      {"HTTP_ACCEPT", "*/*"},
      {"SCGI", "1"}}},
    {"nginx-post-urlencoded.bin", 449, 19, 17,
     {{"REQUEST_METHOD", "POST"},
      {"REQUEST_URI", "/capture/post?q=1"},
      {"CONTENT_TYPE", "application/x-www-form-urlencoded"},
      {"HTTP_CONTENT_LENGTH", "17"},
      {"PATH_INFO", NULL}}},
    {"nginx-chunked-duplicates.bin", 518, 23, 12,
     {{"HTTP_TRANSFER_ENCODING", "chunked"},
      {"HTTP_X_DUP", "one"},
      {"HTTP_COOKIE", "a=1"},
      {"DOCUMENT_URI", "/capture/chunked"},
      {"SCGI", "1"}}},
    {"nginx-curl-multipart.bin", 537, 19, 3535,
     {{"REQUEST_URI", "/capture/multipart?z=9"},
      {"CONTENT_TYPE", "multipart/form-data; "
                       "boundary=------------------------3da1d08f64eaefb6"},
      {"DOCUMENT_URI", "/capture/multipart"},
      {"REQUEST_METHOD", "POST"},
      {"HTTP_COOKIE", NULL}}},
    {"apache-post.bin", 651, 27, 3,
     {{"HTTP_X_DUP", "1, 2"},
      {"HTTP_COOKIE", "a=1"},
      {"SERVER_SOFTWARE", "Apache/2.4.71 (Debian)"},
      {"SCRIPT_NAME", "/app/x/y"},
      {"SCGI", "1"}}},
    {"lighttpd-post.bin", 584, 26, 3,
     {{"SCRIPT_NAME", "/app"},
      {"PATH_INFO", "/x/y"},
      {"SERVER_SOFTWARE", "lighttpd/1.4.69"},
      {"HTTP_X_DUP", "1, 2"},
      {"SCGI", "1"}}},
    {"chromium-multipart.bin", 1198, 32, 7769,
     {{"REQUEST_URI", "/submit"},
      {"CONTENT_TYPE", "multipart/form-data; "
                       "boundary=----WebKitFormBoundaryzE340gnAg6pViqzO"},
      {"HTTP_ACCEPT_LANGUAGE", "en-US,en;q=0.9"},
      {"REQUEST_METHOD", "POST"},
      {"SCGI", "1"}}},
    {"chromium-urlencoded.bin", 1124, 32, 31,
     {{"REQUEST_URI", "/submit"},
      {"CONTENT_TYPE", "application/x-www-form-urlencoded"},
      {"HTTP_ACCEPT_LANGUAGE", "en-US,en;q=0.9"},
      {"REQUEST_METHOD", "POST"},
      {"SCGI", "1"}}},
};

/* The variables of a valid header netstring of `size` bytes, found the
 * naive way: every NUL-separated token of the block, in pairs. */
static void naive_vars(const char *in, long size, struct bytes *out)
{
  const char *s = memchr(in, ':', (size_t)size) + 1, *end = in + size - 1;
  bool name = true;

  bytes_str(out, "");
  while (s < end) {
    size_t n = strlen(s);
    bytes_add(out, s, n);
    bytes_add(out, name ? "=" : "\n", 1);
    name = !name;
    s += n + 1;
  }
}

static void check_capture_facts(const char *label, const struct capture *c,
                                const char *in, size_t len,
                                const struct outcome *whole)
{
  scgi_parser *p = new_parser(&default_limits);
  struct bytes naive = {0};
  char what[400];

  snprintf(what, sizeof what, "%s: header netstring size", label);
  TAP_EQ(whole->result, c->size, what);
  snprintf(what, sizeof what, "%s: variable count", label);
  TAP_EQ(whole->count, c->count, what);
  snprintf(what, sizeof what, "%s: CONTENT_LENGTH", label);
  TAP_EQ(whole->content_length, c->content_length, what);
  snprintf(what, sizeof what, "%s: the body follows the header", label);
  TAP_EQ((int64_t)len - whole->result, c->content_length, what);
  naive_vars(in, c->size, &naive);
  TAP_OK(naive.len == whole->vars.len &&
             memcmp(naive.data, whole->vars.data, naive.len) == 0,
         "%s: same variables as a naive split at NULs", label);
  scgi_parse(p, in, len);
  for (int i = 0; i < 5; i++) {
    snprintf(what, sizeof what, "%s: %s", label, c->lookups[i][0]);
    TAP_STREQ(scgi_parser_get(p, c->lookups[i][0]), c->lookups[i][1], what);
  }
  free(naive.data);
  scgi_parser_free(p);
}

static void run_captures(void)
{
  for (size_t i = 0; i < sizeof captures / sizeof captures[0]; i++) {
    char path[4096], label[200];
    struct outcome whole;
    size_t len = 0, decided;
    char *in;

    snprintf(path, sizeof path, "%s/tests/captures/%s", srcdir(),
             captures[i].file);
    snprintf(label, sizeof label, "capture %s", captures[i].file);
    in = read_file(path, &len);
    TAP_OK(in != NULL, "%s: readable", label);
    if (in == NULL)
      continue;
    check_modes(label, in, len, &default_limits, &whole, &decided);
    check_capture_facts(label, &captures[i], in, len, &whole);
    outcome_free(&whole);
    free(in);
  }
}

/* ---------------------------------------------------------------- builders */

/* Builds "<len>:<block>," from NAME, VALUE pairs given as strings. */
static void build_request(struct bytes *req, const struct bytes *block)
{
  char head[32];
  snprintf(head, sizeof head, "%zu:", block->len);
  req->len = 0;
  bytes_str(req, head);
  bytes_add(req, block->data, block->len);
  bytes_add(req, ",", 1);
}

static void add_pair(struct bytes *block, const char *name, const char *value)
{
  bytes_add(block, name, strlen(name) + 1);
  bytes_add(block, value, strlen(value) + 1);
}

/* CONTENT_LENGTH=0, SCGI=1, then X_0000=v0 ... up to `count` variables. */
static void build_many(struct bytes *req, size_t count)
{
  struct bytes block = {0};
  bytes_str(&block, "");
  add_pair(&block, "CONTENT_LENGTH", "0");
  add_pair(&block, "SCGI", "1");
  for (size_t i = 2; i < count; i++) {
    char name[32], value[32];
    snprintf(name, sizeof name, "X_%04zu", i);
    snprintf(value, sizeof value, "v%zu", i);
    add_pair(&block, name, value);
  }
  build_request(req, &block);
  free(block.data);
}

/* Offset of the name of variable `index` (0-based) in a build_many() request. */
static size_t many_name_offset(const struct bytes *req, size_t index)
{
  const char *s = memchr(req->data, ':', req->len) + 1;
  for (size_t i = 0; i < index * 2; i++)
    s += strlen(s) + 1;
  return (size_t)(s - req->data);
}

/* ---------------------------------------------------------------- limits */

/* Runs all modes on a request under `lim` and checks the result. */
static void check_limited(const char *label, const struct bytes *req,
                          const struct limits *lim, long want, size_t offset)
{
  struct outcome whole;
  size_t decided;
  char what[300];

  check_modes(label, req->data, req->len, lim, &whole, &decided);
  snprintf(what, sizeof what, "%s: result", label);
  TAP_EQ(whole.result, want, what);
  snprintf(what, sizeof what, "%s: error offset", label);
  TAP_EQ(whole.offset, want < 0 ? offset : 0, what);
  outcome_free(&whole);
}

static void check_length_limit(const char *text, size_t max, long want,
                               size_t offset)
{
  struct bytes req = {0};
  struct limits lim = {max, 0};
  char label[200];

  bytes_str(&req, text);
  snprintf(label, sizeof label, "limit %zu header bytes, \"%s\"", max, text);
  check_limited(label, &req, &lim, want, offset);
  free(req.data);
}

static void test_header_limits(void)
{
  check_length_limit("65537:", 65536, SCGI_ETOOBIG, 4);
  check_length_limit("65536:", 65536, 0, 0);
  check_length_limit("101:", 100, SCGI_ETOOBIG, 2);
  check_length_limit("100:", 100, 0, 0);
  check_length_limit("2:", 1, SCGI_ETOOBIG, 0);
  check_length_limit("10:", 1, SCGI_ETOOBIG, 1);
  check_length_limit("1:x", 1, SCGI_EUNTERMINATED, 3);
  check_length_limit("1073741824:", SCGI__LIMIT_MAX_HEADER_BYTES, 0, 0);
  check_length_limit("1073741825:", SCGI__LIMIT_MAX_HEADER_BYTES,
                     SCGI_ETOOBIG, 9);
  check_length_limit("99999999999999999999:", SCGI__LIMIT_MAX_HEADER_BYTES,
                     SCGI_ETOOBIG, 9);
}

/* A block of exactly the limit is accepted; one byte more is not. */
static void test_block_at_limit(void)
{
  struct bytes block = {0}, req = {0}, value = {0};
  struct limits lim = {300, 0};

  bytes_str(&block, "");
  add_pair(&block, "CONTENT_LENGTH", "0");
  add_pair(&block, "SCGI", "1");
  bytes_str(&value, "");
  while (block.len + 2 + value.len + 1 < 300)
    bytes_str(&value, "v");
  add_pair(&block, "X", value.data);
  build_request(&req, &block);
  TAP_EQ(block.len, 300, "test block fills the limit");
  check_limited("block of exactly the limit", &req, &lim, (long)req.len, 0);
  lim.max_header_bytes = 299;
  check_limited("block one byte over the limit", &req, &lim, SCGI_ETOOBIG, 2);
  free(block.data);
  free(req.data);
  free(value.data);
}

static void test_var_limits(void)
{
  struct bytes req = {0};
  struct limits lim = {0, 2};

  build_many(&req, 2);
  check_limited("max_vars 2, 2 variables", &req, &lim, (long)req.len, 0);
  build_many(&req, 3);
  check_limited("max_vars 2, 3 variables", &req, &lim, SCGI_ETOOMANY,
                many_name_offset(&req, 2));
  lim.max_vars = 1;
  check_limited("max_vars 1, 2 variables", &req, &lim, SCGI_ETOOMANY,
                many_name_offset(&req, 1));
  lim.max_vars = 100;
  build_many(&req, 200);
  check_limited("max_vars 100, 200 variables", &req, &lim, SCGI_ETOOMANY,
                many_name_offset(&req, 100));
  lim.max_vars = SCGI__INLINE_VARS + 1;
  build_many(&req, SCGI__INLINE_VARS + 1);
  check_limited("max_vars just above the inline table", &req, &lim,
                (long)req.len, 0);
  build_many(&req, SCGI__INLINE_VARS + 2);
  check_limited("one more than max_vars above the inline table", &req, &lim,
                SCGI_ETOOMANY, many_name_offset(&req, SCGI__INLINE_VARS + 1));
  lim.max_vars = 0;
  build_many(&req, SCGI__DEFAULT_MAX_VARS + 1);
  check_limited("default max_vars + 1", &req, &lim, SCGI_ETOOMANY,
                many_name_offset(&req, SCGI__DEFAULT_MAX_VARS));
  free(req.data);
}

/* More variables than the inline table: the heap table, its growth, and
 * lookups in it. */
static void test_many_vars(void)
{
  struct bytes req = {0};
  scgi_parser *p = new_parser(&default_limits);
  const char *name, *value;
  size_t value_len;

  build_many(&req, SCGI__DEFAULT_MAX_VARS);
  check_limited("default max_vars variables", &req, &default_limits,
                (long)req.len, 0);
  TAP_EQ(scgi_parse(p, req.data, req.len), req.len, "1024 variables parsed");
  TAP_EQ(scgi_parser_count(p), SCGI__DEFAULT_MAX_VARS, "1024 counted");
  TAP_STREQ(scgi_parser_get(p, "X_0002"), "v2", "lookup in the heap table");
  TAP_STREQ(scgi_parser_get(p, "X_1023"), "v1023", "lookup of the last");
  TAP_STREQ(scgi_parser_get(p, "X_1024"), NULL, "lookup past the last");
  TAP_EQ(scgi_parser_var(p, 1023, &name, &value, &value_len), 0,
         "variable 1023");
  TAP_STREQ(name, "X_1023", "its name");
  TAP_EQ(value_len, 5, "its value length");
  TAP_EQ(scgi_parser_var(p, 1024, &name, &value, &value_len), SCGI_EINVAL,
         "variable 1024 is out of range");
  /* The heap table is kept for the next request after a reset. */
  scgi_parser_reset(p);
  build_many(&req, 3 * SCGI__INLINE_VARS);
  TAP_EQ(scgi_parse(p, req.data, req.len), req.len, "reused heap table");
  TAP_EQ(scgi_parser_count(p), 3 * SCGI__INLINE_VARS, "count after reuse");
  scgi_parser_free(p);
  free(req.data);
}

/* Byte-at-a-time feeding of a big value must stay linear: four times the
 * bytes may not take much more than four times as long. */
static double seconds(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Parses, byte by byte, a request with a `value_len`-byte value; true when
 * it completes. */
static bool parse_bytewise(size_t value_len)
{
  struct bytes block = {0}, req = {0};
  const struct limits lim = {1u << 24, 0};
  char *value = xmalloc(value_len + 1);
  scgi_parser *p = new_parser(&lim);
  long r = 0;

  memset(value, 'v', value_len);
  value[value_len] = '\0';
  bytes_str(&block, "");
  add_pair(&block, "CONTENT_LENGTH", "0");
  add_pair(&block, "SCGI", "1");
  add_pair(&block, "HTTP_COOKIE", value);
  build_request(&req, &block);
  for (size_t n = 1; n <= req.len; n++)
    r = scgi_parse(p, req.data, n);
  scgi_parser_free(p);
  free(value);
  free(block.data);
  free(req.data);
  return r == (long)req.len;
}

/* A parser that rescanned the bytes it already examined would make this
 * quadratic: 4 MiB fed one byte at a time is about 8 * 10^12 byte visits,
 * hours of work, against milliseconds when linear (seconds under
 * valgrind). The alarm turns such a regression into a failure without
 * asserting any timing: its margin is a thousandfold. */
static void test_linear(void)
{
  double t0 = seconds();
  bool ok;

  signal(SIGALRM, SIG_DFL);
  alarm(120);
  ok = parse_bytewise(4u << 20);
  alarm(0);
  TAP_OK(ok, "4 MiB value fed byte by byte completes (linear time)");
  tap_diag("byte by byte: 4 MiB value in %.0f ms", (seconds() - t0) * 1e3);
}

/* ---------------------------------------------------------------- API */

static const char minimal[] = "24:CONTENT_LENGTH\0" "0\0SCGI\0" "1\0,";
#define MINIMAL_LEN (sizeof minimal - 1)

static void test_set(void)
{
  scgi_parser *p = scgi_parser_new();

  TAP_EQ(scgi_parser_set(p, SCGI_OPT_MAX_HEADER_BYTES, 0), SCGI_EINVAL,
         "set: 0 header bytes");
  TAP_EQ(scgi_parser_set(p, SCGI_OPT_MAX_HEADER_BYTES,
                         SCGI__LIMIT_MAX_HEADER_BYTES + (size_t)1),
         SCGI_EINVAL, "set: header bytes above 1 GiB");
  TAP_EQ(scgi_parser_set(p, SCGI_OPT_MAX_HEADER_BYTES,
                         SCGI__LIMIT_MAX_HEADER_BYTES),
         0, "set: header bytes of 1 GiB");
  TAP_EQ(scgi_parser_set(p, SCGI_OPT_MAX_HEADER_BYTES, 1), 0,
         "set: header bytes of 1");
  TAP_EQ(scgi_parser_set(p, SCGI_OPT_MAX_VARS, 0), SCGI_EINVAL,
         "set: 0 variables");
  TAP_EQ(scgi_parser_set(p, SCGI_OPT_MAX_VARS, 1), 0, "set: 1 variable");
  TAP_EQ(scgi_parser_set(p, SCGI_OPT_READ_TIMEOUT_MS, 5), SCGI_EINVAL,
         "set: an option of the server");
  TAP_EQ(scgi_parser_set(p, (scgi_option)99, 5), SCGI_EINVAL,
         "set: unknown option");
  TAP_EQ(scgi_parser_set(NULL, SCGI_OPT_MAX_VARS, 5), SCGI_EINVAL,
         "set: NULL parser");
  scgi_parser_reset(p);
  TAP_EQ(scgi_parser_set(p, SCGI_OPT_MAX_VARS, 10), 0, "set after reset");
  TAP_EQ(scgi_parse(p, "1", 1), 0, "parse began");
  TAP_EQ(scgi_parser_set(p, SCGI_OPT_MAX_VARS, 20), SCGI_ESTATE,
         "set once parsing began");
  TAP_EQ(scgi_parser_set(p, SCGI_OPT_MAX_VARS, 0), SCGI_EINVAL,
         "set once parsing began, bad value");
  scgi_parser_reset(p);
  TAP_EQ(scgi_parse(p, "", 0), 0, "parse of nothing");
  TAP_EQ(scgi_parser_set(p, SCGI_OPT_MAX_VARS, 20), SCGI_ESTATE,
         "set after a first call, even with no byte");
  scgi_parser_reset(p);
  TAP_EQ(scgi_parser_set(p, SCGI_OPT_MAX_HEADER_BYTES, 23), 0,
         "set a limit below the minimal request");
  TAP_EQ(scgi_parse(p, minimal, MINIMAL_LEN), SCGI_ETOOBIG,
         "the limit applies");
  scgi_parser_free(p);
}

static void check_getters_empty(const scgi_parser *p, const char *when)
{
  const char *name = "unset", *value = "unset";
  size_t value_len = 77;
  char what[200];

  snprintf(what, sizeof what, "%s: get", when);
  TAP_STREQ(scgi_parser_get(p, "CONTENT_LENGTH"), NULL, what);
  snprintf(what, sizeof what, "%s: count", when);
  TAP_EQ(scgi_parser_count(p), 0, what);
  snprintf(what, sizeof what, "%s: var", when);
  TAP_EQ(scgi_parser_var(p, 0, &name, &value, &value_len), SCGI_EINVAL, what);
  snprintf(what, sizeof what, "%s: var leaves its outputs alone", when);
  TAP_OK(strcmp(name, "unset") == 0 && strcmp(value, "unset") == 0 &&
             value_len == 77,
         "%s", what);
  snprintf(what, sizeof what, "%s: content length", when);
  TAP_EQ(scgi_parser_content_length(p), -1, what);
}

static void test_getters_before_completion(void)
{
  scgi_parser *p = scgi_parser_new();

  check_getters_empty(p, "fresh parser");
  TAP_EQ(scgi_parser_error_offset(p), 0, "fresh parser: no error offset");
  for (size_t n = 0; n < MINIMAL_LEN; n++) {
    char when[64];
    TAP_EQ(scgi_parse(p, minimal, n), 0, "incomplete");
    snprintf(when, sizeof when, "after %zu of %zu bytes", n, MINIMAL_LEN);
    check_getters_empty(p, when);
  }
  TAP_EQ(scgi_parse(p, minimal, MINIMAL_LEN), MINIMAL_LEN, "then complete");
  TAP_STREQ(scgi_parser_get(p, "SCGI"), "1", "then found");
  TAP_STREQ(scgi_parser_get(p, ""), NULL, "empty name never found");
  TAP_STREQ(scgi_parser_get(p, NULL), NULL, "NULL name");
  scgi_parser_free(p);
  check_getters_empty(NULL, "NULL parser");
  TAP_EQ(scgi_parser_error_offset(NULL), 0, "NULL parser: no error offset");
}

static void test_bad_calls(void)
{
  scgi_parser *p = scgi_parser_new();

  TAP_EQ(scgi_parse(NULL, minimal, MINIMAL_LEN), SCGI_EINVAL, "NULL parser");
  TAP_EQ(scgi_parse(p, NULL, 0), 0, "NULL buffer of no byte");
  TAP_EQ(scgi_parse(p, NULL, 3), SCGI_EINVAL, "NULL buffer with bytes");
  TAP_EQ(scgi_parse(p, minimal, 10), 0, "10 bytes");
  TAP_EQ(scgi_parse(p, minimal, 5), SCGI_EINVAL, "fewer bytes than before");
  TAP_EQ(scgi_parser_error_offset(p), 0, "which is no parse error");
  TAP_EQ(scgi_parse(p, minimal, MINIMAL_LEN), MINIMAL_LEN,
         "and does not stick");
  scgi_parser_free(NULL);
  scgi_parser_reset(NULL);
  scgi_parser_free(p);
}

static void test_reset_reuse(void)
{
  static const char bad[] = "24:CONTENT_LENGTH\0" "0\0SCGI\0" "2\0,";
  char *moved;
  scgi_parser *p = scgi_parser_new();

  TAP_EQ(scgi_parse(p, minimal, MINIMAL_LEN), MINIMAL_LEN, "first request");
  TAP_EQ(scgi_parse(p, bad, sizeof bad - 1), MINIMAL_LEN,
         "completion is sticky, even for other bytes");
  scgi_parser_reset(p);
  check_getters_empty(p, "after reset");
  TAP_EQ(scgi_parse(p, bad, sizeof bad - 1), SCGI_ESCGIVALUE,
         "second request, bad");
  TAP_EQ(scgi_parser_error_offset(p), 25, "its error offset");
  TAP_EQ(scgi_parse(p, minimal, MINIMAL_LEN), SCGI_ESCGIVALUE,
         "the error is sticky");
  scgi_parser_reset(p);
  TAP_EQ(scgi_parser_error_offset(p), 0, "reset forgets the error");
  TAP_EQ(scgi_parse(p, minimal, MINIMAL_LEN), MINIMAL_LEN, "third request");
  TAP_STREQ(scgi_parser_get(p, "SCGI"), "1", "third request's variable");
  /* After completion, a moved copy becomes the buffer the getters use. */
  moved = copy_bytes(minimal, MINIMAL_LEN);
  TAP_EQ(scgi_parse(p, moved, MINIMAL_LEN), MINIMAL_LEN, "moved once more");
  TAP_OK(scgi_parser_get(p, "SCGI") == moved + 25, "getters follow it");
  free(moved);
  scgi_parser_free(p);
}

/* An embedded parser, as struct scgi_request holds one. */
static void test_embedded(void)
{
  scgi_parser p;

  scgi__parser_init(&p);
  TAP_EQ(scgi_parse(&p, minimal, MINIMAL_LEN), MINIMAL_LEN, "embedded parser");
  TAP_EQ(scgi_parser_content_length(&p), 0, "embedded: content length");
  scgi__parser_cleanup(&p);
}

static void test_strerror(void)
{
  const size_t n = sizeof error_names / sizeof error_names[0];
  bool distinct = true, known = true;

  for (size_t i = 0; i < n; i++) {
    const char *s = scgi_strerror((int)error_names[i].code);
    known &= s != NULL && strcmp(s, "unknown error") != 0 && *s != '\0';
    for (size_t j = 0; j < i && s != NULL; j++)
      distinct &= strcmp(s, scgi_strerror((int)error_names[j].code)) != 0;
  }
  TAP_OK(known, "scgi_strerror: all %zu codes described", n);
  TAP_OK(distinct, "scgi_strerror: all descriptions distinct");
  TAP_OK(strstr(scgi_strerror(SCGI_ENOSCGI), "scgi_params") != NULL,
         "ENOSCGI tells about scgi_params");
  TAP_STREQ(scgi_strerror(-ENOENT), "No such file or directory", "-ENOENT");
  TAP_STREQ(scgi_strerror(-ECONNRESET), "Connection reset by peer",
            "-ECONNRESET");
  TAP_OK(scgi_strerror(-999) != NULL, "-999 described");
  TAP_STREQ(scgi_strerror(0), "success", "0 is success");
  TAP_STREQ(scgi_strerror(5), "unknown error", "positive");
  TAP_STREQ(scgi_strerror(-1000), "unknown error", "-1000");
  TAP_STREQ(scgi_strerror(-1004), "unknown error", "a gap in the codes");
  TAP_STREQ(scgi_strerror(-2147483647 - 1), "unknown error", "INT_MIN");
}

int main(void)
{
  run_cases();
  run_captures();
  test_header_limits();
  test_block_at_limit();
  test_var_limits();
  test_many_vars();
  test_linear();
  test_set();
  test_getters_before_completion();
  test_bad_calls();
  test_reset_reuse();
  test_embedded();
  test_strerror();
  return tap_done();
}
