/*
 * multipart.c - streaming multipart/form-data parser (RFC 7578, RFC 2046).
 *
 * Copyright (C) 2026 The libscgi authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * A part's content ends at the delimiter "\r\n--" boundary. Content is
 * scanned with memchr() for '\r', and each '\r' is compared with the whole
 * delimiter, so that bytes are handed to the callback straight from the
 * caller's buffer, in as few calls as the feeds allow. '\r' occurs in the
 * delimiter only as its first byte (a boundary has no CR), so a failed
 * comparison never hides a delimiter starting inside the compared bytes,
 * and the only bytes ever held back are the start of a delimiter cut by
 * the end of a feed: a prefix of the delimiter itself, which is therefore
 * all the parser needs to keep (as a count) to give them back as content
 * when the next feed shows they were not one.
 *
 * The preamble is scanned the same way, its bytes dropped, starting as if
 * "\r\n" had just been seen, since the first delimiter may open the body.
 *
 * Part headers are the only bytes copied: each line goes into one buffer,
 * which grows by doubling up to twice the header limit, and is rewritten
 * in place as "Name\0value\0" once complete. The decoded field name and
 * file name go after the last pair. Nothing else is allocated after
 * scgi_multipart_new(), whatever the size of the parts.
 */
#include "config.h"
#include "internal.h"

#include <stdlib.h>
#include <string.h>

#define DEFAULT_MAX_PART_HEADER_BYTES 16384
#define DEFAULT_MAX_PARTS 1000
#define MAX_BOUNDARY 70 /* RFC 2046 */
#define DELIM_PREFIX "\r\n--"
#define DELIM_PREFIX_LEN (sizeof DELIM_PREFIX - 1)
#define HEADER_BUFFER_START 1024
#define READ_CHUNK 65536

enum mp_state {
  MP_PREAMBLE,    /* before the first delimiter: bytes are dropped */
  MP_AFTER_DELIM, /* after a delimiter: padding, then CRLF or "--" */
  MP_HEADERS,     /* a part's header lines */
  MP_DATA,        /* a part's content */
  MP_EPILOGUE     /* after the final delimiter: bytes are dropped */
};

/* Where we are in the rest of a delimiter line. */
enum after_delim {
  AFTER_START,   /* right after the boundary */
  AFTER_PADDING, /* spaces or tabs seen: CRLF must follow */
  AFTER_CR,      /* '\r' seen: '\n' must follow */
  AFTER_DASH     /* '-' seen: a second '-' makes it the final delimiter */
};

struct scgi_part {
  const char *name;
  const char *filename;     /* NULL when not a file */
  const char *content_type; /* NULL when absent */
  const char *pairs;        /* "Name\0value\0" per header line, in order */
  size_t npairs;
};

struct scgi_multipart {
  scgi_part_fn fn;
  void *arg;
  size_t max_header_bytes;
  size_t max_parts;

  enum mp_state state;
  enum after_delim after;
  int error;     /* sticky */
  bool started;  /* something was fed: the limits are frozen */
  size_t nparts;
  size_t match;  /* bytes of the delimiter seen at the end of the last feed
                  * (held back: content if no delimiter after all) */

  char *hdr;        /* header buffer: pairs, then the line being read */
  size_t hdr_cap;
  size_t hdr_len;
  size_t line_start; /* offset of the line being read */
  size_t hdr_raw;    /* header bytes received for this part (the limit) */
  scgi_part part;

  size_t delim_len;
  char delim[DELIM_PREFIX_LEN + MAX_BOUNDARY]; /* "\r\n--" boundary */
};

/* ------------------------------------------------------------ characters */

/* ASCII only: header syntax must not depend on the caller's locale. */
static int ascii_lower(int c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

static bool ascii_alnum(int c)
{
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
         (c >= 'A' && c <= 'Z');
}

/* RFC 9110 token characters. */
static bool is_tchar(int c)
{
  return ascii_alnum(c) || (c != '\0' && strchr("!#$%&'*+-.^_`|~", c));
}

/* RFC 2046 bchars. */
static bool is_bchar(int c)
{
  return ascii_alnum(c) || (c != '\0' && strchr("'()+_,-./:=? ", c));
}

static bool is_ows(int c) { return c == ' ' || c == '\t'; }

static const char *skip_ows(const char *s)
{
  while (is_ows(*s))
    s++;
  return s;
}

/* Compares n bytes of s with a lowercase literal, ignoring case. */
static bool span_is(const char *s, size_t n, const char *lower)
{
  for (size_t i = 0; i < n; i++)
    if (lower[i] == '\0' || ascii_lower((unsigned char)s[i]) != lower[i])
      return false;
  return lower[n] == '\0';
}

static bool name_equal(const char *a, const char *b)
{
  while (*a != '\0' && ascii_lower((unsigned char)*a) ==
                           ascii_lower((unsigned char)*b)) {
    a++;
    b++;
  }
  return *a == '\0' && *b == '\0';
}

/* Skips OWS and a word (type/subtype or disposition type) matched without
 * regard to case, which must end there: "form-dataX" is another word. */
static bool skip_word(const char **s, const char *lower)
{
  const char *p = skip_ows(*s);
  size_t n = strlen(lower);

  if (!span_is(p, n, lower) || (p[n] != '\0' && p[n] != ';' && !is_ows(p[n])))
    return false;
  *s = p + n;
  return true;
}

/* ------------------------------------------------------------ parameters */

/* One `; name=value` parameter of a header value, as spans of it. */
struct param {
  const char *name;
  size_t name_len;
  const char *value; /* inside the quotes when quoted */
  size_t value_len;
  bool quoted;
};

/* Whether q starts a backslash escape. With `any` (RFC 2045 quoted-pair)
 * a backslash escapes any byte. Without it only `\"` is one: browsers
 * send backslashes as they are (a Windows path keeps them all), and only
 * older clients escaped a quote that way. */
static bool is_escape(const char *q, bool any)
{
  return q[0] == '\\' && q[1] != '\0' && (any || q[1] == '"');
}

/* Reads a value: a quoted-string, or a run of bytes up to OWS, ';' or the
 * end (more than a token: tolerated, each caller checks its values). */
static bool read_value(const char **s, struct param *p, bool any)
{
  const char *q = *s;

  p->quoted = *q == '"';
  if (!p->quoted) {
    while (*q != '\0' && *q != ';' && *q != '"' && !is_ows(*q))
      q++;
    p->value = *s;
    p->value_len = (size_t)(q - *s);
    *s = q;
    return p->value_len > 0;
  }
  for (p->value = ++q; *q != '"'; q += is_escape(q, any) ? 2 : 1)
    if (*q == '\0')
      return false;
  p->value_len = (size_t)(q - p->value);
  *s = q + 1;
  return true;
}

/* Reads the next parameter after *s. Returns 1 when one was read, 0 at the
 * end of the value, -1 on a syntax error. A trailing ';' is tolerated. */
static int next_param(const char **s, struct param *p, bool any)
{
  const char *q = skip_ows(*s);

  if (*q == ';')
    q = skip_ows(q + 1);
  else if (*q != '\0')
    return -1;
  if (*q == '\0')
    return 0;
  for (p->name = q; is_tchar((unsigned char)*q); q++)
    ;
  p->name_len = (size_t)(q - p->name);
  q = skip_ows(q);
  if (p->name_len == 0 || *q != '=')
    return -1;
  q = skip_ows(q + 1);
  if (!read_value(&q, p, any))
    return -1;
  *s = q;
  return 1;
}

/* Copies a parameter's value without its quotes and escapes, then a NUL.
 * `out` has room for value_len + 1 bytes. Returns the length. */
static size_t unquote(const struct param *p, bool any, char *out)
{
  const char *q = p->value, *end = p->value + p->value_len;
  size_t n = 0;

  while (q < end) {
    if (p->quoted && is_escape(q, any))
      q++;
    out[n++] = *q++;
  }
  out[n] = '\0';
  return n;
}

/* ------------------------------------------------------------- boundary */

static int take_boundary(const struct param *p, char *out, size_t *len)
{
  char tmp[2 * MAX_BOUNDARY + 1]; /* every byte may be escaped */
  size_t n;

  if (p->value_len > 2 * MAX_BOUNDARY)
    return SCGI_ENOBOUNDARY;
  n = unquote(p, true, tmp);
  if (n == 0 || n > MAX_BOUNDARY || tmp[n - 1] == ' ')
    return SCGI_ENOBOUNDARY;
  for (size_t i = 0; i < n; i++)
    if (!is_bchar((unsigned char)tmp[i]))
      return SCGI_ENOBOUNDARY;
  memcpy(out, tmp, n);
  *len = n;
  return 0;
}

/* Finds the one boundary parameter of a multipart/form-data type. */
static int parse_content_type(const char *ct, char *boundary, size_t *len)
{
  struct param p;
  bool found = false;
  int r, rc;

  if (ct == NULL || !skip_word(&ct, "multipart/form-data"))
    return SCGI_ECONTENTTYPE;
  while ((r = next_param(&ct, &p, true)) > 0) {
    if (!span_is(p.name, p.name_len, "boundary"))
      continue;
    if (found) /* two boundaries: which one the client used is a guess */
      return SCGI_ENOBOUNDARY;
    if ((rc = take_boundary(&p, boundary, len)) != 0)
      return rc;
    found = true;
  }
  return r < 0 || !found ? SCGI_ENOBOUNDARY : 0;
}

/* ---------------------------------------------------------------- setup */

SCGI_API int scgi_multipart_new(const char *content_type, scgi_part_fn fn,
                                void *arg, scgi_multipart **out)
{
  char boundary[MAX_BOUNDARY];
  size_t len = 0;
  scgi_multipart *mp;
  int rc;

  if (out == NULL || fn == NULL)
    return SCGI_EINVAL;
  *out = NULL;
  if ((rc = parse_content_type(content_type, boundary, &len)) != 0)
    return rc;
  if ((mp = calloc(1, sizeof *mp)) == NULL)
    return SCGI_ENOMEM;
  mp->fn = fn;
  mp->arg = arg;
  mp->max_header_bytes = DEFAULT_MAX_PART_HEADER_BYTES;
  mp->max_parts = DEFAULT_MAX_PARTS;
  mp->state = MP_PREAMBLE;
  mp->match = 2; /* as if after "\r\n": the body may open with "--" */
  memcpy(mp->delim, DELIM_PREFIX, DELIM_PREFIX_LEN);
  memcpy(mp->delim + DELIM_PREFIX_LEN, boundary, len);
  mp->delim_len = DELIM_PREFIX_LEN + len;
  *out = mp;
  return 0;
}

SCGI_API int scgi_multipart_set(scgi_multipart *mp, scgi_option option,
                                size_t value)
{
  if (mp == NULL || value == 0)
    return SCGI_EINVAL;
  if (option == SCGI_OPT_MAX_PART_HEADER_BYTES) {
    /* Bounded so that twice the limit, the most the header buffer can
     * need, never overflows. */
    if (value > SCGI__LIMIT_MAX_HEADER_BYTES)
      return SCGI_EINVAL;
  } else if (option != SCGI_OPT_MAX_PARTS) {
    return SCGI_EINVAL;
  }
  if (mp->started)
    return SCGI_ESTATE;
  if (option == SCGI_OPT_MAX_PARTS)
    mp->max_parts = value;
  else
    mp->max_header_bytes = value;
  return 0;
}

SCGI_API void scgi_multipart_free(scgi_multipart *mp)
{
  if (mp == NULL)
    return;
  free(mp->hdr);
  free(mp);
}

/* ------------------------------------------------------------ callbacks */

static void fail(scgi_multipart *mp, int code)
{
  if (mp->error == 0)
    mp->error = code;
}

static void notify(scgi_multipart *mp, scgi_part_event event,
                   const char *data, size_t len)
{
  int rc;

  if (mp->error != 0)
    return;
  rc = mp->fn(mp->arg, event, &mp->part, data, len);
  if (rc < 0)
    mp->error = rc;
}

/* Hands content to the callback; preamble bytes are dropped. */
static void emit(scgi_multipart *mp, const char *data, size_t len)
{
  if (len > 0 && mp->state == MP_DATA)
    notify(mp, SCGI_PART_DATA, data, len);
}

/* ------------------------------------------------------------- content */

static void delimiter_found(scgi_multipart *mp)
{
  mp->match = 0;
  if (mp->state == MP_DATA)
    notify(mp, SCGI_PART_END, NULL, 0);
  mp->state = MP_AFTER_DELIM;
  mp->after = AFTER_START;
}

/* Continues a delimiter whose first `match` bytes ended the last feed.
 * Returns the bytes consumed: 0 when it was no delimiter after all, the
 * held bytes then being given back as content and `data` to be scanned
 * afresh (its first byte may be the '\r' of a real delimiter). */
static size_t resume(scgi_multipart *mp, const char *data, size_t len)
{
  size_t want = mp->delim_len - mp->match;
  size_t n = len < want ? len : want;
  size_t held = mp->match;

  if (memcmp(data, mp->delim + held, n) != 0) {
    mp->match = 0;
    emit(mp, mp->delim, held);
    return 0;
  }
  mp->match += n;
  if (mp->match == mp->delim_len)
    delimiter_found(mp);
  return n;
}

/* Scans for the delimiter; content before it goes to the callback in one
 * piece, straight from `data`. A delimiter cut by the end of `data` is
 * held back as `match`. Returns the bytes consumed. */
static size_t scan(scgi_multipart *mp, const char *data, size_t len)
{
  const char *end = data + len, *p = data;

  while ((p = memchr(p, '\r', (size_t)(end - p))) != NULL) {
    size_t avail = (size_t)(end - p);
    size_t n = avail < mp->delim_len ? avail : mp->delim_len;
    if (memcmp(p, mp->delim, n) == 0) {
      emit(mp, data, (size_t)(p - data));
      mp->match = n;
      if (n == mp->delim_len)
        delimiter_found(mp);
      return (size_t)(p - data) + n;
    }
    p++;
  }
  emit(mp, data, len);
  return len;
}

/* ------------------------------------------------------ delimiter lines */

static void begin_part(scgi_multipart *mp)
{
  if (mp->nparts >= mp->max_parts) {
    fail(mp, SCGI_ETOOMANYPARTS);
    return;
  }
  mp->nparts++;
  mp->state = MP_HEADERS;
  mp->hdr_len = 0;
  mp->line_start = 0;
  mp->hdr_raw = 0;
  memset(&mp->part, 0, sizeof mp->part);
}

/* One byte of what follows a boundary: transport padding then CRLF, or
 * "--" for the final one. Anything else means that the boundary occurs
 * inside the content, which RFC 2046 forbids: refused, not guessed at. */
static size_t after_delimiter(scgi_multipart *mp, char c)
{
  enum after_delim at = mp->after;

  if (at == AFTER_START && c == '-')
    mp->after = AFTER_DASH;
  else if (at == AFTER_DASH && c == '-')
    mp->state = MP_EPILOGUE;
  else if ((at == AFTER_START || at == AFTER_PADDING) && is_ows(c))
    mp->after = AFTER_PADDING;
  else if ((at == AFTER_START || at == AFTER_PADDING) && c == '\r')
    mp->after = AFTER_CR;
  else if (at == AFTER_CR && c == '\n')
    begin_part(mp);
  else
    fail(mp, SCGI_EMULTIPART);
  return 1;
}

/* ------------------------------------------------------------- headers */

/* Makes room for `need` bytes in the header buffer, doubling it, but not
 * beyond what a header block within the limit can need: its lines, then
 * the decoded name and file name, which are shorter than their line. */
static bool reserve(scgi_multipart *mp, size_t need)
{
  size_t cap = mp->hdr_cap ? mp->hdr_cap : HEADER_BUFFER_START;
  size_t most = 2 * mp->max_header_bytes + 2; /* limit <= 1 GiB */
  char *more;

  if (need <= mp->hdr_cap)
    return true;
  while (cap < need)
    cap *= 2; /* need <= most, so no overflow */
  if (cap > most)
    cap = most;
  if ((more = realloc(mp->hdr, cap)) == NULL)
    return false;
  mp->hdr = more;
  mp->hdr_cap = cap;
  return true;
}

/* Looks a header up in "Name\0value\0" pairs; counts its occurrences. */
static const char *find_header(const scgi_part *part, const char *name,
                               size_t *count)
{
  const char *p = part->pairs, *found = NULL;

  *count = 0;
  for (size_t i = 0; i < part->npairs; i++) {
    const char *value = p + strlen(p) + 1;
    if (name_equal(p, name) && (*count)++ == 0)
      found = value;
    p = value + strlen(value) + 1;
  }
  return found;
}

/* The byte that a browser escape at `h` (after its '%') stands for, or 0.
 * The caller has checked that two bytes follow the '%'. */
static char browser_escape(const char *h)
{
  if (h[0] == '2' && h[1] == '2')
    return '"';
  if (h[0] == '0' && (h[1] == 'D' || h[1] == 'd'))
    return '\r';
  if (h[0] == '0' && (h[1] == 'A' || h[1] == 'a'))
    return '\n';
  return 0;
}

/* Undoes what the HTML standard does to field and file names: '"', CR
 * and LF become %22, %0D and %0A, every other byte ('%' included) is sent
 * as it is. So exactly these three escapes are decoded, in place. */
static size_t undo_browser_escapes(char *s, size_t len)
{
  size_t in = 0, out = 0;
  char c;

  while (in < len) {
    if (s[in] == '%' && len - in >= 3 && (c = browser_escape(s + in + 1))) {
      s[out++] = c;
      in += 3;
    } else {
      s[out++] = s[in++];
    }
  }
  s[out] = '\0';
  return out;
}

/* Appends the decoded value of a name or filename parameter to the header
 * buffer, whose room was reserved by the caller. */
static const char *store_param(scgi_multipart *mp, const struct param *p)
{
  char *dst = mp->hdr + mp->hdr_len;
  size_t n = undo_browser_escapes(dst, unquote(p, false, dst));

  mp->hdr_len += n + 1;
  return dst;
}

/* Finds the name and filename parameters; either one twice is refused,
 * since two parsers could then disagree about which one counts. */
static int disposition_params(const char *value, struct param *name,
                              struct param *file)
{
  struct param p;
  int r;

  if (!skip_word(&value, "form-data"))
    return SCGI_EMULTIPART;
  name->name = file->name = NULL;
  while ((r = next_param(&value, &p, false)) > 0) {
    struct param *slot = span_is(p.name, p.name_len, "name")       ? name
                         : span_is(p.name, p.name_len, "filename") ? file
                                                                   : NULL;
    if (slot != NULL && slot->name != NULL)
      return SCGI_EMULTIPART;
    if (slot != NULL)
      *slot = p;
  }
  return r < 0 || name->name == NULL ? SCGI_EMULTIPART : 0;
}

/* Reads Content-Disposition into part->name and part->filename. */
static int parse_disposition(scgi_multipart *mp)
{
  struct param name, file;
  size_t count, room;
  const char *value;
  int rc;

  value = find_header(&mp->part, "content-disposition", &count);
  if (count != 1)
    return SCGI_EMULTIPART;
  /* Decoded, the two values fit in the bytes of the whole header value.
   * Reserved first: the spans found below point into the buffer. */
  room = strlen(value) + 2;
  if (!reserve(mp, mp->hdr_len + room))
    return SCGI_ENOMEM;
  mp->part.pairs = mp->hdr;
  value = find_header(&mp->part, "content-disposition", &count);
  if ((rc = disposition_params(value, &name, &file)) != 0)
    return rc;
  mp->part.name = store_param(mp, &name);
  if (file.name != NULL)
    mp->part.filename = store_param(mp, &file);
  return mp->part.name[0] == '\0' ? SCGI_EMULTIPART : 0;
}

static void end_headers(scgi_multipart *mp)
{
  size_t count;
  int rc;

  mp->hdr_len = mp->line_start; /* drop the empty line */
  mp->part.pairs = mp->hdr;
  if ((rc = parse_disposition(mp)) != 0) {
    fail(mp, rc);
    return;
  }
  mp->part.content_type = find_header(&mp->part, "content-type", &count);
  if (count > 1) {
    fail(mp, SCGI_EMULTIPART);
    return;
  }
  mp->state = MP_DATA;
  mp->match = 0;
  notify(mp, SCGI_PART_BEGIN, NULL, 0);
}

/* Rewrites the complete line at line_start, "Name: value\r\n", in place
 * as "Name\0value\0", the value without surrounding whitespace. */
static int store_line(scgi_multipart *mp)
{
  char *line = mp->hdr + mp->line_start;
  size_t len = mp->hdr_len - mp->line_start - 2, n = 0, vlen;
  const char *value;

  if (line[0] == ' ' || line[0] == '\t') /* obsolete line folding */
    return SCGI_EMULTIPART;
  if (memchr(line, '\r', len) != NULL || memchr(line, '\0', len) != NULL)
    return SCGI_EMULTIPART;
  while (n < len && is_tchar((unsigned char)line[n]))
    n++;
  if (n == 0 || n == len || line[n] != ':')
    return SCGI_EMULTIPART;
  value = skip_ows(line + n + 1); /* stops at the '\r' at the latest */
  vlen = (size_t)(line + len - value);
  while (vlen > 0 && is_ows(value[vlen - 1]))
    vlen--;
  line[n] = '\0';
  memmove(line + n + 1, value, vlen);
  line[n + 1 + vlen] = '\0';
  mp->hdr_len = mp->line_start + n + 2 + vlen;
  mp->line_start = mp->hdr_len;
  mp->part.npairs++;
  return 0;
}

/* A line ended with '\n' at hdr_len - 1. */
static void end_line(scgi_multipart *mp)
{
  size_t len = mp->hdr_len - mp->line_start;
  int rc;

  if (len < 2 || mp->hdr[mp->hdr_len - 2] != '\r')
    fail(mp, SCGI_EMULTIPART); /* a bare LF */
  else if (len == 2)
    end_headers(mp);
  else if ((rc = store_line(mp)) != 0)
    fail(mp, rc);
}

/* Copies header bytes up to the end of a line, counting them against the
 * limit as they arrive, so that an endless line is refused at once. */
static size_t read_headers(scgi_multipart *mp, const char *data, size_t len)
{
  const char *nl = memchr(data, '\n', len);
  size_t n = nl != NULL ? (size_t)(nl - data) + 1 : len;

  if (n > mp->max_header_bytes - mp->hdr_raw) {
    fail(mp, SCGI_EPARTHEADER);
    return n;
  }
  if (!reserve(mp, mp->hdr_len + n)) {
    fail(mp, SCGI_ENOMEM);
    return n;
  }
  memcpy(mp->hdr + mp->hdr_len, data, n);
  mp->hdr_len += n;
  mp->hdr_raw += n;
  if (nl != NULL)
    end_line(mp);
  return n;
}

/* ------------------------------------------------------------- feeding */

/* Consumes bytes in the current state; returns how many. */
static size_t step(scgi_multipart *mp, const char *data, size_t len)
{
  switch (mp->state) {
  case MP_PREAMBLE:
  case MP_DATA:
    return mp->match > 0 ? resume(mp, data, len) : scan(mp, data, len);
  case MP_AFTER_DELIM:
    return after_delimiter(mp, data[0]);
  case MP_HEADERS:
    return read_headers(mp, data, len);
  case MP_EPILOGUE:
    break;
  }
  return len;
}

SCGI_API int scgi_multipart_feed(scgi_multipart *mp, const char *data,
                                 size_t len)
{
  size_t off = 0;

  if (mp == NULL || (data == NULL && len > 0))
    return SCGI_EINVAL;
  mp->started = true;
  while (off < len && mp->error == 0)
    off += step(mp, data + off, len - off);
  return mp->error;
}

SCGI_API int scgi_multipart_end(scgi_multipart *mp)
{
  if (mp == NULL)
    return SCGI_EINVAL;
  mp->started = true;
  if (mp->state != MP_EPILOGUE)
    fail(mp, SCGI_EPARTSEND);
  return mp->error;
}

SCGI_API int scgi_multipart_read(scgi_multipart *mp, scgi_request *req)
{
  char *buf;
  ssize_t n;

  if (mp == NULL || req == NULL)
    return SCGI_EINVAL;
  if (mp->error != 0)
    return mp->error;
  /* On the heap: the caller's thread may have a small stack. */
  if ((buf = malloc(READ_CHUNK)) == NULL)
    return SCGI_ENOMEM;
  while ((n = scgi_read(req, buf, READ_CHUNK)) > 0)
    if (scgi_multipart_feed(mp, buf, (size_t)n) != 0)
      break;
  free(buf);
  /* The body is cut: what was fed cannot be completed later. */
  if (n < 0)
    fail(mp, (int)n);
  return scgi_multipart_end(mp);
}

/* ---------------------------------------------------------------- parts */

SCGI_API const char *scgi_part_name(const scgi_part *part)
{
  return part->name;
}

SCGI_API const char *scgi_part_filename(const scgi_part *part)
{
  return part->filename;
}

SCGI_API const char *scgi_part_content_type(const scgi_part *part)
{
  return part->content_type;
}

SCGI_API const char *scgi_part_header(const scgi_part *part,
                                      const char *name)
{
  size_t count;

  if (part == NULL || name == NULL)
    return NULL;
  return find_header(part, name, &count);
}
