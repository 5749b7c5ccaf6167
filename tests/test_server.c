/*
 * test_server.c - listeners, scgi_accept(), scgi_serve(), stopping, logging.
 *
 * Copyright (C) 2026 The libscgi authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include "../src/internal.h" /* scgi__log(), for the truncation check */
#include "scgi.h"
#include "tap.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Every wait in this file is bounded by this, so that a bug fails a check
 * instead of hanging `make check`. */
#define IO_TIMEOUT_MS 5000

static char tmpdir[64];

/* ---- helpers: time, log capture -------------------------------------------- */

static double now_ms(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void sleep_ms(int ms)
{
  struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

  while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
    ;
}

#define LOG_LINES 64

struct logcap {
  pthread_mutex_t mu;
  int count;
  char lines[LOG_LINES][1100];
  scgi_log_level levels[LOG_LINES];
};

static struct logcap logcap = { .mu = PTHREAD_MUTEX_INITIALIZER };

static void capture_log(void *arg, scgi_log_level level, const char *message)
{
  struct logcap *c = arg;

  /* A ring: the last LOG_LINES lines are kept. */
  pthread_mutex_lock(&c->mu);
  snprintf(c->lines[c->count % LOG_LINES], sizeof c->lines[0], "%s", message);
  c->levels[c->count % LOG_LINES] = level;
  c->count++;
  pthread_mutex_unlock(&c->mu);
}

static int log_count(void)
{
  int n;

  pthread_mutex_lock(&logcap.mu);
  n = logcap.count;
  pthread_mutex_unlock(&logcap.mu);
  return n;
}

/* Copies line i (or "" when absent, or no longer kept). */
static void log_line(int i, char *out, size_t size)
{
  pthread_mutex_lock(&logcap.mu);
  snprintf(out, size, "%s",
           i >= 0 && i < logcap.count && i >= logcap.count - LOG_LINES
               ? logcap.lines[i % LOG_LINES]
               : "");
  pthread_mutex_unlock(&logcap.mu);
}

/* Waits until the log has more than `count` lines. */
static int wait_log(int count)
{
  double end = now_ms() + IO_TIMEOUT_MS;

  while (log_count() <= count && now_ms() < end)
    sleep_ms(5);
  return log_count();
}

/* ---- helpers: sockets --------------------------------------------------------- */

/* A TCP listener on 127.0.0.1 with a port chosen by the kernel. */
static int tcp_listener(uint16_t *port)
{
  struct sockaddr_in sin = { .sin_family = AF_INET };
  socklen_t len = sizeof sin;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || bind(fd, (struct sockaddr *)&sin, sizeof sin) < 0 ||
      listen(fd, 64) < 0 ||
      getsockname(fd, (struct sockaddr *)&sin, &len) < 0) {
    perror("tcp_listener");
    exit(2);
  }
  *port = ntohs(sin.sin_port);
  return fd;
}

/* A free TCP port (race-prone in theory, fine on a test machine). */
static uint16_t free_port(void)
{
  uint16_t port;

  close(tcp_listener(&port));
  return port;
}

static int connect_tcp(uint16_t port)
{
  struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port) };
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd >= 0 && connect(fd, (struct sockaddr *)&sin, sizeof sin) < 0) {
    close(fd);
    return -1;
  }
  return fd;
}

static int connect_unix(const char *path)
{
  struct sockaddr_un sun = { .sun_family = AF_UNIX };
  int fd;

  if (strlen(path) >= sizeof sun.sun_path)
    return -1;
  fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  memcpy(sun.sun_path, path, strlen(path) + 1);
  if (fd >= 0 && connect(fd, (struct sockaddr *)&sun, sizeof sun) < 0) {
    close(fd);
    return -1;
  }
  return fd;
}

static int send_all(int fd, const void *buf, size_t len)
{
  const char *p = buf;

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

/* Reads until EOF (or an error, or IO_TIMEOUT_MS); returns a NUL-terminated
 * copy, to free. */
static char *read_all(int fd)
{
  size_t len = 0, cap = 4096;
  char *buf = malloc(cap);
  double end = now_ms() + IO_TIMEOUT_MS;

  for (;;) {
    struct pollfd pfd = { .fd = fd, .events = POLLIN };
    ssize_t n;
    if (len + 1 >= cap)
      buf = realloc(buf, cap *= 2);
    if (poll(&pfd, 1, (int)(end - now_ms())) <= 0)
      break;
    n = read(fd, buf + len, cap - len - 1);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    len += (size_t)n;
  }
  /* Like a front server, be done once the response is: a finished
   * connection waits for our close (or this FIN). */
  shutdown(fd, SHUT_WR);
  buf[len] = '\0';
  return buf;
}

/* Builds a request: "<len>:CONTENT_LENGTH\0<n>\0SCGI\01\0REQUEST_METHOD\0POST\0
 * REQUEST_URI\0<uri>\0," then the body. Returns its length. */
static size_t build_request(char *out, size_t cap, const char *uri,
                            const char *body)
{
  char head[1024];
  size_t blen = strlen(body);
  int hl = snprintf(head, sizeof head,
                    "CONTENT_LENGTH%c%zu%cSCGI%c1%cREQUEST_METHOD%cPOST%c"
                    "REQUEST_URI%c%s%c",
                    0, blen, 0, 0, 0, 0, 0, 0, uri, 0);
  int pl = snprintf(out, cap, "%d:", hl);

  memcpy(out + pl, head, (size_t)hl);
  out[pl + hl] = ',';
  memcpy(out + pl + hl + 1, body, blen);
  return (size_t)pl + (size_t)hl + 1 + blen;
}

/* Sends raw bytes on a new connection and returns the whole reply. */
static char *exchange(int fd, const char *bytes, size_t len)
{
  char *reply;

  if (fd < 0)
    return strdup("(connect failed)");
  send_all(fd, bytes, len);
  reply = read_all(fd);
  close(fd);
  return reply;
}

/* Sends a good request for `uri` with body "hello" and says whether the
 * echo handler answered it. */
static int good_exchange(int fd, const char *uri)
{
  char req[2048], want[256];
  size_t len = build_request(req, sizeof req, uri, "hello");
  char *reply = exchange(fd, req, len);
  int ok;

  snprintf(want, sizeof want, "\r\n\r\nuri=%s body=hello", uri);
  ok = strstr(reply, "Status: 200") == reply && strstr(reply, want) != NULL;
  if (!ok)
    tap_diag("reply: %s", reply);
  free(reply);
  return ok;
}

/* ---- helpers: a server running scgi_serve() in a thread ------------------------ */

static int echo_handler(scgi_request *req, void *arg)
{
  char body[4096];
  size_t len = 0;
  ssize_t n;

  (void)arg;
  while ((n = scgi_read(req, body + len, sizeof body - 1 - len)) > 0)
    len += (size_t)n;
  if (n < 0)
    return -1;
  body[len] = '\0';
  scgi_printf(req, "uri=%s body=%s", scgi_request_uri(req), body);
  return 0;
}

struct serving {
  scgi_server *srv;
  pthread_t tid;
  unsigned threads;
  int rc;
};

static void *serve_main(void *p)
{
  struct serving *s = p;

  s->rc = scgi_serve(s->srv, s->threads, echo_handler, NULL);
  return NULL;
}

static void serve_start(struct serving *s, scgi_server *srv, unsigned threads)
{
  s->srv = srv;
  s->threads = threads;
  s->rc = 1;
  pthread_create(&s->tid, NULL, serve_main, s);
}

static int serve_stop(struct serving *s)
{
  scgi_server_stop(s->srv);
  pthread_join(s->tid, NULL);
  return s->rc;
}

static scgi_server *new_server(void)
{
  scgi_server *srv = scgi_server_new();

  if (srv == NULL) {
    printf("Bail out! scgi_server_new\n");
    exit(2);
  }
  scgi_server_set_log(srv, capture_log, &logcap);
  return srv;
}

/* ---- addresses ----------------------------------------------------------------- */

static void test_malformed_addresses(void)
{
  static const char *bad[] = {
    "", "4000", "host:", ":0", ":80", "1.2.3.4:99999", "1.2.3.4:-1",
    "1.2.3.4:+80", "1.2.3.4:0", "1.2.3.4:080", "1.2.3.4: 80",
    "1.2.3.4:80 ", "1.2.3.4:8x", "1.2.3:80", "1.2.3.4.5:80", "256.1.1.1:80",
    "1.2.3.4:80:80", "::1:80", "a b:80", "host/x:80", "[::1", "[::1]",
    "[::1]:", "[::1]80", "[::1]:0", "[::1]:65536", "[]:80", "[zz]:80",
    "[1.2.3.4]:80", "unix:", "fd:", "fd:x", "fd:-1", "fd:+3", "fd:03",
    "fd: 3", "fd:3 ", "fd:99999999999",
  };
  scgi_server *srv = new_server();
  char longpath[300];

  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char what[128];
    snprintf(what, sizeof what, "malformed address '%s' -> SCGI_EADDRESS",
             bad[i]);
    TAP_EQ(scgi_server_listen(srv, bad[i]), SCGI_EADDRESS, what);
  }
  memset(longpath, 'a', sizeof longpath - 1);
  memcpy(longpath, "unix:/tmp/", 10);
  longpath[sizeof longpath - 1] = '\0';
  TAP_EQ(scgi_server_listen(srv, longpath), SCGI_EADDRESS,
         "unix: path too long for sun_path -> SCGI_EADDRESS");
  TAP_EQ(scgi_accept(srv, &(scgi_request *){ NULL }), SCGI_ENOLISTENER,
         "scgi_accept without a listener -> SCGI_ENOLISTENER");
  TAP_EQ(scgi_serve(srv, 1, echo_handler, NULL), SCGI_ENOLISTENER,
         "scgi_serve without a listener -> SCGI_ENOLISTENER");
  scgi_server_free(srv);
}

static void test_settings(void)
{
  scgi_server *srv = new_server();

  TAP_EQ(scgi_server_set(srv, SCGI_OPT_MAX_HEADER_BYTES, 0), SCGI_EINVAL,
         "set: 0 header bytes refused");
  TAP_EQ(scgi_server_set(srv, SCGI_OPT_MAX_HEADER_BYTES, (size_t)1 << 31),
         SCGI_EINVAL, "set: 2 GiB header bytes refused");
  TAP_EQ(scgi_server_set(srv, SCGI_OPT_MAX_HEADER_BYTES, 1000), 0,
         "set: 1000 header bytes");
  TAP_EQ(scgi_server_set(srv, SCGI_OPT_MAX_VARS, 0), SCGI_EINVAL,
         "set: 0 variables refused");
  TAP_EQ(scgi_server_set(srv, SCGI_OPT_READ_TIMEOUT_MS, 0), 0,
         "set: read timeout 0 (forever)");
  TAP_EQ(scgi_server_set(srv, SCGI_OPT_WRITE_TIMEOUT_MS, (size_t)1 << 40),
         SCGI_EINVAL, "set: absurd write timeout refused");
  TAP_EQ(scgi_server_set(srv, SCGI_OPT_SOCKET_MODE, 01777), SCGI_EINVAL,
         "set: socket mode beyond 0777 refused");
  TAP_EQ(scgi_server_set(srv, SCGI_OPT_BACKLOG, 0), SCGI_EINVAL,
         "set: backlog 0 refused");
  TAP_EQ(scgi_server_set(srv, (scgi_option)99, 1), SCGI_EINVAL,
         "set: unknown option refused");
  scgi_server_free(srv);
}

static void test_fd_addresses(void)
{
  scgi_server *srv = new_server();
  char addr[32];
  uint16_t port;
  int lfd = tcp_listener(&port), plain, file;

  plain = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  snprintf(addr, sizeof addr, "fd:%d", plain);
  TAP_EQ(scgi_server_listen(srv, addr), SCGI_EINVAL,
         "fd:N of a socket that does not listen -> SCGI_EINVAL");
  close(plain);
  file = open("/dev/null", O_RDONLY | O_CLOEXEC);
  snprintf(addr, sizeof addr, "fd:%d", file);
  TAP_EQ(scgi_server_listen(srv, addr), -ENOTSOCK,
         "fd:N of a file -> -ENOTSOCK");
  TAP_OK(fcntl(file, F_GETFD) >= 0, "... and the file is left open");
  close(file);
  TAP_EQ(scgi_server_listen(srv, "fd:999"), -EBADF,
         "fd:N of a closed descriptor -> -EBADF");

  snprintf(addr, sizeof addr, "fd:%d", lfd);
  TAP_EQ(scgi_server_listen(srv, addr), 0, "fd:N of a listening TCP socket");
  TAP_EQ(scgi_server_listen(srv, addr), SCGI_EINVAL,
         "the same fd:N twice -> SCGI_EINVAL");
  TAP_OK(fcntl(lfd, F_GETFL) & O_NONBLOCK, "fd:N made non-blocking");

  struct serving s;
  serve_start(&s, srv, 2);
  TAP_OK(good_exchange(connect_tcp(port), "/fd"),
         "request served on fd:N (127.0.0.1:%u)", port);
  TAP_EQ(serve_stop(&s), 0, "scgi_serve returns 0 after stop");
  scgi_server_free(srv);
  TAP_OK(fcntl(lfd, F_GETFD) < 0, "fd:N closed by scgi_server_free");
}

static void test_tcp_addresses(void)
{
  struct serving s;
  char addr[64];
  uint16_t port = free_port();
  scgi_server *srv = new_server();

  snprintf(addr, sizeof addr, "127.0.0.1:%u", port);
  TAP_EQ(scgi_server_listen(srv, addr), 0, "listen on 127.0.0.1:PORT");
  serve_start(&s, srv, 1);
  TAP_OK(good_exchange(connect_tcp(port), "/v4"), "request served on %s",
         addr);
  {
    scgi_server *other = new_server();
    TAP_EQ(scgi_server_listen(other, addr), SCGI_EADDRINUSE,
           "same TCP address twice -> SCGI_EADDRINUSE");
    scgi_server_free(other);
  }
  serve_stop(&s);
  scgi_server_free(srv);

  port = free_port();
  srv = new_server();
  snprintf(addr, sizeof addr, "localhost:%u", port);
  TAP_EQ(scgi_server_listen(srv, addr), 0, "listen on localhost:PORT (name)");
  serve_start(&s, srv, 1);
  TAP_OK(good_exchange(connect_tcp(port), "/name"), "request served on %s",
         addr);
  serve_stop(&s);
  scgi_server_free(srv);

  port = free_port();
  srv = new_server();
  snprintf(addr, sizeof addr, "*:%u", port);
  TAP_EQ(scgi_server_listen(srv, addr), 0, "listen on *:PORT");
  serve_start(&s, srv, 1);
  TAP_OK(good_exchange(connect_tcp(port), "/any"), "request served on %s",
         addr);
  serve_stop(&s);
  scgi_server_free(srv);
  /* (No unresolvable-name check: it would depend on the DNS setup.) */
}

static void test_ipv6(void)
{
  struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6,
                               .sin6_addr = IN6ADDR_LOOPBACK_INIT };
  socklen_t len = sizeof sin6;
  int probe = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
  char addr[64];
  uint16_t port;
  scgi_server *srv;
  struct serving s;
  int fd;

  if (probe < 0 || bind(probe, (struct sockaddr *)&sin6, sizeof sin6) < 0 ||
      getsockname(probe, (struct sockaddr *)&sin6, &len) < 0) {
    tap_diag("skip: IPv6 loopback is not available here");
    if (probe >= 0)
      close(probe);
    return;
  }
  port = ntohs(sin6.sin6_port);
  close(probe);
  srv = new_server();
  snprintf(addr, sizeof addr, "[::1]:%u", port);
  TAP_EQ(scgi_server_listen(srv, addr), 0, "listen on [::1]:PORT");
  serve_start(&s, srv, 1);
  fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (connect(fd, (struct sockaddr *)&sin6, sizeof sin6) < 0) {
    close(fd);
    fd = -1;
  }
  TAP_OK(good_exchange(fd, "/v6"), "request served on %s", addr);
  serve_stop(&s);
  scgi_server_free(srv);
}

/* ---- Unix sockets ---------------------------------------------------------------- */

/* A Unix socket bound at path but not listening (a dead server's file). */
static int bound_unix(const char *path)
{
  struct sockaddr_un sun = { .sun_family = AF_UNIX };
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

  if (strlen(path) < sizeof sun.sun_path) {
    memcpy(sun.sun_path, path, strlen(path) + 1);
    if (bind(fd, (struct sockaddr *)&sun, sizeof sun) < 0)
      perror("bind");
  }
  return fd;
}

static void test_unix(void)
{
  char path[128], addr[160];
  struct stat st, st2;
  struct serving s;
  scgi_server *srv = new_server(), *other;
  int fd;

  snprintf(path, sizeof path, "%s/app.sock", tmpdir);
  snprintf(addr, sizeof addr, "unix:%s", path);
  TAP_EQ(scgi_server_listen(srv, addr), 0, "listen on unix:PATH");
  TAP_OK(lstat(path, &st) == 0 && S_ISSOCK(st.st_mode), "socket file made");
  TAP_EQ(st.st_mode & 07777, 0666, "socket file mode is 0666 by default");
  serve_start(&s, srv, 2);
  TAP_OK(good_exchange(connect_unix(path), "/unix"),
         "request served on unix:PATH");

  other = new_server();
  TAP_EQ(scgi_server_listen(other, addr), SCGI_EADDRINUSE,
         "live socket -> SCGI_EADDRINUSE");
  TAP_OK(lstat(path, &st2) == 0 && st2.st_ino == st.st_ino,
         "... and the live socket file is untouched");
  TAP_OK(good_exchange(connect_unix(path), "/still"),
         "... and the first server still serves");
  scgi_server_free(other);
  TAP_OK(lstat(path, &st2) == 0 && st2.st_ino == st.st_ino,
         "a server that failed to listen leaves the file alone");
  serve_stop(&s);
  scgi_server_free(srv);
  TAP_OK(lstat(path, &st) < 0 && errno == ENOENT,
         "socket file removed by scgi_server_free");

  /* A stale socket: bound, then its owner died without removing it. */
  fd = bound_unix(path);
  close(fd);
  lstat(path, &st);
  srv = new_server();
  scgi_server_set(srv, SCGI_OPT_SOCKET_MODE, 0600);
  TAP_EQ(scgi_server_listen(srv, addr), 0, "stale socket file replaced");
  /* (ext4 may give the new file the old inode number: no check on it.) */
  TAP_OK(lstat(path, &st2) == 0 && S_ISSOCK(st2.st_mode),
         "... by a new socket file");
  TAP_EQ(st2.st_mode & 07777, 0600, "SCGI_OPT_SOCKET_MODE 0600 applied");
  serve_start(&s, srv, 1);
  TAP_OK(good_exchange(connect_unix(path), "/stale"),
         "request served on the replacing socket");
  serve_stop(&s);
  /* Someone else's socket now has the path: not ours to remove. */
  unlink(path);
  fd = bound_unix(path);
  scgi_server_free(srv);
  TAP_OK(lstat(path, &st) == 0 && S_ISSOCK(st.st_mode),
         "scgi_server_free leaves a socket file that is not its own");
  close(fd);
  unlink(path);

  /* Not a socket: untouched. */
  fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  TAP_OK(write(fd, "keep", 4) == 4, "regular file created");
  close(fd);
  srv = new_server();
  TAP_EQ(scgi_server_listen(srv, addr), SCGI_ENOTSOCKET,
         "regular file at the path -> SCGI_ENOTSOCKET");
  scgi_server_free(srv);
  {
    char buf[8] = "";
    fd = open(path, O_RDONLY | O_CLOEXEC);
    TAP_OK(fd >= 0 && read(fd, buf, sizeof buf) == 4 &&
               memcmp(buf, "keep", 4) == 0,
           "... and the file is untouched");
    close(fd);
  }
  unlink(path);

  /* A symbolic link is not followed. */
  TAP_EQ(symlink("/nonexistent", path), 0, "symlink created");
  srv = new_server();
  TAP_EQ(scgi_server_listen(srv, addr), SCGI_ENOTSOCKET,
         "symbolic link at the path -> SCGI_ENOTSOCKET");
  scgi_server_free(srv);
  unlink(path);

  /* A relative path. */
  {
    char cwd[4096];
    if (getcwd(cwd, sizeof cwd) != NULL && chdir(tmpdir) == 0) {
      srv = new_server();
      TAP_EQ(scgi_server_listen(srv, "unix:rel.sock"), 0,
             "listen on a relative unix: path");
      serve_start(&s, srv, 1);
      TAP_OK(good_exchange(connect_unix("rel.sock"), "/rel"),
             "request served on the relative path");
      serve_stop(&s);
      scgi_server_free(srv);
      TAP_OK(access("rel.sock", F_OK) < 0, "relative socket file removed");
      TAP_EQ(chdir(cwd), 0, "back to the original directory");
    }
  }
}

/* ---- inherited listeners ------------------------------------------------------------ */

static void clear_env(void)
{
  unsetenv("LISTEN_PID");
  unsetenv("LISTEN_FDS");
  unsetenv("SCGI_HANDOFF_FD");
}

static void set_systemd_env(pid_t pid, int n)
{
  char buf[32];

  snprintf(buf, sizeof buf, "%ld", (long)pid);
  setenv("LISTEN_PID", buf, 1);
  snprintf(buf, sizeof buf, "%d", n);
  setenv("LISTEN_FDS", buf, 1);
}

static void test_systemd(void)
{
  struct serving s;
  scgi_server *srv;
  uint16_t port;
  int lfd, saved3 = -1;

  clear_env();
  srv = new_server();
  TAP_EQ(scgi_server_listen(srv, NULL), SCGI_ENOLISTENER,
         "NULL with nothing inherited -> SCGI_ENOLISTENER");
  set_systemd_env(getpid() + 1, 1);
  TAP_EQ(scgi_server_listen(srv, NULL), SCGI_ENOLISTENER,
         "LISTEN_PID of another process is ignored");
  set_systemd_env(getpid(), 1);
  setenv("LISTEN_FDS", "1x", 1);
  TAP_EQ(scgi_server_listen(srv, NULL), SCGI_EINVAL,
         "malformed LISTEN_FDS -> SCGI_EINVAL");
  scgi_server_free(srv);

  /* Descriptor 3 must be ours for a moment. */
  if (fcntl(3, F_GETFD) >= 0)
    saved3 = fcntl(3, F_DUPFD_CLOEXEC, 10);
  lfd = tcp_listener(&port);
  if (lfd != 3) {
    dup2(lfd, 3);
    close(lfd);
  }
  set_systemd_env(getpid(), 1);
  srv = new_server();
  TAP_EQ(scgi_server_listen(srv, NULL), 0,
         "NULL with LISTEN_FDS=1 for this process");
  TAP_STREQ(getenv("LISTEN_FDS"), "1", "the environment is left as it is");
  serve_start(&s, srv, 2);
  TAP_OK(good_exchange(connect_tcp(port), "/systemd"),
         "request served on the systemd socket");
  serve_stop(&s);
  scgi_server_free(srv);
  TAP_OK(fcntl(3, F_GETFD) < 0, "inherited socket closed by scgi_server_free");

  {
    int f = open("/dev/null", O_RDONLY);
    if (f != 3) {
      dup2(f, 3);
      close(f);
    }
  }
  srv = new_server();
  TAP_EQ(scgi_server_listen(srv, NULL), -ENOTSOCK,
         "LISTEN_FDS naming a file -> -ENOTSOCK");
  scgi_server_free(srv);
  close(3);
  clear_env();
  if (saved3 >= 0) {
    dup2(saved3, 3);
    close(saved3);
  }
}

/* Sends one handoff message: `payload` plus descriptors. */
static int handoff_send(int sock, const char *payload, size_t len,
                        const int *fds, size_t nfds)
{
  union {
    struct cmsghdr align;
    char bytes[CMSG_SPACE(sizeof(int) * 4)];
  } control;
  struct iovec iov = { .iov_base = (void *)(uintptr_t)payload, .iov_len = len };
  struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };

  memset(&control, 0, sizeof control);
  if (nfds > 0) {
    struct cmsghdr *c;
    msg.msg_control = control.bytes;
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
    c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
    memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
  }
  return sendmsg(sock, &msg, MSG_NOSIGNAL) < 0 ? -1 : 0;
}

/* Accepts one request and answers it with the echo handler. */
static int accept_and_echo(scgi_server *srv)
{
  scgi_request *req;
  int rc = scgi_accept(srv, &req);

  if (rc == 0) {
    if (echo_handler(req, NULL) < 0)
      scgi_fail(req);
    scgi_request_free(req);
  }
  return rc;
}

static void test_handoff(void)
{
  char num[16], req[2048], *reply;
  int hp[2], cp[2], lfd, cfd, sfd, before;
  size_t len;
  uint16_t port;
  scgi_server *srv;

  clear_env();
  socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, hp);
  snprintf(num, sizeof num, "%d", hp[0]);
  setenv("SCGI_HANDOFF_FD", num, 1);
  srv = new_server();
  scgi_server_set(srv, SCGI_OPT_MAX_HEADER_BYTES, 1024);
  TAP_EQ(scgi_server_listen(srv, NULL), 0, "NULL with SCGI_HANDOFF_FD");
  unsetenv("SCGI_HANDOFF_FD");

  /* A connection from a socketpair; the first 20 bytes come as payload. */
  len = build_request(req, sizeof req, "/handoff", "hello");
  socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, cp);
  TAP_EQ(handoff_send(hp[1], req, 20, &cp[0], 1), 0, "handoff message sent");
  close(cp[0]);
  send_all(cp[1], req + 20, len - 20);
  TAP_EQ(accept_and_echo(srv), 0, "handed-off request accepted");
  reply = read_all(cp[1]);
  TAP_OK(strstr(reply, "\r\n\r\nuri=/handoff body=hello") != NULL,
         "payload + rest read from the fd form the request and its body");
  free(reply);
  close(cp[1]);
  {
    char done[4];
    ssize_t n = recv(hp[1], done, sizeof done, MSG_DONTWAIT);
    TAP_OK(n == 1 && done[0] == 'D',
           "after the request is freed, 'D' comes back on the handoff socket");
  }

  /* A TCP connection, the whole header block as payload, body on the fd;
   * before it, a message without a descriptor and one too large. */
  lfd = tcp_listener(&port);
  cfd = connect_tcp(port);
  sfd = accept(lfd, NULL, NULL);
  close(lfd);
  len = build_request(req, sizeof req, "/tcp", "hello");
  before = log_count();
  handoff_send(hp[1], "junk", 4, NULL, 0);
  {
    char big[2000];
    int pp[2];
    memset(big, 'x', sizeof big);
    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pp);
    handoff_send(hp[1], big, sizeof big, &pp[0], 1);
    close(pp[0]);
    handoff_send(hp[1], req, len - 5, &sfd, 1);
    close(sfd);
    send_all(cfd, req + len - 5, 5);
    TAP_EQ(accept_and_echo(srv), 0, "TCP connection handed off and served");
    reply = read_all(pp[1]);
    TAP_STREQ(reply, "", "too large a payload: its connection is closed");
    free(reply);
    close(pp[1]);
  }
  reply = read_all(cfd);
  TAP_OK(strstr(reply, "\r\n\r\nuri=/tcp body=hello") != NULL,
         "handed-off TCP request answered");
  free(reply);
  close(cfd);
  TAP_EQ(log_count(), before + 2, "two log lines for the dropped messages");
  {
    char l1[1100], l2[1100];
    log_line(before, l1, sizeof l1);
    log_line(before + 1, l2, sizeof l2);
    TAP_OK(strstr(l1, "without a descriptor") != NULL, "log: %s", l1);
    TAP_OK(strstr(l2, "more than 1056 bytes") != NULL, "log: %s", l2);
  }

  /* An empty payload, and two descriptors in one message (the extra one is
   * closed). */
  {
    int pp[2], extra[2];
    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pp);
    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, extra);
    int two[2] = { pp[0], extra[0] };
    len = build_request(req, sizeof req, "/empty", "hello");
    handoff_send(hp[1], NULL, 0, two, 2);
    close(pp[0]);
    close(extra[0]);
    send_all(pp[1], req, len);
    before = log_count();
    TAP_EQ(accept_and_echo(srv), 0, "empty payload: all read from the fd");
    reply = read_all(pp[1]);
    TAP_OK(strstr(reply, "\r\n\r\nuri=/empty body=hello") != NULL,
           "... and answered");
    free(reply);
    reply = read_all(extra[1]);
    TAP_STREQ(reply, "", "extra descriptor closed");
    free(reply);
    TAP_EQ(log_count(), before + 1, "... and logged");
    close(pp[1]);
    close(extra[1]);
  }

  /* scgiserver goes away. */
  before = log_count();
  close(hp[1]);
  TAP_EQ(scgi_accept(srv, &(scgi_request *){ NULL }), SCGI_ESTOPPED,
         "EOF on the handoff socket -> SCGI_ESTOPPED");
  {
    char l1[1100];
    log_line(before, l1, sizeof l1);
    TAP_OK(strstr(l1, "scgiserver closed the handoff socket") != NULL,
           "log: %s", l1);
  }
  scgi_server_free(srv);

  /* Not a SOCK_SEQPACKET socket. */
  socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, cp);
  snprintf(num, sizeof num, "%d", cp[0]);
  setenv("SCGI_HANDOFF_FD", num, 1);
  srv = new_server();
  TAP_EQ(scgi_server_listen(srv, NULL), SCGI_EINVAL,
         "SCGI_HANDOFF_FD of a stream socket -> SCGI_EINVAL");
  scgi_server_free(srv);
  TAP_OK(fcntl(cp[0], F_GETFD) >= 0, "... left open");
  close(cp[0]);
  close(cp[1]);
  clear_env();
}

/* ---- malformed requests ----------------------------------------------------------- */

struct bad_case {
  const char *what;
  const char *bytes;
  size_t len;
  bool close_early; /* the client closes instead of waiting */
  const char *reply; /* expected in the reply, or NULL for none */
  const char *log;   /* expected in the log line */
};

/* Wraps a header block into its netstring. */
static size_t netstring(char *out, const char *block, size_t len)
{
  int n = sprintf(out, "%zu:", len);

  memcpy(out + n, block, len);
  out[(size_t)n + len] = ',';
  return (size_t)n + len + 1;
}

static void test_bad_requests(void)
{
  char no_scgi[64], bad_cl[64];
  size_t no_scgi_len =
      netstring(no_scgi, "CONTENT_LENGTH\0" "0\0" "X\0" "y\0", 21);
  size_t bad_cl_len =
      netstring(bad_cl, "CONTENT_LENGTH\0" "-1\0" "SCGI\0" "1\0", 25);
  const struct bad_case cases[] = {
    { "bad netstring length", "x:", 2, false,
      "netstring length must start with a decimal digit",
      "netstring length must start with a decimal digit (byte 0)" },
    { "missing SCGI", no_scgi, no_scgi_len, false, "no SCGI variable",
      "no SCGI variable" },
    { "bad CONTENT_LENGTH", bad_cl, bad_cl_len, false,
      "CONTENT_LENGTH is not a plain decimal",
      "CONTENT_LENGTH is not a plain decimal number that fits (byte 18)" },
    { "header timeout", "30:CONTENT", 10, false, "request header timed out",
      "header not complete after 200 ms (10 bytes received)" },
    { "peer closes mid-header", "30:CONTENT", 10, true, NULL,
      "connection closed before the end of the request (after 10 bytes)" },
  };
  uint16_t port;
  int lfd = tcp_listener(&port);
  char addr[32];
  struct serving s;
  scgi_server *srv = new_server();

  scgi_server_set(srv, SCGI_OPT_READ_TIMEOUT_MS, 200);
  snprintf(addr, sizeof addr, "fd:%d", lfd);
  scgi_server_listen(srv, addr);
  serve_start(&s, srv, 2);

  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const struct bad_case *c = &cases[i];
    int before = log_count(), fd = connect_tcp(port);
    char line[1100], want[256];
    double t0 = now_ms();

    if (c->close_early) {
      send_all(fd, c->bytes, c->len);
      sleep_ms(20);
      close(fd);
    } else {
      char *reply = exchange(fd, c->bytes, c->len);
      TAP_OK(strstr(reply, "Status: 400") == reply, "%s: client gets 400",
             c->what);
      TAP_OK(strstr(reply, c->reply) != NULL, "%s: reply gives the reason",
             c->what);
      if (strstr(c->what, "timeout") != NULL)
        TAP_OK(now_ms() - t0 >= 190 && now_ms() - t0 < 2000,
               "%s: after about 200 ms (%.0f ms)", c->what, now_ms() - t0);
      free(reply);
    }
    wait_log(before);
    sleep_ms(30);
    TAP_EQ(log_count(), before + 1, "one log line");
    log_line(before, line, sizeof line);
    snprintf(want, sizeof want, "bad request from 127.0.0.1:");
    TAP_OK(strstr(line, want) == line && strstr(line, c->log) != NULL,
           "%s: log: %s", c->what, line);
    TAP_OK(good_exchange(connect_tcp(port), "/after"),
           "%s: a good request is still served after it", c->what);
  }
  TAP_EQ(serve_stop(&s), 0, "scgi_serve stops");
  scgi_server_free(srv);
}

/* ---- logging --------------------------------------------------------------------------- */

static void test_logging(void)
{
  struct scgi__conn_settings cfg = { .log = capture_log, .log_arg = &logcap };
  char big[3000], line[1100];
  int before = log_count(), pipefd[2], saved_err;
  uint16_t port;
  scgi_server *srv;

  memset(big, 'y', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  scgi__log(&cfg, SCGI_LOG_INFO, "start %s end", big);
  log_line(before, line, sizeof line);
  TAP_EQ(strlen(line), 1023, "long log line cut to the buffer");
  TAP_OK(strcmp(line + strlen(line) - 3, "...") == 0,
         "... and ends with '...'");
  cfg.log = NULL;
  scgi__log(&cfg, SCGI_LOG_INFO, "dropped");
  TAP_EQ(log_count(), before + 1, "NULL log function discards");

  /* The default log: "libscgi: " lines on standard error. */
  fflush(stderr);
  saved_err = dup(2);
  TAP_EQ(pipe(pipefd), 0, "pipe for stderr");
  dup2(pipefd[1], 2);
  close(pipefd[1]);
  srv = scgi_server_new();
  {
    char addr[32];
    int lfd = tcp_listener(&port);
    snprintf(addr, sizeof addr, "fd:%d", lfd);
    scgi_server_listen(srv, addr);
  }
  int fd = connect_tcp(port), good = connect_tcp(port);
  char req[1024];
  size_t len = build_request(req, sizeof req, "/log", "hello");
  send_all(fd, "x:", 2);
  send_all(good, req, len);
  TAP_EQ(accept_and_echo(srv), 0, "bad request refused, good one accepted");
  close(good);
  dup2(saved_err, 2);
  close(saved_err);
  {
    char *err = read_all(pipefd[0]);
    TAP_OK(strncmp(err, "libscgi: bad request from 127.0.0.1:", 36) == 0 &&
               strstr(err, "(byte 0)\n") != NULL &&
               strchr(err, '\n') == err + strlen(err) - 1,
           "default log writes one 'libscgi: ' line to stderr: %s", err);
    free(err);
  }
  close(pipefd[0]);
  close(fd);
  scgi_server_free(srv);
}

/* The default log writes to stderr; when that is a pipe whose reader went
 * away (a dead logger), the write must fail quietly, not raise SIGPIPE:
 * the library promises never to raise it. Run in a child with SIGPIPE at
 * its default action, which would kill it. */
static void test_log_stderr_no_sigpipe(void)
{
  int pipefd[2], status = 0;
  pid_t pid;

  TAP_EQ(pipe(pipefd), 0, "pipe for a stderr without reader");
  fflush(NULL);
  pid = fork();
  if (pid == 0) {
    scgi_server *srv;
    int rc;
    sigset_t pending;

    signal(SIGPIPE, SIG_DFL);
    close(pipefd[0]);
    dup2(pipefd[1], 2);
    close(pipefd[1]);
    clear_env();
    setenv("LISTEN_PID", "1x", 1); /* malformed: logged */
    setenv("LISTEN_FDS", "1", 1);
    srv = scgi_server_new();
    rc = scgi_server_listen(srv, NULL);
    scgi_server_free(srv);
    sigemptyset(&pending);
    sigpending(&pending);
    _exit(rc == SCGI_EINVAL && !sigismember(&pending, SIGPIPE) ? 0 : 1);
  }
  close(pipefd[0]);
  close(pipefd[1]);
  TAP_OK(pid > 0 && waitpid(pid, &status, 0) == pid, "child ran");
  TAP_OK(WIFEXITED(status) && WEXITSTATUS(status) == 0,
         "default log to a reader-less stderr pipe raises no SIGPIPE "
         "(status %#x%s)", status,
         WIFSIGNALED(status) && WTERMSIG(status) == SIGPIPE
             ? ", killed by SIGPIPE" : "");
}

/* ---- stopping ----------------------------------------------------------------------------- */

static scgi_server *stop_target;

static void on_sigusr1(int sig)
{
  (void)sig;
  scgi_server_stop(stop_target);
}

struct accepter {
  scgi_server *srv;
  atomic_int rc;
  double returned_ms;
};

static void *accept_main(void *p)
{
  struct accepter *a = p;
  scgi_request *req = NULL;

  int rc = scgi_accept(a->srv, &req);

  atomic_store(&a->rc, rc);
  a->returned_ms = now_ms();
  scgi_request_free(req);
  return NULL;
}

static void *raise_later(void *p)
{
  (void)p;
  sleep_ms(100);
  raise(SIGUSR1);
  return NULL;
}

static void test_stop(void)
{
  struct sigaction sa;
  struct accepter a;
  struct serving s;
  pthread_t tid;
  uint16_t port;
  char addr[32];
  double t0;

  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_sigusr1;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGUSR1, &sa, NULL);

  /* A blocked scgi_accept(), stopped from a signal handler. */
  a.srv = stop_target = new_server();
  snprintf(addr, sizeof addr, "fd:%d", tcp_listener(&port));
  scgi_server_listen(a.srv, addr);
  atomic_store(&a.rc, 1);
  pthread_create(&tid, NULL, accept_main, &a);
  sleep_ms(100);
  t0 = now_ms();
  pthread_kill(tid, SIGUSR1);
  pthread_join(tid, NULL);
  TAP_EQ(a.rc, SCGI_ESTOPPED, "signal handler stop: scgi_accept -> ESTOPPED");
  TAP_OK(a.returned_ms - t0 < 2000, "... promptly (%.1f ms)",
         a.returned_ms - t0);
  TAP_EQ(scgi_accept(a.srv, &(scgi_request *){ NULL }), SCGI_ESTOPPED,
         "a stopped server stays stopped");
  scgi_server_stop(a.srv);
  scgi_server_free(a.srv);

  /* scgi_serve() on 3 threads, stopped by a signal raised in another. */
  stop_target = new_server();
  snprintf(addr, sizeof addr, "fd:%d", tcp_listener(&port));
  scgi_server_listen(stop_target, addr);
  serve_start(&s, stop_target, 3);
  TAP_OK(good_exchange(connect_tcp(port), "/before-stop"),
         "served before the stop");
  t0 = now_ms();
  pthread_create(&tid, NULL, raise_later, NULL);
  pthread_join(s.tid, NULL);
  pthread_join(tid, NULL);
  TAP_EQ(s.rc, 0, "scgi_serve returns 0 after a signal-handler stop");
  TAP_OK(now_ms() - t0 < 3000, "... promptly (%.1f ms)", now_ms() - t0);
  scgi_server_free(stop_target);
  stop_target = NULL;
  signal(SIGUSR1, SIG_DFL);
}

/* ---- running out of descriptors ----------------------------------------------------------- */

static double cpu_ms(void)
{
  struct rusage ru;

  getrusage(RUSAGE_SELF, &ru);
  return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
         (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

static bool under_valgrind(void)
{
  const char *preload = getenv("LD_PRELOAD");

  return preload != NULL && strstr(preload, "valgrind") != NULL;
}

static void test_emfile(void)
{
  struct rlimit old, low;
  struct accepter a;
  int fillers[256], nfill = 0, cfd, lfd, before, highest = 0;
  char addr[32], req[1024], *reply;
  pthread_t tid;
  uint16_t port;
  double cpu0, cpu1;
  size_t len;

  atomic_store(&a.rc, 1);
  lfd = tcp_listener(&port);
  a.srv = new_server();
  snprintf(addr, sizeof addr, "fd:%d", lfd);
  scgi_server_listen(a.srv, addr);
  cfd = connect_tcp(port);
  len = build_request(req, sizeof req, "/emfile", "hello");
  send_all(cfd, req, len);

  /* Fill every descriptor below a low limit (descriptors already open
   * above it stay usable). */
  for (int fd = 0; fd < 128; fd++)
    if (fcntl(fd, F_GETFD) >= 0)
      highest = fd;
  getrlimit(RLIMIT_NOFILE, &old);
  low = old;
  low.rlim_cur = (rlim_t)highest + 32;
  if (highest >= 128 - 32 || low.rlim_cur > old.rlim_max ||
      setrlimit(RLIMIT_NOFILE, &low) < 0) {
    tap_diag("skip: cannot lower RLIMIT_NOFILE here");
    close(cfd);
    scgi_server_free(a.srv);
    return;
  }
  for (;;) {
    int fd = dup(0);
    if (fd < 0)
      break;
    fillers[nfill++] = fd;
  }
  TAP_OK(nfill > 0 && errno == EMFILE, "descriptors exhausted (%d fillers)",
         nfill);

  before = log_count();
  pthread_create(&tid, NULL, accept_main, &a);
  sleep_ms(20);
  cpu0 = cpu_ms();
  sleep_ms(300);
  cpu1 = cpu_ms();
  TAP_EQ(atomic_load(&a.rc), 1, "scgi_accept neither returns nor fails at EMFILE");
  TAP_OK(cpu1 - cpu0 < 100, "... and does not spin (%.1f ms CPU in 300 ms)",
         cpu1 - cpu0);
  TAP_EQ(log_count(), before + 1, "one rate-limited warning");
  {
    char line[1100];
    log_line(before, line, sizeof line);
    TAP_OK(strstr(line, "Too many open files") != NULL, "log: %s", line);
  }
  while (nfill > 0)
    close(fillers[--nfill]);
  if (under_valgrind()) {
    /* Valgrind enforces the limit itself, by closing the descriptor the
     * kernel already accepted: the waiting connection is gone. */
    tap_diag("valgrind: the pending connection was lost; using a new one");
    close(cfd);
    cfd = connect_tcp(port);
    send_all(cfd, req, len);
  }
  pthread_join(tid, NULL);
  setrlimit(RLIMIT_NOFILE, &old);
  TAP_EQ(a.rc, 0, "scgi_accept recovers once descriptors are free");
  reply = read_all(cfd);
  TAP_OK(strstr(reply, "Status: 200") == reply,
         "... and the waiting request is answered");
  free(reply);
  close(cfd);
  scgi_server_free(a.srv);
}

/* Reads until EOF or error; returns 0 for a clean EOF, else -errno. */
static int read_to_end(int fd, char *buf, size_t cap, size_t *len)
{
  *len = 0;
  for (;;) {
    ssize_t n = read(fd, buf + *len, cap - *len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return -errno;
    if (n == 0) {
      shutdown(fd, SHUT_WR); /* done, like a front server */
      return 0;
    }
    *len += (size_t)n;
    if (*len == cap)
      return -ENOBUFS;
  }
}

/* Accepts one request over TCP in a child process, which answers part of
 * a response and then dies (or finishes normally when `die` is false). */
static int tcp_child_answer(int lfd, bool die)
{
  char num[32];
  scgi_request *req;
  scgi_server *srv;

  snprintf(num, sizeof num, "fd:%d", lfd);
  if (!(srv = scgi_server_new()) || scgi_server_listen(srv, num) != 0 ||
      scgi_accept(srv, &req) != 0)
    _exit(3);
  scgi_printf(req, "partial");
  scgi_flush(req);
  if (die)
    _exit(1);
  scgi_request_free(req);
  _exit(0);
}

static void test_death_resets_tcp(void)
{
  char req[512], buf[4096];
  uint16_t port;
  size_t len, got;

  for (int die = 0; die <= 1; die++) {
    int lfd = tcp_listener(&port), cfd, status, rc;
    pid_t pid = fork();
    if (pid == 0)
      tcp_child_answer(lfd, die);
    close(lfd);
    cfd = connect_tcp(port);
    len = build_request(req, sizeof req, "/die", "");
    send_all(cfd, req, len);
    rc = read_to_end(cfd, buf, sizeof buf, &got);
    waitpid(pid, &status, 0);
    if (die) {
      TAP_EQ(rc, -ECONNRESET,
             "TCP: a process that dies mid-response resets the connection");
      TAP_OK(got > 0, "TCP: the bytes sent before dying arrived first");
    } else {
      TAP_EQ(rc, 0, "TCP: a normal finish closes cleanly (no reset)");
      buf[got] = '\0';
      TAP_OK(strstr(buf, "\r\n\r\npartial") != NULL,
             "TCP: the whole response arrived");
    }
    close(cfd);
  }
}

/* ---- the waiting room ------------------------------------------------------------------- */

#define IDLE_CONNS 100

static int count_fds(void)
{
  int n = 0;
  char path[64];

  for (int fd = 0; fd < 4096; fd++) {
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    n += access(path, F_OK) == 0;
  }
  return n;
}

/* True when nothing (no byte, no EOF) has arrived on fd. */
static bool still_waiting(int fd)
{
  struct pollfd pfd = { .fd = fd, .events = POLLIN };

  return poll(&pfd, 1, 0) == 0;
}

struct trickle {
  pthread_t tid;
  int fd;
  int ok;
};

/* Sends a good request one byte at a time, then checks the answer. */
static void *trickle_main(void *p)
{
  struct trickle *t = p;
  char req[2048], *reply;
  size_t len = build_request(req, sizeof req, "/trickle", "hello");

  for (size_t i = 0; i < len; i++) {
    send_all(t->fd, req + i, 1);
    sleep_ms(2);
  }
  reply = read_all(t->fd);
  t->ok = strstr(reply, "Status: 200") == reply &&
          strstr(reply, "uri=/trickle body=hello") != NULL;
  if (!t->ok)
    tap_diag("trickle reply: %s", reply);
  free(reply);
  close(t->fd);
  return NULL;
}

/* Connections with an incomplete header wait without holding a thread:
 * with 2 threads and 100 of them open, requests are still served, a
 * client sending a byte at a time is answered, and the idle ones get
 * their 400 at the header deadline. */
static void test_waiting_room(void)
{
  static const char partial[] = "70:CONTENT_LENGTH";
  int idle[IDLE_CONNS], fds_before = count_fds(), answered = 0, waiting = 0;
  struct serving s;
  struct trickle t;
  scgi_server *srv = new_server();
  char addr[128], path[96];
  int before;

  snprintf(path, sizeof path, "%s/room.sock", tmpdir);
  snprintf(addr, sizeof addr, "unix:%s", path);
  scgi_server_set(srv, SCGI_OPT_READ_TIMEOUT_MS, 2000);
  TAP_EQ(scgi_server_listen(srv, addr), 0, "room: listening");
  serve_start(&s, srv, 2);
  for (int i = 0; i < IDLE_CONNS; i++) {
    idle[i] = connect_unix(path);
    send_all(idle[i], partial, sizeof partial - 1);
  }
  t.fd = connect_unix(path);
  pthread_create(&t.tid, NULL, trickle_main, &t);
  TAP_OK(good_exchange(connect_unix(path), "/while-idle"),
         "room: a request is served while %d idle ones wait on 2 threads",
         IDLE_CONNS);
  pthread_join(t.tid, NULL);
  TAP_OK(t.ok, "room: a header sent a byte at a time is read and served");
  for (int i = 0; i < IDLE_CONNS; i++)
    waiting += still_waiting(idle[i]);
  TAP_EQ(waiting, IDLE_CONNS, "room: the idle ones are still open meanwhile");

  before = log_count();
  for (int i = 0; i < IDLE_CONNS; i++) {
    double t0 = now_ms();
    char *reply = read_all(idle[i]);
    int e = errno;
    bool ok = strstr(reply, "Status: 400") == reply &&
              strstr(reply, "request header timed out") != NULL;
    if (!ok)
      tap_diag("idle connection %d: reply '%s' (%s) after %.0f ms", i, reply,
               strerror(e), now_ms() - t0);
    answered += ok;
    free(reply);
    close(idle[i]);
  }
  TAP_EQ(answered, IDLE_CONNS, "room: each idle one gets 400 at the deadline");
  for (double end = now_ms() + IO_TIMEOUT_MS;
       log_count() < before + IDLE_CONNS && now_ms() < end;)
    sleep_ms(5);
  TAP_OK(log_count() >= before + IDLE_CONNS, "room: each is logged (%d)",
         log_count() - before);
  TAP_OK(good_exchange(connect_unix(path), "/after-idle"),
         "room: served after they expired");

  /* Stopping with connections in the room: freeing the server closes them. */
  for (int i = 0; i < 5; i++) {
    idle[i] = connect_unix(path);
    send_all(idle[i], partial, sizeof partial - 1);
  }
  sleep_ms(50);
  TAP_EQ(serve_stop(&s), 0, "room: scgi_serve stops with connections waiting");
  scgi_server_free(srv);
  answered = 0;
  for (int i = 0; i < 5; i++) {
    char *reply = read_all(idle[i]);
    answered += reply[0] == '\0';
    free(reply);
    close(idle[i]);
  }
  TAP_EQ(answered, 5, "room: scgi_server_free closes the waiting ones");
  TAP_EQ(count_fds(), fds_before, "room: no descriptor left behind");
}

int main(void)
{
  signal(SIGPIPE, SIG_IGN);
  alarm(60); /* a hang fails the test instead of blocking make check */
  snprintf(tmpdir, sizeof tmpdir, "/tmp/test_server.XXXXXX");
  if (mkdtemp(tmpdir) == NULL) {
    perror("mkdtemp");
    return 2;
  }
  test_malformed_addresses();
  test_settings();
  test_systemd();
  test_fd_addresses();
  test_tcp_addresses();
  test_ipv6();
  test_unix();
  test_handoff();
  test_bad_requests();
  test_logging();
  test_log_stderr_no_sigpipe();
  test_death_resets_tcp();
  test_stop();
  test_waiting_room();
  test_emfile();
  rmdir(tmpdir);
  return tap_done();
}
