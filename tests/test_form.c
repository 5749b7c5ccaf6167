/*
 * test_form.c - percent-decoding, urlencoded forms (strings, query strings,
 * request bodies over real sockets) and cookies.
 *
 * Copyright (C) 2026 The libscgi authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"
#include "../src/internal.h"
#include "header_wait.h"
#include "tap.h"

#include <pthread.h>
#include <stdbool.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* A string literal with its length, NULs inside included. */
#define LIT(s) s, sizeof(s) - 1

/* ---------------------------------------------------------------- helpers */

static const char *srcdir(void)
{
  const char *dir = getenv("top_srcdir");
  return dir != NULL && *dir != '\0' ? dir : ".";
}

static char *load_capture(const char *name, size_t *len)
{
  char path[4096];
  FILE *f;
  char *buf = malloc(1 << 16);

  snprintf(path, sizeof path, "%s/tests/captures/%s", srcdir(), name);
  f = fopen(path, "rb");
  if (f == NULL || buf == NULL) {
    tap_diag("cannot open %s", path);
    exit(99);
  }
  *len = fread(buf, 1, 1 << 16, f);
  fclose(f);
  return buf;
}

/* Builds "len:" headers "," body; headers given as NUL-separated bytes. */
static char *wire(const char *block, size_t block_len, const char *body,
                  size_t body_len, size_t *len)
{
  char *buf = malloc(block_len + body_len + 32);
  int n = snprintf(buf, 32, "%zu:", block_len);

  memcpy(buf + n, block, block_len);
  buf[(size_t)n + block_len] = ',';
  memcpy(buf + (size_t)n + block_len + 1, body, body_len);
  *len = (size_t)n + block_len + 1 + body_len;
  return buf;
}

/* A request whose header has been read from `bytes`, sent into the other
 * end of a socketpair (kept in *peer so that a test may close it or send
 * more). The bytes must fit in the socket buffer. */
static scgi_request *request_from(const char *bytes, size_t len, int *peer)
{
  struct scgi__conn_settings cfg = {
      .max_header_bytes = SCGI__DEFAULT_MAX_HEADER_BYTES,
      .max_vars = SCGI__DEFAULT_MAX_VARS,
      .read_timeout_ms = 5000,
      .write_timeout_ms = 5000,
  };
  int sv[2];
  scgi_request *req;

  if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
    exit(99);
  req = scgi__request_new(sv[0], &cfg, NULL, 0);
  if (req == NULL || send(sv[1], bytes, len, MSG_NOSIGNAL) != (ssize_t)len)
    exit(99);
  if (read_header_waiting(req) != 0) {
    tap_diag("request_from: header not accepted");
    exit(99);
  }
  *peer = sv[1];
  return req;
}

static scgi_request *request_capture(const char *name, int *peer)
{
  size_t len;
  char *bytes = load_capture(name, &len);
  scgi_request *req = request_from(bytes, len, peer);

  free(bytes);
  return req;
}

/* "name=value\n" for every pair, to compare a whole form at once. */
static const char *dump(const scgi_form *form)
{
  static char buf[4096];
  size_t used = 0;

  buf[0] = '\0';
  for (size_t i = 0; i < scgi_form_count(form); i++) {
    const char *name, *value;
    size_t value_len;
    scgi_form_field(form, i, &name, &value, &value_len);
    used += (size_t)snprintf(buf + used, sizeof buf - used, "%s=%s\n", name,
                             value);
    if (used >= sizeof buf || value_len != strlen(value))
      return "(dump overflow or value_len mismatch)";
  }
  return buf;
}

/* ---------------------------------------------------------------- decode */

struct decode_case {
  const char *in;
  size_t in_len;
  unsigned flags;
  ssize_t want; /* length, or error */
  const char *out;
};

#define P SCGI_DECODE_PLUS
#define N SCGI_DECODE_NO_NUL

static const struct decode_case decode_cases[] = {
    {LIT(""), 0, 0, ""},
    {LIT("abc"), 0, 3, "abc"},
    {LIT("a%20b"), 0, 3, "a b"},
    {LIT("%41%42%43"), 0, 3, "ABC"},
    {LIT("%4a%4A%4b%4B"), 0, 4, "JJKK"},
    {LIT("%fF%Ff"), 0, 2, "\xff\xff"},
    {LIT("%C3%BC"), 0, 2, "\xc3\xbc"},
    {LIT("%e2%82%ac"), 0, 3, "\xe2\x82\xac"},
    {LIT("\xc3\xbc raw"), N | P, 6, "\xc3\xbc raw"},
    {LIT("a+b"), 0, 3, "a+b"},
    {LIT("a+b"), P, 3, "a b"},
    {LIT("%2B+%2b"), P, 3, "+ +"},
    {LIT("%2520"), 0, 3, "%20"}, /* decoded once, never twice */
    {LIT("%00"), 0, 1, "\0"},
    {LIT("a%00b"), P, 3, "a\0b"},
    {LIT("%00"), N, SCGI_ENUL, NULL},
    {LIT("a%00b"), N | P, SCGI_ENUL, NULL},
    {LIT("a\0b"), 0, 3, "a\0b"},
    {LIT("a\0b"), N, SCGI_ENUL, NULL},
    {LIT("%"), 0, SCGI_EPERCENT, NULL},
    {LIT("%4"), 0, SCGI_EPERCENT, NULL},
    {LIT("a%"), 0, SCGI_EPERCENT, NULL},
    {LIT("ab%f"), 0, SCGI_EPERCENT, NULL},
    {LIT("100%"), P, SCGI_EPERCENT, NULL},
    {LIT("%G0"), 0, SCGI_EPERCENT, NULL},
    {LIT("%0G"), 0, SCGI_EPERCENT, NULL},
    {LIT("%g0"), 0, SCGI_EPERCENT, NULL},
    {LIT("%%"), 0, SCGI_EPERCENT, NULL},
    {LIT("%%41"), 0, SCGI_EPERCENT, NULL},
    {LIT("%-1"), 0, SCGI_EPERCENT, NULL},
    {LIT("%+1"), P, SCGI_EPERCENT, NULL},
    {LIT("% 1"), 0, SCGI_EPERCENT, NULL},
    {LIT("%1 "), 0, SCGI_EPERCENT, NULL},
    {LIT("%x1"), 0, SCGI_EPERCENT, NULL},
    {LIT("%\xc3\xbc"), 0, SCGI_EPERCENT, NULL},
    {LIT("%\0" "0"), 0, SCGI_EPERCENT, NULL},
    {LIT("%/0"), 0, SCGI_EPERCENT, NULL}, /* '/' is just below '0' */
    {LIT("%:0"), 0, SCGI_EPERCENT, NULL}, /* ':' is just above '9' */
    {LIT("%@0"), 0, SCGI_EPERCENT, NULL}, /* '@' is just below 'A' */
    {LIT("%`0"), 0, SCGI_EPERCENT, NULL}, /* '`' is just below 'a' */
    {LIT("ok%41%4"), 0, SCGI_EPERCENT, NULL},
};

static void test_decode_table(void)
{
  for (size_t i = 0; i < sizeof decode_cases / sizeof decode_cases[0]; i++) {
    const struct decode_case *c = &decode_cases[i];
    char out[64];
    ssize_t n;

    memset(out, 'Z', sizeof out);
    n = scgi_decode(out, sizeof out, c->in, c->in_len, c->flags);
    TAP_OK(n == c->want, "decode case %zu (flags %u): %zd, want %zd", i,
           c->flags, n, c->want);
    if (c->want >= 0)
      TAP_OK(memcmp(out, c->out, (size_t)n) == 0 && out[n] == '\0',
             "decode case %zu: bytes and terminating NUL", i);
  }
}

static void test_decode_sizes(void)
{
  char out[8];

  memset(out, 'Z', sizeof out);
  TAP_EQ(scgi_decode(out, 2, LIT("abc"), 0), SCGI_E2BIG,
         "decode: 3 bytes into 2: E2BIG");
  memset(out, 'Z', sizeof out);
  TAP_EQ(scgi_decode(out, 3, LIT("abc"), 0), 3,
         "decode: exact size without room for the NUL");
  TAP_OK(memcmp(out, "abcZ", 4) == 0, "decode: no NUL written past dst_size");
  memset(out, 'Z', sizeof out);
  TAP_EQ(scgi_decode(out, 4, LIT("abc"), 0), 3,
         "decode: exact size plus the NUL");
  TAP_OK(memcmp(out, "abc\0Z", 5) == 0, "decode: NUL stored when room");
  memset(out, 'Z', sizeof out);
  TAP_EQ(scgi_decode(out, 2, LIT("%41%42"), 0), 2,
         "decode: 6 encoded bytes fit 2 decoded");
  TAP_OK(memcmp(out, "ABZ", 3) == 0, "decode: exact decoded size, no NUL");
  TAP_EQ(scgi_decode(out, 1, LIT("%41%42"), 0), SCGI_E2BIG,
         "decode: decoded size counts, not encoded");
  TAP_EQ(scgi_decode(NULL, 0, LIT(""), 0), 0, "decode: empty into nothing");
  TAP_EQ(scgi_decode(NULL, 0, NULL, 0, 0), 0, "decode: NULL, NULL, 0");
  TAP_EQ(scgi_decode(NULL, 0, LIT("a"), 0), SCGI_E2BIG,
         "decode: one byte into nothing: E2BIG");
  TAP_EQ(scgi_decode(out, 0, LIT(""), 0), 0, "decode: dst_size 0, empty");
  TAP_EQ(scgi_decode(NULL, 1, LIT("a"), 0), SCGI_EINVAL,
         "decode: NULL dst with a size: EINVAL");
  TAP_EQ(scgi_decode(out, sizeof out, NULL, 1, 0), SCGI_EINVAL,
         "decode: NULL src with a length: EINVAL");
}

static void test_decode_in_place(void)
{
  char buf[] = "a%20b+c%2B%c3%bc";
  size_t len = strlen(buf);
  ssize_t n = scgi_decode(buf, sizeof buf, buf, len, P | N);

  TAP_EQ(n, 8, "in place: decoded length");
  TAP_OK(memcmp(buf, "a b c+\xc3\xbc\0", 9) == 0, "in place: bytes and NUL");

  char exact[] = {'%', '4', '1', 'x'};
  n = scgi_decode(exact, sizeof exact, exact, sizeof exact, 0);
  TAP_EQ(n, 2, "in place, dst_size == len: decoded");
  TAP_OK(memcmp(exact, "Ax\0", 3) == 0, "in place, dst_size == len: NUL");

  char plain[] = {'a', 'b', 'c'};
  n = scgi_decode(plain, sizeof plain, plain, sizeof plain, P);
  TAP_EQ(n, 3, "in place, nothing to decode, no room for NUL");
  TAP_OK(memcmp(plain, "abc", 3) == 0, "in place: bytes kept");
}

/* -------------------------------------------------------------- guard page */

/* Two pages, the second inaccessible: input copied to the very end of the
 * first one makes any read past it crash at once. */
struct guard {
  char *base;
  size_t page;
};

static struct guard guard_new(void)
{
  struct guard g;

  g.page = (size_t)sysconf(_SC_PAGESIZE);
  g.base = mmap(NULL, 2 * g.page, PROT_READ | PROT_WRITE,
                MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (g.base == MAP_FAILED || mprotect(g.base + g.page, g.page, PROT_NONE))
    exit(99);
  return g;
}

static const char *guard_put(const struct guard *g, const char *s, size_t len)
{
  char *at = g->base + g->page - len;

  memcpy(at, s, len);
  return at;
}

static void test_decode_guard_page(void)
{
  static const struct {
    const char *in;
    size_t len;
    ssize_t want;
  } cases[] = {
      {LIT("%"), SCGI_EPERCENT},    {LIT("%4"), SCGI_EPERCENT},
      {LIT("%f"), SCGI_EPERCENT},   {LIT("a%"), SCGI_EPERCENT},
      {LIT("a%4"), SCGI_EPERCENT},  {LIT("%41%"), SCGI_EPERCENT},
      {LIT("%41%4"), SCGI_EPERCENT}, {LIT("%%"), SCGI_EPERCENT},
      {LIT("%G"), SCGI_EPERCENT},   {LIT("%41"), 1},
      {LIT("a+"), 2},               {LIT("x"), 1},
  };
  struct guard g = guard_new();
  char out[16];

  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const char *at = guard_put(&g, cases[i].in, cases[i].len);
    TAP_EQ(scgi_decode(out, sizeof out, at, cases[i].len, P | N),
           cases[i].want, "guard page: trailing input decoded or refused");
    /* In place as well: dst == src at the end of the page. */
    char *w = g.base + g.page - cases[i].len;
    TAP_EQ(scgi_decode(w, cases[i].len, w, cases[i].len, P), cases[i].want,
           "guard page: in place, no room for the NUL");
  }
  TAP_EQ(scgi_decode(out, sizeof out, g.base + g.page, 0, 0), 0,
         "guard page: empty input right at the protected page");

  static const struct {
    const char *in;
    size_t len;
    int want;
    size_t count;
  } forms[] = {
      {LIT("a=%"), SCGI_EPERCENT, 0}, {LIT("a=%4"), SCGI_EPERCENT, 0},
      {LIT("a=1&%"), SCGI_EPERCENT, 0}, {LIT("a=1&b"), 0, 2},
      {LIT("a=1&"), 0, 1},            {LIT("a=1&="), 0, 2},
      {LIT("a"), 0, 1},               {LIT("&&"), 0, 0},
      {LIT("a="), 0, 1},              {LIT("a=b+"), 0, 1},
  };
  for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
    const char *at = guard_put(&g, forms[i].in, forms[i].len);
    scgi_form *form;
    TAP_EQ(scgi_form_parse(at, forms[i].len, &form), forms[i].want,
           "guard page: form at the end of the page");
    TAP_EQ(scgi_form_count(form), forms[i].count, "guard page: form count");
    scgi_form_free(form);
  }
  munmap(g.base, 2 * g.page);
}

/* ---------------------------------------------------------------- forms */

static scgi_form *parse(const char *s)
{
  scgi_form *form = NULL;
  int rc = scgi_form_parse(s, strlen(s), &form);

  if (rc != 0)
    tap_diag("parse(\"%s\"): %s", s, scgi_strerror(rc));
  return form;
}

static void test_form_order(void)
{
  scgi_form *form = parse("a=1&b=2&c=3");
  const char *name, *value;
  size_t len = 99;

  TAP_EQ(scgi_form_count(form), 3, "form: three pairs");
  TAP_STREQ(dump(form), "a=1\nb=2\nc=3\n", "form: wire order");
  TAP_EQ(scgi_form_field(form, 2, &name, &value, &len), 0, "field 2");
  TAP_STREQ(name, "c", "field 2: name");
  TAP_STREQ(value, "3", "field 2: value");
  TAP_EQ(len, 1, "field 2: value length");
  TAP_EQ(scgi_form_field(form, 3, &name, &value, &len), SCGI_EINVAL,
         "field past the end: EINVAL");
  TAP_EQ(scgi_form_field(form, SIZE_MAX, NULL, NULL, NULL), SCGI_EINVAL,
         "field SIZE_MAX: EINVAL");
  TAP_EQ(scgi_form_field(form, 0, NULL, NULL, NULL), 0,
         "field with every output NULL");
  TAP_STREQ(scgi_form_get(form, "b"), "2", "get b");
  TAP_STREQ(scgi_form_get(form, "d"), NULL, "get absent name: NULL");
  TAP_STREQ(scgi_form_get(form, "B"), NULL, "get is case-sensitive");
  TAP_STREQ(scgi_form_get(form, "a "), NULL, "get compares whole names");
  TAP_STREQ(scgi_form_get(form, ""), NULL, "get empty name: absent here");
  scgi_form_free(form);
}

static void test_form_repeated(void)
{
  scgi_form *form = parse("x=1&y=0&x=2&x=&z=9&x=4");
  size_t cursor = 0;
  const char *want[] = {"1", "2", "", "4"};

  TAP_STREQ(scgi_form_get(form, "x"), "1", "repeated: get gives the first");
  for (size_t i = 0; i < 4; i++)
    TAP_STREQ(scgi_form_next(form, "x", &cursor), want[i],
              "repeated: next walks every value in order");
  TAP_STREQ(scgi_form_next(form, "x", &cursor), NULL, "repeated: then NULL");
  TAP_STREQ(scgi_form_next(form, "x", &cursor), NULL, "repeated: stays NULL");
  TAP_EQ(cursor, 6, "repeated: cursor at the end");
  cursor = 0;
  TAP_STREQ(scgi_form_next(form, "z", &cursor), "9", "next z");
  TAP_EQ(cursor, 5, "cursor - 1 is the index of the pair found");
  TAP_STREQ(scgi_form_next(form, "nope", &cursor), NULL, "next absent name");
  cursor = 1000;
  TAP_STREQ(scgi_form_next(form, "x", &cursor), NULL,
            "next with a cursor past the end: NULL");
  TAP_EQ(cursor, 6, "cursor past the end clamps");
  scgi_form_free(form);
}

static void test_form_pieces(void)
{
  static const struct {
    const char *in;
    const char *dump;
  } cases[] = {
      {"", ""},
      {"&", ""},
      {"&&&", ""},
      {"&&a=1&&&b=2&", "a=1\nb=2\n"},
      {"flag", "flag=\n"},
      {"flag&a=1", "flag=\na=1\n"},
      {"a=b=c", "a=b=c\n"},
      {"a==", "a==\n"},
      {"=x", "=x\n"},
      {"=", "=\n"},
      {"==", "==\n"},
      {"a=", "a=\n"},
      {"a+b=c+d%21", "a b=c d!\n"},
      {"%61%3D=%26", "a==&\n"},
      {"q=a%26b%3Dc+d&empty=&utf=%C3%BC", "q=a&b=c d\nempty=\nutf=\xc3\xbc\n"},
      {"k=\xc3\xa9t\xc3\xa9", "k=\xc3\xa9t\xc3\xa9\n"},
      {";=;", ";=;\n"},
      {"a=1;b=2", "a=1;b=2\n"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    scgi_form *form = parse(cases[i].in);
    TAP_OK(form != NULL, "pieces \"%s\": parsed", cases[i].in);
    TAP_STREQ(dump(form), cases[i].dump, "pieces: pairs");
    scgi_form_free(form);
  }

  scgi_form *form = parse("=x&a=1");
  TAP_STREQ(scgi_form_get(form, ""), "x", "empty name can be looked up");
  scgi_form_free(form);

  TAP_EQ(scgi_form_parse(LIT("a=%C3%BC%00"), &form), SCGI_ENUL,
         "%00 after valid escapes refuses the form");
  TAP_OK(form == NULL, "refused form: *out NULL");
  /* Not NUL-terminated: only `len` bytes count. */
  TAP_EQ(scgi_form_parse("a=1&b=2GARBAGE", 7, &form), 0, "length-bounded");
  TAP_STREQ(dump(form), "a=1\nb=2\n", "length-bounded: pairs");
  scgi_form_free(form);
}

static void test_form_errors(void)
{
  static const struct {
    const char *in;
    size_t len;
    int want;
  } cases[] = {
      {LIT("a=%zz"), SCGI_EPERCENT}, {LIT("a=%"), SCGI_EPERCENT},
      {LIT("a=%4"), SCGI_EPERCENT},  {LIT("%=1"), SCGI_EPERCENT},
      {LIT("a=1&b=%2"), SCGI_EPERCENT}, {LIT("a=100%"), SCGI_EPERCENT},
      {LIT("a=%00"), SCGI_ENUL},     {LIT("%00=1"), SCGI_ENUL},
      {LIT("a=x\0y"), SCGI_ENUL},    {LIT("a\0=1"), SCGI_ENUL},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    scgi_form *form = (scgi_form *)1;
    TAP_EQ(scgi_form_parse(cases[i].in, cases[i].len, &form), cases[i].want,
           "malformed form refused");
    TAP_OK(form == NULL, "malformed form: *out is NULL");
  }

  scgi_form *form = (scgi_form *)1;
  TAP_EQ(scgi_form_parse(NULL, 0, &form), 0, "NULL data, length 0: ok");
  TAP_EQ(scgi_form_count(form), 0, "NULL data: empty form");
  scgi_form_free(form);
  TAP_EQ(scgi_form_parse(NULL, 1, &form), SCGI_EINVAL, "NULL data, 1: EINVAL");
  TAP_OK(form == NULL, "EINVAL: *out is NULL");
  TAP_EQ(scgi_form_parse("a", 1, NULL), SCGI_EINVAL, "NULL out: EINVAL");
  TAP_EQ(scgi_form_count(NULL), 0, "count(NULL) = 0");
  TAP_STREQ(scgi_form_get(NULL, "a"), NULL, "get(NULL form) = NULL");
  TAP_EQ(scgi_form_field(NULL, 0, NULL, NULL, NULL), SCGI_EINVAL,
         "field(NULL form) = EINVAL");
  size_t cursor = 0;
  TAP_STREQ(scgi_form_next(NULL, "a", &cursor), NULL, "next(NULL form)");
  form = parse("a=1");
  TAP_STREQ(scgi_form_get(form, NULL), NULL, "get(NULL name) = NULL");
  TAP_STREQ(scgi_form_next(form, "a", NULL), NULL, "next(NULL cursor)");
  scgi_form_free(form);
  scgi_form_free(NULL);
}

static double seconds(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Inputs shaped to make a careless parser quadratic: many pieces, one huge
 * piece full of '=', one long run of escapes. */
static void test_form_large(void)
{
  size_t n = 1 << 20;
  char *buf = malloc(3 * n);
  scgi_form *form = NULL;
  double start = seconds();

  for (size_t i = 0; i < n; i++)
    memcpy(buf + 2 * i, "a&", 2);
  TAP_EQ(scgi_form_parse(buf, 2 * n, &form), 0, "1 Mi pieces: parsed");
  TAP_EQ(scgi_form_count(form), n, "1 Mi pieces: counted");
  scgi_form_free(form);
  memset(buf, '=', 3 * n);
  buf[0] = 'k';
  TAP_EQ(scgi_form_parse(buf, 3 * n, &form), 0, "3 MiB of '=': parsed");
  TAP_EQ(scgi_form_count(form), 1, "3 MiB of '=': one pair");
  TAP_EQ(strlen(scgi_form_get(form, "k")), 3 * n - 2, "value keeps the '='");
  scgi_form_free(form);
  for (size_t i = 0; i < n; i++)
    memcpy(buf + 3 * i, "%41", 3);
  buf[0] = '=';
  buf[1] = 'x';
  buf[2] = 'x';
  TAP_EQ(scgi_form_parse(buf, 3 * n, &form), 0, "1 Mi escapes: parsed");
  TAP_EQ(strlen(scgi_form_get(form, "")), n - 1 + 2, "1 Mi escapes: decoded");
  scgi_form_free(form);
  tap_diag("large forms took %.3f s", seconds() - start);
  free(buf);
}

/* ---------------------------------------------------------------- requests */

static void test_query(void)
{
  static const char block[] = "CONTENT_LENGTH\0" "0\0" "SCGI\0" "1\0"
                              "QUERY_STRING\0" "x=1&y=two%20words&x=3\0";
  static const char none[] = "CONTENT_LENGTH\0" "0\0" "SCGI\0" "1\0";
  static const char bad[] = "CONTENT_LENGTH\0" "0\0" "SCGI\0" "1\0"
                            "QUERY_STRING\0" "a=%G1\0";
  size_t len;
  char *bytes = wire(block, sizeof block - 1, "", 0, &len);
  int peer;
  scgi_request *req = request_from(bytes, len, &peer);
  scgi_form *form;

  free(bytes);
  TAP_EQ(scgi_form_query(req, &form), 0, "query: parsed");
  TAP_STREQ(dump(form), "x=1\ny=two words\nx=3\n", "query: pairs");
  scgi_form_free(form);
  scgi__request_destroy(req);
  close(peer);

  bytes = wire(none, sizeof none - 1, "", 0, &len);
  req = request_from(bytes, len, &peer);
  free(bytes);
  form = NULL;
  TAP_EQ(scgi_form_query(req, &form), 0, "no QUERY_STRING: ok");
  TAP_OK(form != NULL && scgi_form_count(form) == 0,
         "no QUERY_STRING: an empty form, not NULL");
  scgi_form_free(form);
  scgi__request_destroy(req);
  close(peer);

  bytes = wire(bad, sizeof bad - 1, "", 0, &len);
  req = request_from(bytes, len, &peer);
  free(bytes);
  TAP_EQ(scgi_form_query(req, &form), SCGI_EPERCENT, "bad query: EPERCENT");
  TAP_OK(form == NULL, "bad query: *out NULL");
  TAP_EQ(scgi_form_query(NULL, &form), SCGI_EINVAL, "query(NULL): EINVAL");
  TAP_EQ(scgi_form_query(req, NULL), SCGI_EINVAL, "query(req, NULL): EINVAL");
  scgi__request_destroy(req);
  close(peer);

  req = request_capture("chromium-urlencoded.bin", &peer);
  TAP_EQ(scgi_form_query(req, &form), 0, "empty QUERY_STRING: ok");
  TAP_EQ(scgi_form_count(form), 0, "empty QUERY_STRING: empty form");
  scgi_form_free(form);
  scgi__request_destroy(req);
  close(peer);
}

static void test_body_chromium(void)
{
  int peer;
  scgi_request *req = request_capture("chromium-urlencoded.bin", &peer);
  scgi_form *form = NULL;
  size_t len = 0;
  const char *value;

  TAP_EQ(scgi_form_body(req, 0, &form), 0, "chromium body: parsed");
  TAP_EQ(scgi_form_count(form), 3, "chromium body: three fields");
  TAP_STREQ(scgi_form_get(form, "q"), "a&b=c d",
            "chromium: escaped & and = stay inside the value");
  TAP_STREQ(scgi_form_get(form, "empty"), "", "chromium: empty value");
  TAP_EQ(scgi_form_field(form, 2, NULL, &value, &len), 0, "chromium: utf");
  TAP_STREQ(value, "\xc3\xbc", "chromium: UTF-8 bytes decoded");
  TAP_EQ(len, 2, "chromium: UTF-8 value is 2 bytes");
  TAP_EQ(scgi_request_body_left(req), 0, "chromium: body consumed");
  scgi_form_free(form);
  TAP_EQ(scgi_form_body(req, 0, &form), SCGI_ESTATE,
         "second scgi_form_body: ESTATE (body already read)");
  TAP_OK(form == NULL, "ESTATE: *out NULL");
  scgi__request_destroy(req);
  close(peer);
}

static void test_body_nginx(void)
{
  int peer;
  scgi_request *req = request_capture("nginx-post-urlencoded.bin", &peer);
  scgi_form *query, *body;

  TAP_EQ(scgi_form_query(req, &query), 0, "nginx POST: query parsed");
  TAP_STREQ(dump(query), "q=1\n", "nginx POST: query q=1");
  TAP_EQ(scgi_form_body(req, 17, &body), 0,
         "nginx POST: body of exactly max_bytes accepted");
  TAP_STREQ(dump(body), "a=1\nb=hello world\n", "nginx POST: body pairs");
  scgi_form_free(query);
  scgi_form_free(body);
  scgi__request_destroy(req);
  close(peer);

  req = request_capture("apache-post.bin", &peer);
  TAP_EQ(scgi_form_body(req, 0, &body), 0, "apache POST: body parsed");
  TAP_STREQ(dump(body), "a=b\n", "apache POST: body pairs");
  scgi_form_free(body);
  scgi__request_destroy(req);
  close(peer);

  /* Body that is not a form at all, but typed as one: a name. */
  req = request_capture("nginx-chunked-duplicates.bin", &peer);
  TAP_EQ(scgi_form_body(req, 0, &body), 0, "de-chunked body parsed");
  TAP_STREQ(dump(body), "chunked-body=\n", "de-chunked body: one name");
  scgi_form_free(body);
  scgi__request_destroy(req);
  close(peer);
}

/* A POST with the given CONTENT_TYPE (NULL: none) and body. */
static scgi_request *post(const char *type, const char *cl, const char *body,
                          int *peer)
{
  char block[512];
  size_t n = 0, len;
  const char *parts[] = {"CONTENT_LENGTH", cl, "SCGI", "1",
                         type ? "CONTENT_TYPE" : NULL, type};
  char *bytes;
  scgi_request *req;

  for (size_t i = 0; i < 6 && parts[i] != NULL; i++) {
    size_t k = strlen(parts[i]) + 1;
    memcpy(block + n, parts[i], k);
    n += k;
  }
  bytes = wire(block, n, body, strlen(body), &len);
  req = request_from(bytes, len, peer);
  free(bytes);
  return req;
}

static void test_body_types(void)
{
  static const struct {
    const char *type;
    int want;
  } cases[] = {
      {"application/x-www-form-urlencoded", 0},
      {"Application/X-WWW-Form-URLEncoded", 0},
      {"application/x-www-form-urlencoded; charset=UTF-8", 0},
      {"application/x-www-form-urlencoded;charset=UTF-8", 0},
      {"  application/x-www-form-urlencoded \t ; charset=utf-8", 0},
      {"\tapplication/x-www-form-urlencoded\t", 0},
      {NULL, SCGI_ECONTENTTYPE},
      {"", SCGI_ECONTENTTYPE},
      {"text/plain", SCGI_ECONTENTTYPE},
      {"multipart/form-data; boundary=x", SCGI_ECONTENTTYPE},
      {"application/x-www-form-urlencodedx", SCGI_ECONTENTTYPE},
      {"application/x-www-form-urlencode", SCGI_ECONTENTTYPE},
      {"application/x-www-form-urlencoded x", SCGI_ECONTENTTYPE},
      {"application/x-www-form-urlencoded,text/plain", SCGI_ECONTENTTYPE},
      {"application/json", SCGI_ECONTENTTYPE},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    int peer;
    scgi_request *req = post(cases[i].type, "3", "a=b", &peer);
    scgi_form *form;
    int rc = scgi_form_body(req, 0, &form);
    TAP_EQ(rc, cases[i].want, "content type");
    if (rc != cases[i].want)
      tap_diag("type \"%s\"", cases[i].type ? cases[i].type : "(none)");
    if (cases[i].want != 0) {
      TAP_EQ(scgi_request_body_left(req), 3, "refused type: nothing read");
    } else {
      TAP_STREQ(scgi_form_get(form, "a"), "b", "accepted type: parsed");
    }
    scgi_form_free(form);
    scgi__request_destroy(req);
    close(peer);
  }
}

static void test_body_limits(void)
{
  int peer;
  scgi_request *req = post("application/x-www-form-urlencoded", "10",
                           "a=01234567", &peer);
  scgi_form *form = (scgi_form *)1;

  TAP_EQ(scgi_form_body(req, 9, &form), SCGI_EBODYSIZE,
         "CONTENT_LENGTH over max_bytes: EBODYSIZE");
  TAP_EQ(scgi_request_body_left(req), 10, "EBODYSIZE: no byte read");
  TAP_OK(form == NULL, "EBODYSIZE: *out NULL");
  TAP_EQ(scgi_form_body(req, 10, &form), 0, "then max_bytes = length: ok");
  TAP_STREQ(scgi_form_get(form, "a"), "01234567", "then: value");
  scgi_form_free(form);
  scgi__request_destroy(req);
  close(peer);

  /* The default limit is 1 MiB: one byte more is refused, unread. */
  req = post("application/x-www-form-urlencoded", "1048577", "", &peer);
  TAP_EQ(scgi_form_body(req, 0, &form), SCGI_EBODYSIZE,
         "default limit: 1 MiB + 1 refused");
  TAP_EQ(scgi_request_body_left(req), 1048577, "default limit: nothing read");
  scgi__request_destroy(req);
  close(peer);
  req = post("application/x-www-form-urlencoded", "9223372036854775807", "",
             &peer);
  TAP_EQ(scgi_form_body(req, 0, &form), SCGI_EBODYSIZE,
         "INT64_MAX CONTENT_LENGTH: EBODYSIZE");
  TAP_EQ(scgi_request_body_left(req), INT64_MAX, "INT64_MAX: nothing read");
  scgi__request_destroy(req);
  close(peer);

  req = post("application/x-www-form-urlencoded", "0", "", &peer);
  TAP_EQ(scgi_form_body(req, 0, &form), 0, "empty body: ok");
  TAP_OK(form != NULL && scgi_form_count(form) == 0, "empty body: empty form");
  scgi_form_free(form);
  scgi__request_destroy(req);
  close(peer);

  req = post("application/x-www-form-urlencoded", "5", "a=%zz", &peer);
  TAP_EQ(scgi_form_body(req, 0, &form), SCGI_EPERCENT, "bad body: EPERCENT");
  TAP_OK(form == NULL, "bad body: *out NULL");
  scgi__request_destroy(req);
  close(peer);
}

struct late_writer {
  int fd;
  const char *data;
};

static void *late_writer_main(void *arg)
{
  struct late_writer *w = arg;

  usleep(50000);
  if (send(w->fd, w->data, strlen(w->data), MSG_NOSIGNAL) < 0)
    return NULL;
  shutdown(w->fd, SHUT_WR);
  return NULL;
}

static void test_body_truncated(void)
{
  int peer;
  scgi_request *req = post("application/x-www-form-urlencoded", "20",
                           "a=1&b", &peer);
  scgi_form *form = (scgi_form *)1;

  shutdown(peer, SHUT_WR);
  TAP_EQ(scgi_form_body(req, 0, &form), SCGI_ETRUNCATED,
         "body shorter than CONTENT_LENGTH: ETRUNCATED");
  TAP_OK(form == NULL, "ETRUNCATED: *out NULL");
  scgi__request_destroy(req);
  close(peer);

  /* The rest of the body arrives later, in another read. */
  req = post("application/x-www-form-urlencoded", "11", "a=1&", &peer);
  struct late_writer lw = {peer, "b=2&c=3"};
  pthread_t t;
  pthread_create(&t, NULL, late_writer_main, &lw);
  TAP_EQ(scgi_form_body(req, 0, &form), 0, "body in two reads: parsed");
  TAP_STREQ(dump(form), "a=1\nb=2\nc=3\n", "body in two reads: pairs");
  pthread_join(t, NULL);
  scgi_form_free(form);
  scgi__request_destroy(req);
  close(peer);

  req = post("application/x-www-form-urlencoded", "3", "a=b", &peer);
  TAP_EQ(scgi_form_body(NULL, 0, &form), SCGI_EINVAL, "body(NULL): EINVAL");
  TAP_EQ(scgi_form_body(req, 0, NULL), SCGI_EINVAL, "body(out NULL)");
  char c;
  TAP_EQ(scgi_read(req, &c, 1), 1, "read one body byte first");
  TAP_EQ(scgi_form_body(req, 0, &form), SCGI_ESTATE,
         "partly read body: ESTATE");
  scgi__request_destroy(req);
  close(peer);
}

/* ---------------------------------------------------------------- cookies */

static void test_cookies_capture(void)
{
  int peer;
  scgi_request *req = request_capture("nginx-chunked-duplicates.bin", &peer);
  scgi_form *form;

  TAP_EQ(scgi_form_cookies(req, &form), 0, "two HTTP_COOKIE: parsed");
  TAP_STREQ(dump(form), "a=1\nb=2\n",
            "two HTTP_COOKIE variables: both, in wire order");
  scgi_form_free(form);
  scgi__request_destroy(req);
  close(peer);

  req = request_capture("apache-post.bin", &peer);
  TAP_EQ(scgi_form_cookies(req, &form), 0, "apache cookie: parsed");
  TAP_STREQ(dump(form), "a=1\n", "apache cookie");
  scgi_form_free(form);
  scgi__request_destroy(req);
  close(peer);

  req = request_capture("nginx-post-urlencoded.bin", &peer);
  form = NULL;
  TAP_EQ(scgi_form_cookies(req, &form), 0, "no cookie: ok");
  TAP_OK(form != NULL && scgi_form_count(form) == 0, "no cookie: empty form");
  scgi_form_free(form);
  TAP_EQ(scgi_form_cookies(NULL, &form), SCGI_EINVAL, "cookies(NULL)");
  TAP_OK(form == NULL, "cookies(NULL): *out NULL");
  TAP_EQ(scgi_form_cookies(req, NULL), SCGI_EINVAL, "cookies(out NULL)");
  scgi__request_destroy(req);
  close(peer);
}

static void test_cookies_syntax(void)
{
  static const struct {
    const char *header;
    const char *dump;
  } cases[] = {
      {"", ""},
      {"a=1", "a=1\n"},
      {"a=1; b=2", "a=1\nb=2\n"},
      {"a=1;b=2", "a=1\nb=2\n"},
      {"  a=1 ;\t b=2\t;  ", "a=1\nb=2\n"},
      {"a = 1; b\t=\t2", "a=1\nb=2\n"},
      {"s=\"quoted value\"", "s=quoted value\n"},
      {"s= \"q\" ", "s=q\n"},
      {"s=\"\"", "s=\n"},
      {"s=\"", "s=\"\n"},
      {"s=\"a", "s=\"a\n"},
      {"s=a\"", "s=a\"\n"},
      {"s=\"a\"b\"", "s=a\"b\n"},
      {"e=", "e=\n"},
      {"v=a=b==", "v=a=b==\n"},
      {"pct=%41+%zz", "pct=%41+%zz\n"},
      {"junk; a=1", "a=1\n"},
      {"=nameless; a=1", "a=1\n"},
      {" =x; ;;; a=1", "a=1\n"},
      {";;;", ""},
      {"a=1; a=2", "a=1\na=2\n"},
      {"u=\xc3\xbc", "u=\xc3\xbc\n"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char block[256];
    size_t n, len;
    int peer;
    scgi_form *form;

    n = (size_t)snprintf(block, sizeof block, "CONTENT_LENGTH%c0%cSCGI%c1%c"
                         "HTTP_COOKIE%c%s%c", 0, 0, 0, 0, 0, cases[i].header,
                         0);
    char *bytes = wire(block, n, "", 0, &len);
    scgi_request *req = request_from(bytes, len, &peer);
    free(bytes);
    TAP_EQ(scgi_form_cookies(req, &form), 0, "cookie header parsed");
    TAP_STREQ(dump(form), cases[i].dump, "cookie pairs");
    if (strcmp(dump(form), cases[i].dump) != 0)
      tap_diag("header \"%s\"", cases[i].header);
    scgi_form_free(form);
    scgi__request_destroy(req);
    close(peer);
  }
}

static void test_cookies_many_vars(void)
{
  static const char block[] =
      "CONTENT_LENGTH\0" "0\0" "SCGI\0" "1\0" "HTTP_COOKIE\0" "a=1; b=2\0"
      "HTTP_X\0" "x=9\0" "HTTP_COOKIE\0" "\0" "HTTP_COOKIE\0" " c=\"3\" \0"
      "HTTP_COOKIES\0" "no=1\0" "http_cookie\0" "no=2\0"
      "HTTP_COOKIE\0" "a=4\0";
  size_t len;
  char *bytes = wire(block, sizeof block - 1, "", 0, &len);
  int peer;
  scgi_request *req = request_from(bytes, len, &peer);
  scgi_form *form;
  size_t cursor = 0;

  free(bytes);
  TAP_EQ(scgi_form_cookies(req, &form), 0, "four HTTP_COOKIE: parsed");
  TAP_STREQ(dump(form), "a=1\nb=2\nc=3\na=4\n",
            "only HTTP_COOKIE variables, all of them, in order");
  TAP_STREQ(scgi_form_get(form, "a"), "1", "first cookie wins for get");
  TAP_STREQ(scgi_form_next(form, "a", &cursor), "1", "next a: 1");
  TAP_STREQ(scgi_form_next(form, "a", &cursor), "4", "next a: 4");
  scgi_form_free(form);
  scgi__request_destroy(req);
  close(peer);
}

/* Several threads reading the same request at once: the form functions
 * only read it. Run under TSan/helgrind this checks it for real. */
struct reader {
  const scgi_request *req;
  int ok;
};

static void *reader_main(void *arg)
{
  struct reader *r = arg;

  for (int i = 0; i < 200; i++) {
    scgi_form *q, *c;
    if (scgi_form_query(r->req, &q) == 0 && scgi_form_cookies(r->req, &c) == 0)
      r->ok += scgi_form_count(q) == 1 && scgi_form_count(c) == 1;
    else
      return NULL;
    scgi_form_free(q);
    scgi_form_free(c);
  }
  return NULL;
}

static void test_threads(void)
{
  int peer;
  scgi_request *req = request_capture("apache-post.bin", &peer);
  struct reader r[4];
  pthread_t t[4];
  int ok = 0;

  for (int i = 0; i < 4; i++) {
    r[i] = (struct reader){req, 0};
    pthread_create(&t[i], NULL, reader_main, &r[i]);
  }
  for (int i = 0; i < 4; i++) {
    pthread_join(t[i], NULL);
    ok += r[i].ok;
  }
  TAP_EQ(ok, 800, "four threads parse query and cookies of one request");
  scgi__request_destroy(req);
  close(peer);
}

int main(void)
{
  test_decode_table();
  test_decode_sizes();
  test_decode_in_place();
  test_decode_guard_page();
  test_form_order();
  test_form_repeated();
  test_form_pieces();
  test_form_errors();
  test_form_large();
  test_query();
  test_body_chromium();
  test_body_nginx();
  test_body_types();
  test_body_limits();
  test_body_truncated();
  test_cookies_capture();
  test_cookies_syntax();
  test_cookies_many_vars();
  test_threads();
  return tap_done();
}
