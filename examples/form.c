/*
 * form.c - an HTML form with file uploads, and what the browser sent.
 *
 * Copyright (C) 2026 The libscgi authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * GET (or HEAD) answers an HTML page with two forms: one sent as
 * multipart/form-data (text fields, repeated checkboxes, two file inputs),
 * one sent urlencoded. POST answers text/plain, one line per item, in
 * request order:
 *
 *   QUERY name=value            each query string parameter (decoded)
 *   COOKIE name=value           each cookie
 *   FIELD name=value            each form field (decoded)
 *   FILE field filename size crc32
 *                               each uploaded file: its size in bytes and
 *                               its CRC-32 (as zlib computes it), in hex
 *
 * Control characters in names and values are written as \r, \n, \t or
 * \xHH, and a backslash as \\, so that each item stays on one line.
 *
 * Files are never held in memory: their bytes go through a CRC as they
 * arrive. Fields are collected, at most FIELD_MAX bytes each, and the whole
 * answer is built in memory before a byte of it is sent, because nginx
 * stops sending the request body once the response has begun. A malformed
 * body is answered 400 with the reason.
 */
#include <scgi.h>

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define USAGE                                                                  \
  "usage: form [-t THREADS] [ADDRESS]\n"                                       \
  "  -t THREADS  handler threads (default: one per CPU)\n"                     \
  "  ADDRESS     unix:/PATH, HOST:PORT, [IPV6]:PORT or fd:N; without it,\n"    \
  "              the listener inherited from systemd or scgiserver\n"          \
  "example: form unix:/tmp/form.sock   or   form 127.0.0.1:4000\n"

#define FIELD_MAX (64 * 1024)        /* largest multipart field, bytes */
#define URLENCODED_MAX (1024 * 1024) /* largest urlencoded body, bytes */
#define ANSWER_MAX (4 * 1024 * 1024) /* largest answer, bytes */

static scgi_server *server;

static void on_signal(int sig)
{
  (void)sig;
  scgi_server_stop(server);
}

/* ---------------------------------------------------------------- CRC-32 */

/* The CRC-32 of zlib, gzip and PNG: reflected polynomial 0xEDB88320. The
 * table is built once in main(), before any thread reads it. */
static uint32_t crc_table[256];

static void crc32_init(void)
{
  for (uint32_t n = 0; n < 256; n++) {
    uint32_t c = n;
    for (int k = 0; k < 8; k++)
      c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    crc_table[n] = c;
  }
}

/* Continues a CRC (0 for no bytes yet) with `len` more bytes. */
static uint32_t crc32_update(uint32_t crc, const void *data, size_t len)
{
  const unsigned char *p = data;

  crc = ~crc;
  while (len--)
    crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
  return ~crc;
}

/* ---------------------------------------------------------------- answer */

/* The answer, built in memory: at most ANSWER_MAX bytes. */
struct text {
  char *data;
  size_t len, cap;
};

static int text_add(struct text *t, const void *bytes, size_t n)
{
  if (n > ANSWER_MAX - t->len)
    return SCGI_E2BIG;
  if (t->len + n > t->cap) {
    size_t cap = t->cap ? t->cap : 4096;
    char *grown;
    while (cap < t->len + n) /* no overflow: both are <= ANSWER_MAX */
      cap *= 2;
    if (!(grown = realloc(t->data, cap)))
      return SCGI_ENOMEM;
    t->data = grown;
    t->cap = cap;
  }
  memcpy(t->data + t->len, bytes, n);
  t->len += n;
  return 0;
}

static int text_str(struct text *t, const char *s)
{
  return text_add(t, s, strlen(s));
}

static int is_plain(char c)
{
  return (unsigned char)c >= 0x20 && c != 0x7f && c != '\\';
}

/* Appends bytes with control characters and '\' escaped (see the top). */
static int text_escaped(struct text *t, const char *s, size_t n)
{
  int rc = 0;

  while (n > 0 && rc == 0) {
    size_t plain = 0;
    char esc[8];
    while (plain < n && is_plain(s[plain]))
      plain++;
    if (plain > 0) {
      rc = text_add(t, s, plain);
    } else {
      switch (*s) {
      case '\\': rc = text_str(t, "\\\\"); break;
      case '\r': rc = text_str(t, "\\r"); break;
      case '\n': rc = text_str(t, "\\n"); break;
      case '\t': rc = text_str(t, "\\t"); break;
      default:
        snprintf(esc, sizeof esc, "\\x%02x", (unsigned char)*s);
        rc = text_str(t, esc);
      }
      plain = 1;
    }
    s += plain;
    n -= plain;
  }
  return rc;
}

/* Appends "KIND name=value\n" for each pair of a form. */
static int text_form(struct text *t, const char *kind, const scgi_form *form)
{
  size_t n = scgi_form_count(form);
  int rc = 0;

  for (size_t i = 0; i < n && rc == 0; i++) {
    const char *name, *value;
    size_t value_len;
    scgi_form_field(form, i, &name, &value, &value_len);
    if ((rc = text_str(t, kind)) == 0 &&
        (rc = text_escaped(t, name, strlen(name))) == 0 &&
        (rc = text_str(t, "=")) == 0 &&
        (rc = text_escaped(t, value, value_len)) == 0)
      rc = text_str(t, "\n");
  }
  return rc;
}

/* ---------------------------------------------------------------- bodies */

/* What the multipart callback keeps between calls. */
struct upload {
  struct text *answer;
  uint64_t size;        /* bytes of the current part so far */
  uint32_t crc;         /* CRC-32 of the current file so far */
  const char *too_big;  /* set when a field exceeds FIELD_MAX */
};

/* A plain field: "FIELD name=value", the value capped at FIELD_MAX. */
static int add_field(struct upload *up, scgi_part_event event,
                     const scgi_part *part, const char *data, size_t len)
{
  const char *name = scgi_part_name(part);
  int rc;

  switch (event) {
  case SCGI_PART_BEGIN:
    up->size = 0;
    if ((rc = text_str(up->answer, "FIELD ")) == 0 &&
        (rc = text_escaped(up->answer, name, strlen(name))) == 0)
      rc = text_str(up->answer, "=");
    return rc;
  case SCGI_PART_DATA:
    if (len > FIELD_MAX - up->size) {
      up->too_big = "a form field is larger than 64 KiB";
      return SCGI_EBODYSIZE;
    }
    up->size += len;
    return text_escaped(up->answer, data, len);
  case SCGI_PART_END:
    return text_str(up->answer, "\n");
  }
  return 0;
}

/* A complete file: "FILE field filename size crc32". */
static int add_file(struct upload *up, const scgi_part *part)
{
  const char *name = scgi_part_name(part);
  const char *filename = scgi_part_filename(part);
  char tail[64];
  int rc;

  snprintf(tail, sizeof tail, " %" PRIu64 " %08" PRIx32 "\n", up->size,
           up->crc);
  if ((rc = text_str(up->answer, "FILE ")) == 0 &&
      (rc = text_escaped(up->answer, name, strlen(name))) == 0 &&
      (rc = text_str(up->answer, " ")) == 0 &&
      (rc = text_escaped(up->answer, filename, strlen(filename))) == 0)
    rc = text_str(up->answer, tail);
  return rc;
}

/* Called by the multipart parser as the body streams in: a file's bytes
 * only go through the CRC, never into memory. */
static int on_part(void *arg, scgi_part_event event, const scgi_part *part,
                   const char *data, size_t len)
{
  struct upload *up = arg;

  if (!scgi_part_filename(part))
    return add_field(up, event, part, data, len);
  if (event == SCGI_PART_BEGIN) {
    up->size = 0;
    up->crc = 0;
  } else if (event == SCGI_PART_DATA) {
    up->size += len;
    up->crc = crc32_update(up->crc, data, len);
  } else {
    return add_file(up, part);
  }
  return 0; /* a negative value would stop the parser */
}

/* Streams a multipart/form-data body through on_part(). */
static int read_multipart(scgi_request *req, struct text *answer,
                          const char **why)
{
  struct upload up = {.answer = answer};
  scgi_multipart *mp = NULL;
  int rc;

  rc = scgi_multipart_new(scgi_request_content_type(req), on_part, &up, &mp);
  if (rc == 0)
    rc = scgi_multipart_read(mp, req);
  scgi_multipart_free(mp);
  if (up.too_big)
    *why = up.too_big;
  return rc;
}

/* Reads an application/x-www-form-urlencoded body (or refuses another
 * content type). */
static int read_urlencoded(scgi_request *req, struct text *answer)
{
  scgi_form *form = NULL;
  int rc = scgi_form_body(req, URLENCODED_MAX, &form);

  if (rc == 0)
    rc = text_form(answer, "FIELD ", form);
  scgi_form_free(form);
  return rc;
}

/* Whether an error is the client's fault (answered 400) rather than ours
 * or the connection's (answered 500, or nothing if the client left). */
static int is_bad_request(int rc)
{
  switch (rc) {
  case SCGI_EPERCENT: case SCGI_ENUL: case SCGI_EBODYSIZE:
  case SCGI_ECONTENTTYPE: case SCGI_ENOBOUNDARY: case SCGI_EMULTIPART:
  case SCGI_EPARTHEADER: case SCGI_ETOOMANYPARTS: case SCGI_EPARTSEND:
  case SCGI_E2BIG:
    return 1;
  }
  return 0;
}

/* ---------------------------------------------------------------- pages */

static const char page[] =
  "<!DOCTYPE html>\n"
  "<html lang=\"en\">\n"
  "<head>\n"
  "<meta charset=\"utf-8\">\n"
  "<title>libscgi form example</title>\n"
  "<style>body { font-family: sans-serif; max-width: 40em; margin: 2em; }"
  " label { display: block; margin: 0.5em 0; }"
  " fieldset label { display: inline; }</style>\n"
  "</head>\n"
  "<body>\n"
  "<h1>Form and uploads</h1>\n"
  "<p>Both forms post to this page, which answers with what it "
  "received.</p>\n"
  "<!-- No action attribute: the form posts to this page's URI. -->\n"
  "<form method=\"post\" enctype=\"multipart/form-data\">\n"
  "<label>Title <input type=\"text\" name=\"title\" "
  "value=\"Caf\xc3\xa9 cr\xc3\xa8me\"></label>\n"
  "<label>Author <input type=\"text\" name=\"author\"></label>\n"
  "<label>Comment<br><textarea name=\"comment\" rows=\"4\" cols=\"50\">"
  "Two lines,\nthe second one.</textarea></label>\n"
  "<fieldset><legend>Tags</legend>\n"
  "<label><input type=\"checkbox\" name=\"tags\" value=\"red\" checked> "
  "red</label>\n"
  "<label><input type=\"checkbox\" name=\"tags\" value=\"green\"> "
  "green</label>\n"
  "<label><input type=\"checkbox\" name=\"tags\" value=\"blue\" checked> "
  "blue</label>\n"
  "</fieldset>\n"
  "<label>File <input type=\"file\" name=\"file1\"></label>\n"
  "<label>Another file <input type=\"file\" name=\"file2\"></label>\n"
  "<button type=\"submit\">Send as multipart/form-data</button>\n"
  "</form>\n"
  "<h2>Without files</h2>\n"
  "<form method=\"post\" action=\"?sent=urlencoded\">\n"
  "<label>Search <input type=\"text\" name=\"q\" "
  "value=\"fish &amp; chips = 100%\"></label>\n"
  "<button type=\"submit\">Send urlencoded</button>\n"
  "</form>\n"
  "</body>\n"
  "</html>\n";

static int show_form(scgi_request *req)
{
  int rc = scgi_header(req, "Content-Type", "text/html; charset=utf-8");

  return rc ? rc : scgi_write(req, page, sizeof page - 1);
}

/* Answers an error status with the reason as text, and logs it. */
static int refuse(scgi_request *req, int code, const char *reason)
{
  const char *uri = scgi_request_uri(req);
  int rc;

  fprintf(stderr, "form: %s: %d %s\n", uri ? uri : "(no REQUEST_URI)", code,
          reason);
  rc = scgi_status(req, code, NULL);
  if (rc == 0)
    rc = scgi_header(req, "Content-Type", "text/plain; charset=utf-8");
  return rc ? rc : scgi_printf(req, "%s\n", reason);
}

/* Reads the whole request, then answers: see the top of the file. */
static int show_post(scgi_request *req)
{
  const char *type = scgi_request_content_type(req);
  const char *why = NULL;
  struct text answer = {0};
  scgi_form *query = NULL, *cookies = NULL;
  int rc;

  if ((rc = scgi_form_query(req, &query)) == 0 &&
      (rc = scgi_form_cookies(req, &cookies)) == 0 &&
      (rc = text_form(&answer, "QUERY ", query)) == 0 &&
      (rc = text_form(&answer, "COOKIE ", cookies)) == 0) {
    if (type && strncasecmp(type, "multipart/", 10) == 0)
      rc = read_multipart(req, &answer, &why);
    else
      rc = read_urlencoded(req, &answer);
  }
  scgi_form_free(query);
  scgi_form_free(cookies);
  if (rc == SCGI_E2BIG)
    why = "the answer would be larger than 4 MiB";
  if (rc == 0 && (rc = scgi_header(req, "Content-Type",
                                   "text/plain; charset=utf-8")) == 0)
    rc = scgi_write(req, answer.data, answer.len);
  else if (is_bad_request(rc))
    rc = refuse(req, 400, why ? why : scgi_strerror(rc));
  free(answer.data);
  return rc;
}

static int handle(scgi_request *req, void *arg)
{
  const char *method = scgi_request_method(req);
  int rc;

  (void)arg;
  if (method && (!strcmp(method, "GET") || !strcmp(method, "HEAD")))
    rc = show_form(req);
  else if (method && !strcmp(method, "POST"))
    rc = show_post(req);
  else if ((rc = scgi_header(req, "Allow", "GET, HEAD, POST")) == 0)
    rc = refuse(req, 405, "use GET or POST");
  if (rc < 0) {
    const char *uri = scgi_request_uri(req);
    fprintf(stderr, "form: %s: %s\n", uri ? uri : "(no REQUEST_URI)",
            scgi_strerror(rc));
  }
  return rc;
}

/* ---------------------------------------------------------------- main */

static int start(const char *address)
{
  int rc;

  if (!(server = scgi_server_new())) {
    fprintf(stderr, "form: %s\n", scgi_strerror(SCGI_ENOMEM));
    return 1;
  }
  rc = scgi_server_listen(server, address);
  if (rc == SCGI_ENOLISTENER) {
    fprintf(stderr, "form: %s.\nGive an address to listen on.\n" USAGE,
            scgi_strerror(rc));
    return 2;
  }
  if (rc < 0) {
    fprintf(stderr, "form: %s: %s\n", address ? address : "(inherited)",
            scgi_strerror(rc));
    return 1;
  }
  return 0;
}

int main(int argc, char **argv)
{
  struct sigaction sa = {.sa_handler = on_signal};
  long threads = 0;
  char *end;
  int opt, rc;

  while ((opt = getopt(argc, argv, "t:h")) != -1) {
    if (opt == 't') {
      errno = 0;
      threads = strtol(optarg, &end, 10);
      if (!errno && end != optarg && !*end && threads >= 0 && threads <= 1024)
        continue;
    }
    fputs(USAGE, opt == 'h' ? stdout : stderr);
    return opt == 'h' ? 0 : 2;
  }
  if (argc - optind > 1) {
    fputs(USAGE, stderr);
    return 2;
  }
  if ((rc = start(optind < argc ? argv[optind] : NULL)) != 0) {
    scgi_server_free(server);
    return rc;
  }
  crc32_init();
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  rc = scgi_serve(server, (unsigned)threads, handle, NULL);
  if (rc < 0)
    fprintf(stderr, "form: %s\n", scgi_strerror(rc));
  /* scgi_serve() also returns without a signal (scgiserver closed the
   * handoff socket): one arriving now must not reach a freed server. */
  sa.sa_handler = SIG_IGN;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  scgi_server_free(server);
  return rc < 0;
}
