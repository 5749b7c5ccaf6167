/*
 * parser.c - incremental, zero-copy parser of the SCGI header netstring.
 *
 * Copyright (C) 2026 The libscgi authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * The caller passes the whole request so far on every call. `pos` is the
 * first byte never examined, and each call starts there, so feeding a
 * 64 KiB value one byte at a time stays linear. Only offsets are kept:
 * the buffer may move between calls.
 *
 * Inside the header block, the parser looks for NULs 64 or 16 bytes at a
 * time and walks the resulting bit mask, so that its cost stays close to
 * one pass that merely finds every NUL. Each NUL closes a name or a value;
 * every rule is checked at the byte that decides it, so an error is
 * reported as soon as the bytes allow, at the same offset however the
 * request was split into calls.
 */
#include "config.h"
#include "internal.h"

#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

/* The rule that the value being read must follow. */
enum value_kind { VALUE_ANY, VALUE_CONTENT_LENGTH, VALUE_SCGI };

#define CL_NAME "CONTENT_LENGTH"
#define CL_NAME_LEN (sizeof CL_NAME - 1)
#define SCGI_NAME "SCGI"
#define SCGI_NAME_LEN (sizeof SCGI_NAME - 1)

/* ---------------------------------------------------------------- setup */

SCGI_API void scgi_parser_reset(scgi_parser *p)
{
  if (p == NULL)
    return;
  p->state = SCGI__PARSE_LENGTH;
  p->started = false;
  p->seen_scgi = false;
  p->value_kind = VALUE_ANY;
  p->result = 0;
  p->error_offset = 0;
  p->block_len = 0;
  p->block_start = 0;
  p->pos = 0;
  p->pair_start = 0;
  p->value_start = 0;
  p->content_length = -1;
  p->base = NULL;
  p->nvars = 0;
}

void scgi__parser_init(scgi_parser *p)
{
  /* The inline table is written before it is read: no need to clear it. */
  memset(p, 0, offsetof(struct scgi_parser, inline_vars));
  p->max_header_bytes = SCGI__DEFAULT_MAX_HEADER_BYTES;
  p->max_vars = SCGI__DEFAULT_MAX_VARS;
  p->vars = NULL;
  p->vars_cap = 0;
  scgi_parser_reset(p);
}

void scgi__parser_cleanup(scgi_parser *p)
{
  free(p->vars);
  p->vars = NULL;
  p->vars_cap = 0;
  scgi_parser_reset(p);
}

SCGI_API scgi_parser *scgi_parser_new(void)
{
  scgi_parser *p = malloc(sizeof *p);
  if (p != NULL)
    scgi__parser_init(p);
  return p;
}

SCGI_API void scgi_parser_free(scgi_parser *p)
{
  if (p == NULL)
    return;
  scgi__parser_cleanup(p);
  free(p);
}

SCGI_API int scgi_parser_set(scgi_parser *p, scgi_option option, size_t value)
{
  if (p == NULL || value < 1)
    return SCGI_EINVAL;
  if (option == SCGI_OPT_MAX_HEADER_BYTES) {
    if (value > SCGI__LIMIT_MAX_HEADER_BYTES)
      return SCGI_EINVAL;
  } else if (option != SCGI_OPT_MAX_VARS) {
    return SCGI_EINVAL;
  }
  /* A limit changed halfway would judge the same bytes two ways. */
  if (p->started)
    return SCGI_ESTATE;
  if (option == SCGI_OPT_MAX_HEADER_BYTES)
    p->max_header_bytes = value;
  else
    p->max_vars = value;
  return 0;
}

/* ---------------------------------------------------------------- helpers */

/* Makes the error sticky: the same bytes can never become valid. */
static long fail(scgi_parser *p, scgi_error code, size_t offset)
{
  p->state = SCGI__PARSE_ERROR;
  p->result = code;
  p->error_offset = offset;
  return code;
}

static size_t block_end(const scgi_parser *p)
{
  return p->block_start + p->block_len;
}

static struct scgi__var *table(scgi_parser *p)
{
  return p->vars != NULL ? p->vars : p->inline_vars;
}

static const struct scgi__var *const_table(const scgi_parser *p)
{
  return p->vars != NULL ? p->vars : p->inline_vars;
}

static size_t table_cap(const scgi_parser *p)
{
  return p->vars != NULL ? p->vars_cap : SCGI__INLINE_VARS;
}

/* Doubles the table, moving it to the heap on first growth. It never holds
 * more than max_vars entries, which bounds what a request can allocate. */
static int grow_table(scgi_parser *p)
{
  size_t cap = table_cap(p);
  struct scgi__var *t;

  if (cap > SIZE_MAX / 2 / sizeof *t)
    return SCGI_ENOMEM;
  cap *= 2;
  if (cap > p->max_vars)
    cap = p->max_vars;
  t = realloc(p->vars, cap * sizeof *t);
  if (t == NULL)
    return SCGI_ENOMEM;
  if (p->vars == NULL)
    memcpy(t, p->inline_vars, p->nvars * sizeof *t);
  p->vars = t;
  p->vars_cap = cap;
  return 0;
}

/* ---------------------------------------------------------------- length */

/* Switches to the header block once the ':' is read. */
static long start_block(scgi_parser *p)
{
  p->block_start = p->pos + 1;
  p->pos = p->block_start;
  p->pair_start = p->pos;
  p->state = SCGI__PARSE_NAME;
  /* An empty block cannot hold CONTENT_LENGTH; no need to wait for ','. */
  if (p->block_len == 0)
    return fail(p, SCGI_ECLFIRST, p->block_start);
  return 0;
}

/* Reads the netstring length digits. The claimed length is compared with
 * the limit at every digit, so a huge claim is refused before anything is
 * waited for or allocated, and the value can never overflow. */
static long parse_length(scgi_parser *p, const char *buf, size_t len)
{
  size_t at = p->pos, value = p->block_len;

  for (; at < len; at++) {
    unsigned digit = (unsigned)(unsigned char)buf[at] - '0';
    if (buf[at] == ':' && at > 0)
      break;
    if (digit > 9)
      return fail(p, at == 0 ? SCGI_ELENDIGIT : SCGI_ECOLON, at);
    if (at == 1 && value == 0)
      return fail(p, SCGI_ELENZERO, 0);
    if ((uint64_t)value * 10 + digit > p->max_header_bytes)
      return fail(p, SCGI_ETOOBIG, at);
    value = value * 10 + digit;
  }
  p->pos = at;
  p->block_len = value;
  return at < len ? start_block(p) : 0;
}

/* ---------------------------------------------------------------- values */

/* CONTENT_LENGTH: plain decimal digits, no leading zero, fits int64. The
 * bytes are checked as they arrive ([from, to) are new ones), so "-1" is
 * refused at the '-' without waiting for the rest. */
static long check_content_length(scgi_parser *p, const char *buf, size_t from,
                                 size_t to, bool closed)
{
  size_t start = p->value_start;
  for (size_t i = from; i < to; i++) {
    unsigned digit = (unsigned)(unsigned char)buf[i] - '0';
    if (digit > 9)
      return fail(p, SCGI_ECLVALUE, i);
    if (i > start && p->content_length == 0)
      return fail(p, SCGI_ECLVALUE, start); /* leading zero */
    if (p->content_length > (INT64_MAX - (int64_t)digit) / 10)
      return fail(p, SCGI_ECLVALUE, i);
    p->content_length = p->content_length * 10 + digit;
  }
  if (closed && to == start)
    return fail(p, SCGI_ECLVALUE, start);
  return 0;
}

/* SCGI: exactly "1". */
static long check_scgi(scgi_parser *p, const char *buf, size_t from,
                       size_t to, bool closed)
{
  size_t start = p->value_start;
  for (size_t i = from; i < to; i++)
    if (i > start || buf[i] != '1')
      return fail(p, SCGI_ESCGIVALUE, i);
  if (closed && to == start)
    return fail(p, SCGI_ESCGIVALUE, start);
  return 0;
}

/* Checks the bytes of the open value in [from, to), `to` being its NUL
 * when `closed`. */
static long check_value(scgi_parser *p, const char *buf, size_t from,
                        size_t to, bool closed)
{
  if (from < p->value_start)
    from = p->value_start;
  if (p->value_kind == VALUE_CONTENT_LENGTH)
    return check_content_length(p, buf, from, to, closed);
  if (p->value_kind == VALUE_SCGI)
    return check_scgi(p, buf, from, to, closed);
  return 0;
}

/* ---------------------------------------------------------------- pairs */

/* Compares by length first: almost every name fails that test at once. */
static inline enum value_kind name_kind(const char *name, size_t len)
{
  if (len == CL_NAME_LEN && memcmp(name, CL_NAME, CL_NAME_LEN) == 0)
    return VALUE_CONTENT_LENGTH;
  if (len == SCGI_NAME_LEN && memcmp(name, SCGI_NAME, SCGI_NAME_LEN) == 0)
    return VALUE_SCGI;
  return VALUE_ANY;
}

/* Lengths of the names that have a rule: 0, SCGI and CONTENT_LENGTH. Taken
 * modulo 32, so that names of 32, 36 or 46 bytes also get a closer look,
 * which is harmless, and the test costs no extra branch. */
#define RULE_LENGTHS (1u << 0 | 1u << SCGI_NAME_LEN | 1u << CL_NAME_LEN)

static inline bool rule_length(size_t len)
{
  return (RULE_LENGTHS >> (len & 31) & 1) != 0;
}

/* The state of the pair loop, kept in locals (the compiler puts them in
 * registers) while a call walks the NULs, and written back to the parser
 * at the end: stores into the variable table could otherwise alias the
 * parser's fields and force reloads at every NUL. */
struct walk {
  struct scgi__var *tab;
  struct scgi__var *v;    /* entry of the variable being read */
  struct scgi__var *room; /* a name at v < room needs no table check */
  size_t mark;            /* first byte of the name or value being read */
  size_t fast_end;        /* a value ending before it needs no check;
                           * 0 while the value being read has a rule */
  size_t end;             /* block end */
  size_t from;            /* bytes before it were checked by earlier calls */
  enum value_kind kind;   /* rule of the value being read */
  bool in_value;
  bool block_done;
};

/* Names at entries below the last usable one take the fast path: after
 * that one, the table grows or the request has too many variables. The
 * first name always has a rule, so it never does. */
static void walk_room(struct walk *w, const scgi_parser *p, bool first)
{
  size_t cap = table_cap(p);
  size_t usable = cap < p->max_vars ? cap : p->max_vars;
  w->room = first ? w->tab : w->tab + usable - 1;
}

static void walk_load(struct walk *w, scgi_parser *p)
{
  w->tab = table(p);
  w->v = w->tab + p->nvars;
  walk_room(w, p, p->nvars == 0 && p->state == SCGI__PARSE_NAME);
  w->in_value = p->state == SCGI__PARSE_VALUE;
  w->mark = w->in_value ? p->value_start : p->pair_start;
  w->end = block_end(p);
  w->from = p->pos;
  w->kind = (enum value_kind)p->value_kind;
  w->block_done = false;
  w->fast_end = !w->in_value || (w->kind == VALUE_ANY && w->v < w->room)
                    ? w->end - 1 : 0;
}

static void walk_store(const struct walk *w, scgi_parser *p)
{
  p->nvars = (size_t)(w->v - w->tab);
  p->value_kind = (unsigned char)w->kind;
  if (w->block_done)
    p->state = SCGI__PARSE_COMMA;
  else if (w->in_value)
    p->state = SCGI__PARSE_VALUE, p->value_start = w->mark;
  else
    p->state = SCGI__PARSE_NAME, p->pair_start = w->mark;
}

/* Makes room for one more entry. On failure the parser is left so that a
 * later call resumes at this name's NUL. */
static long walk_grow(struct walk *w, scgi_parser *p, size_t nul)
{
  size_t n = (size_t)(w->v - w->tab);
  walk_store(w, p);
  if (grow_table(p) != 0) {
    p->pos = nul;
    return SCGI_ENOMEM;
  }
  w->tab = table(p);
  w->v = w->tab + n;
  walk_room(w, p, false);
  return 0;
}

static inline void record_name(struct walk *w, size_t nul)
{
  w->v->name = (uint32_t)w->mark;
  w->v->name_len = (uint32_t)(nul - w->mark);
  w->mark = nul + 1;
  w->in_value = true;
}

static inline void record_value(struct walk *w, size_t nul)
{
  w->v->value = (uint32_t)w->mark;
  w->v->value_len = (uint32_t)(nul - w->mark);
  w->v++;
  w->mark = nul + 1;
  w->in_value = false;
}

/* A name that is empty, first, CONTENT_LENGTH or SCGI, or that takes the
 * last usable entry. A second CONTENT_LENGTH or SCGI is how request
 * smuggling starts; other duplicates are real traffic (two Cookie lines)
 * and are kept. */
static long name_rules(struct walk *w, scgi_parser *p, const char *buf,
                       size_t nul)
{
  size_t at = w->mark, len = nul - at;
  enum value_kind kind = name_kind(buf + at, len);
  bool first = w->v == w->tab;

  if (len == 0)
    return fail(p, SCGI_EEMPTYNAME, at);
  if (first != (kind == VALUE_CONTENT_LENGTH))
    return fail(p, first ? SCGI_ECLFIRST : SCGI_ECLDUP, at);
  if (kind == VALUE_SCGI && p->seen_scgi)
    return fail(p, SCGI_ESCGIDUP, at);
  if (w->v == w->tab + table_cap(p) && walk_grow(w, p, nul) != 0)
    return SCGI_ENOMEM;
  if (first) {
    p->content_length = 0;
    walk_room(w, p, false);
  }
  /* Its value goes to value_rules unless nothing is special about it. */
  w->kind = kind;
  w->fast_end = kind == VALUE_ANY && w->v < w->room ? w->end - 1 : 0;
  record_name(w, nul);
  return 0;
}

/* The end of a value: after a rule check, the block ends here or another
 * name starts; both are known from the announced length, so SCGI_ENOSCGI
 * and SCGI_ETOOMANY need no further byte. */
static long value_rules(struct walk *w, scgi_parser *p, const char *buf,
                        size_t nul)
{
  long r;

  /* A plain "1" for SCGI needs no more; anything else goes through the
   * byte by byte check that finds the offending byte. */
  if (w->kind != VALUE_SCGI || nul != w->mark + 1 || buf[w->mark] != '1') {
    p->value_start = w->mark;
    p->value_kind = (unsigned char)w->kind;
    r = check_value(p, buf, w->from, nul, true);
    if (r != 0)
      return r;
  }
  if (w->kind == VALUE_SCGI)
    p->seen_scgi = true;
  w->kind = VALUE_ANY;
  w->fast_end = w->end - 1;
  record_value(w, nul);
  if (nul + 1 == w->end) {
    w->block_done = true;
    return p->seen_scgi ? 0 : fail(p, SCGI_ENOSCGI, w->end);
  }
  if ((size_t)(w->v - w->tab) == p->max_vars)
    return fail(p, SCGI_ETOOMANY, nul + 1);
  return 0;
}

/* The NUL at `nul` ends a name or a value. Most need no more than being
 * recorded, and that path stays short. */
static inline long walk_nul(struct walk *w, scgi_parser *p, const char *buf,
                            size_t nul)
{
  if (!w->in_value) {
    size_t len = nul - w->mark;
    if (w->v < w->room &&
        (!rule_length(len) ||
         (len != 0 && name_kind(buf + w->mark, len) == VALUE_ANY))) {
      record_name(w, nul);
      return 0;
    }
    return name_rules(w, p, buf, nul);
  }
  if (nul < w->fast_end) {
    record_value(w, nul);
    return 0;
  }
  return value_rules(w, p, buf, nul);
}

/* ---------------------------------------------------------------- block */

/* Bit i is set when s[i] is NUL. */
static inline uint64_t nul_mask16(const char *s)
{
#ifdef __SSE2__
  __m128i v = _mm_loadu_si128((const __m128i *)(const void *)s);
  return (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_setzero_si128()));
#else
  uint64_t mask = 0;
  for (int i = 0; i < 16; i++)
    mask |= (uint64_t)(s[i] == '\0') << i;
  return mask;
#endif
}

static inline uint64_t nul_mask64(const char *s)
{
  return nul_mask16(s) | nul_mask16(s + 16) << 16 | nul_mask16(s + 32) << 32 |
         nul_mask16(s + 48) << 48;
}

/* For fewer than 16 bytes when there is no room to read 16. */
static uint64_t nul_mask_short(const char *s, size_t n)
{
  uint64_t mask = 0;
  for (size_t i = 0; i < n; i++)
    mask |= (uint64_t)(s[i] == '\0') << i;
  return mask;
}

/* Handles every NUL of buf[p->pos .. lim) in order, 64 or 16 bytes at a
 * time; reads nothing outside buf[0 .. lim). A short tail is read as the
 * 16 bytes that end at lim (all inside the buffer), shifted, rather than
 * byte by byte. */
static long scan_block(scgi_parser *p, const char *buf, size_t lim)
{
  struct walk w;

  walk_load(&w, p);
  for (size_t at = p->pos; at < lim;) {
    size_t step = lim - at;
    uint64_t mask;
    if (step >= 64)
      mask = nul_mask64(buf + at), step = 64;
    else if (step >= 16)
      mask = nul_mask16(buf + at), step = 16;
    else if (lim >= 16)
      mask = nul_mask16(buf + lim - 16) >> (16 - step);
    else
      mask = nul_mask_short(buf + at, step);
    for (; mask != 0; mask &= mask - 1) {
      long r = walk_nul(&w, p, buf, at + (unsigned)__builtin_ctzll(mask));
      if (r != 0)
        return r;
    }
    at += step;
  }
  walk_store(&w, p);
  return 0;
}

/* Every front server starts with CONTENT_LENGTH and a short number: when
 * that whole first pair has arrived, is valid, and more variables follow,
 * it is taken in one step. Anything else is left to the general path,
 * which stays the judge of errors. */
static void take_content_length(scgi_parser *p, const char *buf, size_t lim)
{
  size_t at = p->block_start, digits = at + CL_NAME_LEN + 1, i = digits;
  int64_t value = 0;

  if (lim - at < CL_NAME_LEN + 3 || p->max_vars < 2 ||
      memcmp(buf + at, CL_NAME, CL_NAME_LEN + 1) != 0)
    return;
  /* 18 digits cannot overflow an int64_t; longer values go the long way. */
  for (; i < lim && i < digits + 18; i++) {
    unsigned digit = (unsigned)(unsigned char)buf[i] - '0';
    if (digit > 9)
      break;
    value = value * 10 + digit;
  }
  if (i == digits || i + 1 >= lim || buf[i] != '\0' ||
      (buf[digits] == '0' && i > digits + 1))
    return;
  table(p)[0] = (struct scgi__var){(uint32_t)at, CL_NAME_LEN,
                                   (uint32_t)digits, (uint32_t)(i - digits)};
  p->nvars = 1;
  p->content_length = value;
  p->pos = p->pair_start = i + 1;
}

/* Parses the block bytes that arrived, up to the block end. */
static long parse_block(scgi_parser *p, const char *buf, size_t len)
{
  size_t end = block_end(p);
  size_t lim = len < end ? len : end;
  long r;

  if (p->nvars == 0 && p->pos == p->block_start)
    take_content_length(p, buf, lim);
  r = scan_block(p, buf, lim);

  if (r != 0)
    return r;
  /* An open CONTENT_LENGTH or SCGI value is checked before its NUL. */
  if (p->state == SCGI__PARSE_VALUE) {
    r = check_value(p, buf, p->pos, lim, false);
    if (r != 0)
      return r;
  }
  p->pos = lim;
  if (lim == end && p->state != SCGI__PARSE_COMMA)
    return fail(p, SCGI_EUNTERMINATED, end);
  return 0;
}

static long parse_comma(scgi_parser *p, const char *buf, size_t len)
{
  size_t end = block_end(p);
  if (len <= end)
    return 0;
  if (buf[end] != ',')
    return fail(p, SCGI_ECOMMA, end);
  p->pos = end + 1;
  p->result = (long)p->pos;
  p->base = buf;
  p->state = SCGI__PARSE_DONE;
  return p->result;
}

SCGI_API long scgi_parse(scgi_parser *p, const char *buf, size_t len)
{
  long r = 0;

  if (p == NULL || (buf == NULL && len > 0))
    return SCGI_EINVAL;
  if (p->state == SCGI__PARSE_DONE) {
    /* The getters follow the buffer if it moved once more. */
    if (len >= (size_t)p->result)
      p->base = buf;
    return p->result;
  }
  if (p->state == SCGI__PARSE_ERROR)
    return p->result;
  if (len < p->pos)
    return SCGI_EINVAL; /* bytes already parsed cannot disappear */
  p->started = true;
  if (p->state == SCGI__PARSE_LENGTH)
    r = parse_length(p, buf, len);
  if (r == 0 && (p->state == SCGI__PARSE_NAME || p->state == SCGI__PARSE_VALUE))
    r = parse_block(p, buf, len);
  if (r == 0 && p->state == SCGI__PARSE_COMMA)
    r = parse_comma(p, buf, len);
  return r;
}

/* ---------------------------------------------------------------- getters */

SCGI_API size_t scgi_parser_error_offset(const scgi_parser *p)
{
  return p != NULL && p->state == SCGI__PARSE_ERROR ? p->error_offset : 0;
}

static bool done(const scgi_parser *p)
{
  return p != NULL && p->state == SCGI__PARSE_DONE;
}

static inline uint64_t load64(const char *s)
{
  uint64_t x;
  memcpy(&x, s, sizeof x);
  return x;
}

/* For a name of 8 bytes or more: its first and last 8 bytes as numbers
 * (all of it up to 16 bytes), compared instead of calling memcmp() for
 * each candidate; only the middle of longer names needs memcmp(). */
static const struct scgi__var *find_long(const scgi_parser *p,
                                         const char *name, size_t len)
{
  const struct scgi__var *v = const_table(p), *end = v + p->nvars;
  uint64_t head = load64(name), tail = load64(name + len - 8);

  for (; v < end; v++) {
    const char *wire = p->base + v->name;
    if (v->name_len == len && load64(wire) == head &&
        load64(wire + len - 8) == tail &&
        (len <= 16 || memcmp(wire + 8, name + 8, len - 16) == 0))
      return v;
  }
  return NULL;
}

static const struct scgi__var *find_short(const scgi_parser *p,
                                          const char *name, size_t len)
{
  const struct scgi__var *v = const_table(p), *end = v + p->nvars;
  for (; v < end; v++)
    if (v->name_len == len && memcmp(p->base + v->name, name, len) == 0)
      return v;
  return NULL;
}

/* Lengths are compared first: most names differ there already. */
static const struct scgi__var *find_var(const scgi_parser *p, const char *name,
                                        size_t len)
{
  return len >= 8 ? find_long(p, name, len) : find_short(p, name, len);
}

SCGI_API const char *scgi_parser_get(const scgi_parser *p, const char *name)
{
  const struct scgi__var *v;
  if (!done(p) || name == NULL)
    return NULL;
  v = find_var(p, name, strlen(name));
  return v != NULL ? p->base + v->value : NULL;
}

SCGI_API size_t scgi_parser_count(const scgi_parser *p)
{
  return done(p) ? p->nvars : 0;
}

SCGI_API int scgi_parser_var(const scgi_parser *p, size_t index,
                             const char **name, const char **value,
                             size_t *value_len)
{
  const struct scgi__var *v;
  if (!done(p) || index >= p->nvars)
    return SCGI_EINVAL;
  v = const_table(p) + index;
  if (name != NULL)
    *name = p->base + v->name;
  if (value != NULL)
    *value = p->base + v->value;
  if (value_len != NULL)
    *value_len = v->value_len;
  return 0;
}

SCGI_API int64_t scgi_parser_content_length(const scgi_parser *p)
{
  return done(p) ? p->content_length : -1;
}
