/*
 * response.c - the CGI-style response: status, headers, buffered body.
 *
 * Copyright (C) 2026 The libscgi authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"
#include "internal.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/sendfile.h>
#include <unistd.h>

#define DEFAULT_CONTENT_TYPE "Content-Type: text/plain; charset=utf-8\r\n"
/* How long scgi_finish() keeps discarding an unread request body so that
 * closing does not reset the connection under the response. */
#define FINISH_DRAIN_MS 2000
/* Largest single sendfile(2) call; Linux caps one call near 2 GiB anyway. */
#define SENDFILE_CHUNK ((size_t)1 << 30)

/* ---- status ------------------------------------------------------------ */

static const struct {
  int code;
  const char *reason;
} reasons[] = {
    {100, "Continue"},
    {101, "Switching Protocols"},
    {200, "OK"},
    {201, "Created"},
    {202, "Accepted"},
    {203, "Non-Authoritative Information"},
    {204, "No Content"},
    {205, "Reset Content"},
    {206, "Partial Content"},
    {300, "Multiple Choices"},
    {301, "Moved Permanently"},
    {302, "Found"},
    {303, "See Other"},
    {304, "Not Modified"},
    {307, "Temporary Redirect"},
    {308, "Permanent Redirect"},
    {400, "Bad Request"},
    {401, "Unauthorized"},
    {402, "Payment Required"},
    {403, "Forbidden"},
    {404, "Not Found"},
    {405, "Method Not Allowed"},
    {406, "Not Acceptable"},
    {407, "Proxy Authentication Required"},
    {408, "Request Timeout"},
    {409, "Conflict"},
    {410, "Gone"},
    {411, "Length Required"},
    {412, "Precondition Failed"},
    {413, "Content Too Large"},
    {414, "URI Too Long"},
    {415, "Unsupported Media Type"},
    {416, "Range Not Satisfiable"},
    {417, "Expectation Failed"},
    {421, "Misdirected Request"},
    {422, "Unprocessable Content"},
    {425, "Too Early"},
    {426, "Upgrade Required"},
    {428, "Precondition Required"},
    {429, "Too Many Requests"},
    {431, "Request Header Fields Too Large"},
    {451, "Unavailable For Legal Reasons"},
    {500, "Internal Server Error"},
    {501, "Not Implemented"},
    {502, "Bad Gateway"},
    {503, "Service Unavailable"},
    {504, "Gateway Timeout"},
    {505, "HTTP Version Not Supported"},
};

static const char *standard_reason(int code)
{
  for (size_t i = 0; i < sizeof reasons / sizeof reasons[0]; i++)
    if (reasons[i].code == code)
      return reasons[i].reason;
  return "Unknown";
}

/* Headers may change only until they go out, and nothing after the end. */
static bool head_open(const scgi_request *req)
{
  return !req->headers_sent && !req->finished;
}

int scgi_status(scgi_request *req, int code, const char *reason)
{
  size_t len;

  if (!head_open(req))
    return SCGI_ESTATE;
  if (code < 100 || code > 999)
    return SCGI_EINVAL;
  if (!reason)
    reason = ""; /* the standard phrase is chosen when headers go out */
  if (strpbrk(reason, "\r\n"))
    return SCGI_EHEADER;
  len = strlen(reason);
  if (len >= sizeof req->reason)
    return SCGI_EINVAL;
  memcpy(req->reason, reason, len + 1);
  req->status = code;
  return 0;
}

/* ---- headers ----------------------------------------------------------- */

/* RFC 9110 token characters: visible ASCII except delimiters. */
static bool valid_name(const char *name, size_t len)
{
  if (len == 0)
    return false;
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)name[i];
    if (c <= 0x20 || c >= 0x7f || strchr("\"(),/:;<=>?@[\\]{}", c))
      return false;
  }
  return true;
}

/* CR and LF would start a header of the client's choosing; NUL cuts the
 * line short in the front server. */
static bool valid_value(const char *value, size_t len)
{
  for (size_t i = 0; i < len; i++)
    if (value[i] == '\r' || value[i] == '\n' || value[i] == '\0')
      return false;
  return true;
}

/* Makes room for `more` bytes of header lines, doubling, overflow-checked. */
static int reserve_head(scgi_request *req, size_t more)
{
  size_t need, cap;
  char *p;

  if (more > SIZE_MAX - req->head_len)
    return SCGI_ENOMEM;
  need = req->head_len + more;
  if (need <= req->head_cap)
    return 0;
  cap = req->head_cap ? req->head_cap : 256;
  while (cap < need)
    cap = cap > SIZE_MAX / 2 ? need : cap * 2;
  if (!(p = realloc(req->head, cap)))
    return SCGI_ENOMEM;
  req->head = p;
  req->head_cap = cap;
  return 0;
}

static void append_head(scgi_request *req, const char *bytes, size_t len)
{
  memcpy(req->head + req->head_len, bytes, len);
  req->head_len += len;
}

int scgi_header_n(scgi_request *req, const char *name, const char *value,
                  size_t value_len)
{
  size_t name_len;
  int rc;

  if (!head_open(req))
    return SCGI_ESTATE;
  if (!name || (!value && value_len > 0))
    return SCGI_EINVAL;
  name_len = strlen(name);
  if (!valid_name(name, name_len) || !valid_value(value, value_len))
    return SCGI_EHEADER;
  /* A second Status line would contradict scgi_status(). */
  if (strcasecmp(name, "Status") == 0)
    return SCGI_EHEADER;
  if (value_len > SIZE_MAX - name_len - 4)
    return SCGI_ENOMEM;
  if ((rc = reserve_head(req, name_len + value_len + 4)) != 0)
    return rc;
  append_head(req, name, name_len);
  append_head(req, ": ", 2);
  if (value_len > 0)
    append_head(req, value, value_len);
  append_head(req, "\r\n", 2);
  /* Set by the caller, so the defaults must not be added. */
  if (strcasecmp(name, "Content-Type") == 0)
    req->has_content_type = true;
  if (strcasecmp(name, "Content-Length") == 0)
    req->has_content_length = true;
  return 0;
}

int scgi_header(scgi_request *req, const char *name, const char *value)
{
  if (!value)
    return SCGI_EINVAL;
  return scgi_header_n(req, name, value, strlen(value));
}

/* ---- sending ----------------------------------------------------------- */

/* The response head around the caller's header lines: built on the stack
 * when it goes out, once. */
struct head_parts {
  char status[96]; /* "Status: " 3 digits, space, reason < 64, CRLF */
  char tail[96];   /* default Content-Type, Content-Length, blank line */
};

/* RFC 9110 forbids Content-Length on these, even a zero. */
static bool bodyless_status(int code)
{
  return code < 200 || code == 204 || code == 304;
}

/* Appends a string to a head part sized for the longest one (no snprintf:
 * it was the largest cost of a small response). Returns the new length. */
static size_t put_str(char *part, size_t at, const char *s)
{
  size_t n = strlen(s);

  memcpy(part + at, s, n);
  return at + n;
}

static size_t put_uint(char *part, size_t at, uint64_t v)
{
  char digits[20];
  size_t n = 0;

  do
    digits[n++] = (char)('0' + v % 10);
  while ((v /= 10) != 0);
  while (n > 0)
    part[at++] = digits[--n];
  return at;
}

/* Fills parts and the first three iovecs; returns how many were used. */
static int head_iov(const scgi_request *req, struct head_parts *parts,
                    struct iovec *iov, bool final, size_t body_len)
{
  const char *reason = req->reason[0] ? req->reason
                                      : standard_reason(req->status);
  size_t n = put_str(parts->status, 0, "Status: ");
  size_t t = 0;

  n = put_uint(parts->status, n, (unsigned)req->status);
  n = put_str(parts->status, n, " ");
  n = put_str(parts->status, n, reason);
  n = put_str(parts->status, n, "\r\n");
  if (!req->has_content_type)
    t = put_str(parts->tail, t, DEFAULT_CONTENT_TYPE);
  /* A whole body in hand has a known length: tell the front server, so
   * that it need not wait for the close and can keep its client alive. */
  if (final && !req->has_content_length && !bodyless_status(req->status)) {
    t = put_str(parts->tail, t, "Content-Length: ");
    t = put_uint(parts->tail, t, body_len);
    t = put_str(parts->tail, t, "\r\n");
  }
  t = put_str(parts->tail, t, "\r\n");
  iov[0] = scgi__iovec(parts->status, n);
  iov[1] = scgi__iovec(req->head, req->head_len);
  iov[2] = scgi__iovec(parts->tail, t);
  return 3;
}

/* A response sent in pieces (scgi_flush(), or more than the buffer holds)
 * must not have its last segment held back by Nagle's algorithm waiting
 * for the peer's ACK. One that goes out whole is pushed by the close. */
static void no_delay(scgi_request *req)
{
  int one = 1;

  if (req->tcp && !req->nodelay &&
      setsockopt(req->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) == 0)
    req->nodelay = true;
}

/* Sends the head if still pending, the buffered bytes and `extra`, all in
 * one writev. `final`: nothing more will follow. Errors are sticky. */
static int send_out(scgi_request *req, const void *extra, size_t extra_len,
                    bool final)
{
  struct head_parts parts;
  struct iovec iov[5];
  int n = 0, rc;

  if (!req->headers_sent)
    n = head_iov(req, &parts, iov, final, req->out_len + extra_len);
  iov[n++] = scgi__iovec(req->out, req->out_len);
  iov[n++] = scgi__iovec(extra, extra_len);
  req->headers_sent = true;
  req->out_len = 0;
  if (!final)
    no_delay(req);
  rc = scgi__writev_all(req->fd, iov, n, req->cfg.write_timeout_ms);
  if (rc != 0)
    req->error = rc;
  return rc;
}

/* Whether body bytes may still be added; why not otherwise. */
static int writable(const scgi_request *req)
{
  if (req->failed)
    return SCGI_ESTATE;
  if (req->error)
    return req->error;
  return req->finished ? SCGI_ESTATE : 0;
}

static int alloc_out(scgi_request *req)
{
  if (req->out)
    return 0;
  if (!(req->out = malloc(SCGI__OUTPUT_BUFFER)))
    return req->error = SCGI_ENOMEM; /* sticky: bytes would go missing */
  return 0;
}

/* scgi_write() without syncing the stream, for the stream itself. */
static int write_body(scgi_request *req, const void *data, size_t size)
{
  int rc = writable(req);

  if (rc != 0 || size == 0)
    return rc;
  if (!data)
    return SCGI_EINVAL;
  if ((rc = alloc_out(req)) != 0)
    return rc;
  if (size <= SCGI__OUTPUT_BUFFER - req->out_len) {
    memcpy(req->out + req->out_len, data, size);
    req->out_len += size;
    return 0;
  }
  return send_out(req, data, size, false);
}

/* Pushes bytes a caller left in a buffered stream ahead of the next ones.
 * The stream is unbuffered unless the caller changed that with setvbuf. */
static void sync_stream(scgi_request *req)
{
  if (req->stream)
    (void)fflush(req->stream);
}

int scgi_write(scgi_request *req, const void *data, size_t size)
{
  sync_stream(req);
  return write_body(req, data, size);
}

int scgi_flush(scgi_request *req)
{
  int rc;

  sync_stream(req);
  if ((rc = writable(req)) != 0)
    return rc;
  return send_out(req, NULL, 0, false);
}

/* ---- formatted output -------------------------------------------------- */

/* Text of `len` bytes that did not fit in the free part of the buffer. */
SCGI_PRINTF(3, 0)
static int vprintf_slow(scgi_request *req, size_t len, const char *format,
                        va_list ap)
{
  char *tmp;
  int rc, n;

  if (len < SCGI__OUTPUT_BUFFER) {
    /* It fits in an empty buffer: make it empty. */
    if ((rc = send_out(req, NULL, 0, false)) != 0)
      return rc;
    n = vsnprintf(req->out, SCGI__OUTPUT_BUFFER, format, ap);
    req->out_len = n < 0 ? 0 : (size_t)n < len ? (size_t)n : len;
    return 0;
  }
  if (!(tmp = malloc(len + 1)))
    return req->error = SCGI_ENOMEM;
  n = vsnprintf(tmp, len + 1, format, ap);
  rc = write_body(req, tmp, n < 0 ? 0 : (size_t)n < len ? (size_t)n : len);
  free(tmp);
  return rc;
}

int scgi_vprintf(scgi_request *req, const char *format, va_list ap)
{
  size_t room;
  va_list aq;
  int rc, n;

  sync_stream(req);
  if ((rc = writable(req)) != 0 || (rc = alloc_out(req)) != 0)
    return rc;
  room = SCGI__OUTPUT_BUFFER - req->out_len;
  /* ap may be walked twice: the first try works on a copy. */
  va_copy(aq, ap);
  n = vsnprintf(req->out + req->out_len, room, format, aq);
  va_end(aq);
  if (n < 0)
    return SCGI_EINVAL;
  if ((size_t)n < room) {
    req->out_len += (size_t)n;
    return 0;
  }
  return vprintf_slow(req, (size_t)n, format, ap);
}

int scgi_printf(scgi_request *req, const char *format, ...)
{
  va_list ap;
  int rc;

  va_start(ap, format);
  rc = scgi_vprintf(req, format, ap);
  va_end(ap);
  return rc;
}

/* ---- stdio stream ------------------------------------------------------ */

static ssize_t stream_write(void *cookie, const char *buf, size_t size)
{
  int rc = write_body(cookie, buf, size);

  if (rc == 0)
    return (ssize_t)size;
  /* stdio wants an errno; library codes have none. */
  errno = rc > -1000 ? -rc : EIO;
  return 0;
}

FILE *scgi_stream(scgi_request *req)
{
  cookie_io_functions_t io = {.write = stream_write};

  if (req->stream)
    return req->stream;
  req->stream = fopencookie(req, "w", io);
  /* Unbuffered: each stdio call lands in our buffer at once, so bytes keep
   * their order with scgi_write() without a second copy. */
  if (req->stream)
    (void)setvbuf(req->stream, NULL, _IONBF, 0);
  return req->stream;
}

/* ---- sendfile ---------------------------------------------------------- */

/* For files that sendfile(2) cannot read: through the output buffer. */
static int copy_file(scgi_request *req, int fd, off_t offset, size_t count)
{
  int rc = alloc_out(req);

  while (rc == 0 && count > 0) {
    size_t want = count < SCGI__OUTPUT_BUFFER ? count : SCGI__OUTPUT_BUFFER;
    ssize_t n = pread(fd, req->out, want, offset);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return n == 0 ? SCGI_ETRUNCATED : -errno;
    req->out_len = (size_t)n;
    offset += n;
    count -= (size_t)n;
    rc = send_out(req, NULL, 0, false);
  }
  return rc;
}

static int sendfile_loop(scgi_request *req, int fd, off_t offset,
                         size_t count)
{
  while (count > 0) {
    ssize_t n = sendfile(req->fd, fd, &offset,
                         count < SENDFILE_CHUNK ? count : SENDFILE_CHUNK);
    if (n > 0) {
      count -= (size_t)n;
      continue;
    }
    if (n == 0)
      return SCGI_ETRUNCATED;
    if (errno == EINTR)
      continue;
    if (errno == EINVAL || errno == ENOSYS)
      return copy_file(req, fd, offset, count);
    if (errno != EAGAIN && errno != EWOULDBLOCK)
      return -errno;
    int rc = scgi__wait(req->fd, POLLOUT, req->cfg.write_timeout_ms);
    if (rc != 0)
      return rc;
  }
  return 0;
}

/* Ends the connection with a RST, so that the front server sees an error
 * rather than a short response it would take for complete. */
static void reset_connection(scgi_request *req)
{
  struct linger lin = {.l_onoff = 1, .l_linger = 0};

  if (req->fd < 0)
    return;
  (void)setsockopt(req->fd, SOL_SOCKET, SO_LINGER, &lin, sizeof lin);
  close(req->fd);
  req->fd = -1;
}

int scgi_sendfile(scgi_request *req, int fd, off_t offset, size_t count)
{
  struct scgi__sigpipe_guard guard;
  int rc;

  if (offset < 0)
    return SCGI_EINVAL;
  if ((rc = scgi_flush(req)) != 0 || count == 0)
    return rc;
  /* sendfile(2) has no MSG_NOSIGNAL. */
  scgi__sigpipe_block(&guard);
  rc = sendfile_loop(req, fd, offset, count);
  scgi__sigpipe_restore(&guard, rc == -EPIPE);
  if (rc == 0)
    return 0;
  req->error = rc;
  if (rc == SCGI_ETRUNCATED)
    reset_connection(req); /* the promised bytes can never come */
  return rc;
}

/* ---- the end ----------------------------------------------------------- */

static void end_connection(scgi_request *req, int rc)
{
  if (rc != 0)
    reset_connection(req); /* the response may be cut: never look whole */
  else
    scgi__request_close(req, FINISH_DRAIN_MS, true);
}

int scgi_finish(scgi_request *req)
{
  int rc;

  if (req->finished)
    return req->finish_result;
  sync_stream(req);
  rc = req->error ? req->error : send_out(req, NULL, 0, true);
  req->finished = true;
  req->finish_result = rc;
  end_connection(req, rc);
  return rc;
}

void scgi_fail(scgi_request *req)
{
  static const char body[] = "Internal Server Error\n";
  int rc = SCGI_ESTATE;

  if (req->finished)
    return;
  req->failed = true;
  req->finished = true;
  req->finish_result = SCGI_ESTATE;
  if (!req->headers_sent) {
    /* Nothing went out: replace whatever was prepared with a plain 500. */
    req->head_len = 0;
    req->out_len = 0;
    req->has_content_type = false;
    req->has_content_length = false;
    req->status = 500;
    req->reason[0] = '\0';
    rc = send_out(req, body, sizeof body - 1, true);
  }
  end_connection(req, rc);
}
