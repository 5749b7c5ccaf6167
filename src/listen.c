/*
 * listen.c - listeners: address parsing, socket creation and inherited
 * sockets (systemd, scgiserver handoff). Taking connections from them is
 * in accept.c.
 *
 * Copyright (C) 2026 The libscgi authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"
#include "internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define HANDOFF_ENV "SCGI_HANDOFF_FD"

#define SD_LISTEN_FDS_START 3
/* More inherited descriptors than this is taken as a corrupt environment. */
#define SD_LISTEN_FDS_MAX 4096

/* Longest host name we resolve (RFC 1035: 253 characters). */
#define HOST_MAX 253

/* ---- small parsers -------------------------------------------------------- */

/* Parses a plain decimal number: digits only, no sign, no space, no leading
 * zero, at most `max`. */
static bool parse_decimal(const char *s, size_t len, unsigned long max,
                          unsigned long *out)
{
  unsigned long v = 0;

  if (len == 0 || (s[0] == '0' && len > 1))
    return false;
  for (size_t i = 0; i < len; i++) {
    unsigned d = (unsigned char)s[i] - '0';
    if (d > 9 || v > (max - d) / 10)
      return false;
    v = v * 10 + d;
  }
  *out = v;
  return true;
}

static bool parse_port(const char *s, uint16_t *port)
{
  unsigned long v;

  if (!parse_decimal(s, strlen(s), 65535, &v) || v == 0)
    return false;
  *port = (uint16_t)v;
  return true;
}

/* Parses a whole string as a descriptor number. */
static bool parse_fd(const char *s, int *fd)
{
  unsigned long v;

  if (s == NULL || !parse_decimal(s, strlen(s), INT_MAX, &v))
    return false;
  *fd = (int)v;
  return true;
}

static bool is_dotted(const char *host)
{
  return strspn(host, "0123456789.") == strlen(host);
}

static bool is_host_name(const char *host)
{
  static const char allowed[] = "abcdefghijklmnopqrstuvwxyz"
                                "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                "0123456789-._";
  size_t len = strlen(host);

  return len > 0 && len <= HOST_MAX && strspn(host, allowed) == len;
}

/* ---- descriptors ------------------------------------------------------------ */

static int getsockopt_int(int fd, int level, int name, int *value)
{
  socklen_t len = sizeof *value;

  *value = 0;
  return getsockopt(fd, level, name, value, &len) < 0 ? -errno : 0;
}

/* Checks that fd is a listening stream socket, without changing it. */
static int check_listening(int fd)
{
  struct stat st;
  int accepting, type, err;

  if (fstat(fd, &st) < 0)
    return -errno;
  if (!S_ISSOCK(st.st_mode))
    return -ENOTSOCK;
  err = getsockopt_int(fd, SOL_SOCKET, SO_ACCEPTCONN, &accepting);
  if (err == 0)
    err = getsockopt_int(fd, SOL_SOCKET, SO_TYPE, &type);
  if (err < 0)
    return err;
  return accepting && type == SOCK_STREAM ? 0 : SCGI_EINVAL;
}

/* Checks that fd is an AF_UNIX SOCK_SEQPACKET socket that is not listening:
 * the handoff socket from scgiserver. */
static int check_handoff(int fd)
{
  struct stat st;
  int domain, type, accepting, err;

  if (fstat(fd, &st) < 0)
    return -errno;
  if (!S_ISSOCK(st.st_mode))
    return -ENOTSOCK;
  err = getsockopt_int(fd, SOL_SOCKET, SO_DOMAIN, &domain);
  if (err == 0)
    err = getsockopt_int(fd, SOL_SOCKET, SO_TYPE, &type);
  if (err == 0)
    err = getsockopt_int(fd, SOL_SOCKET, SO_ACCEPTCONN, &accepting);
  if (err < 0)
    return err;
  return domain == AF_UNIX && type == SOCK_SEQPACKET && !accepting
             ? 0
             : SCGI_EINVAL;
}

/* Makes an adopted listening socket non-blocking (several threads poll it,
 * and only one of them gets each connection) and close-on-exec. */
static int adopt_listening(int fd)
{
  int fl = fcntl(fd, F_GETFL);

  if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 ||
      fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
    return -errno;
  return 0;
}

/* The handoff socket stays blocking: receives use MSG_DONTWAIT, so the
 * descriptor's shared flags need not change. */
static int adopt_handoff(int fd)
{
  return fcntl(fd, F_SETFD, FD_CLOEXEC) < 0 ? -errno : 0;
}

/* ---- the listener list --------------------------------------------------- */

static bool listed(const struct scgi__listener *list, size_t count, int fd)
{
  for (size_t i = 0; i < count; i++)
    if (list[i].fd == fd)
      return true;
  return false;
}

static void listener_init(struct scgi__listener *l, int fd, bool handoff)
{
  memset(l, 0, sizeof *l);
  l->fd = fd;
  l->handoff = handoff;
  l->closed = false;
}

void scgi__listener_close(struct scgi__listener *l)
{
  struct stat st;

  scgi__done_unref(atomic_exchange(&l->done, NULL));
  /* Unlink before close: while our socket is open its inode cannot be
   * freed and reused by a file someone else created at the path, so equal
   * st_dev/st_ino really means our file. */
  if (l->path != NULL) {
    if (lstat(l->path, &st) == 0 && S_ISSOCK(st.st_mode) &&
        st.st_dev == l->dev && st.st_ino == l->ino)
      unlink(l->path);
    free(l->path);
    l->path = NULL;
  }
  if (l->fd >= 0)
    close(l->fd);
  l->fd = -1;
}

/* Appends n listeners to the list; on failure the list is unchanged. */
static int append(struct scgi__listener **list, size_t *count,
                  const struct scgi__listener *add, size_t n)
{
  struct scgi__listener *grown;

  if (n > SIZE_MAX / sizeof **list - *count)
    return SCGI_ENOMEM;
  grown = realloc(*list, (*count + n) * sizeof **list);
  if (grown == NULL)
    return SCGI_ENOMEM;
  memcpy(grown + *count, add, n * sizeof *add);
  *list = grown;
  *count += n;
  return 0;
}

/* ---- TCP ------------------------------------------------------------------ */

/* How long a TCP connection that has sent nothing yet stays with the
 * kernel before accept() sees it anyway. */
#define DEFER_ACCEPT_S 5

static int listen_tcp(const struct sockaddr *sa, socklen_t len,
                      const struct scgi__listen_params *params,
                      struct scgi__listener *l)
{
  int one = 1, err;
  int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
                  0);

  if (fd < 0)
    return -errno;
  /* A restarted server must be able to bind while old connections are in
   * TIME_WAIT; [::] must not also take the IPv4 port. */
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
      (sa->sa_family == AF_INET6 &&
       setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) < 0) ||
      bind(fd, sa, len) < 0 || listen(fd, params->backlog) < 0) {
    err = errno;
    close(fd);
    return err == EADDRINUSE ? SCGI_EADDRINUSE : -err;
  }
  /* Wake accept() only once the request's first bytes are in: front
   * servers send them at once, and the header is then usually read
   * without waiting. Best effort; the value is in seconds. */
  (void)setsockopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &(int){DEFER_ACCEPT_S},
                   sizeof(int));
  listener_init(l, fd, false);
  return 0;
}

static int resolve_error(const struct scgi__listen_params *params,
                     const char *host, int rc)
{
  if (rc == EAI_MEMORY)
    return SCGI_ENOMEM;
  if (rc == EAI_SYSTEM)
    return errno > 0 ? -errno : SCGI_EADDRESS;
  scgi__log(params->cfg, SCGI_LOG_ERROR, "cannot resolve '%s': %s", host,
            gai_strerror(rc));
  return rc == EAI_AGAIN ? -EAGAIN : SCGI_EADDRESS;
}

/* Splits HOST:PORT (exactly one ':', a non-empty host). */
static int split_host_port(const char *address, char host[HOST_MAX + 1],
                           uint16_t *port)
{
  const char *colon = strchr(address, ':');
  size_t len;

  if (colon == NULL || strchr(colon + 1, ':') != NULL ||
      !parse_port(colon + 1, port))
    return SCGI_EADDRESS;
  len = (size_t)(colon - address);
  if (len == 0 || len > HOST_MAX)
    return SCGI_EADDRESS;
  memcpy(host, address, len);
  host[len] = '\0';
  return 0;
}

/* Binds the first IPv4 address of a host name that works. */
static int listen_name(const char *host, uint16_t port,
                       const struct scgi__listen_params *params,
                       struct scgi__listener *l)
{
  struct addrinfo hints, *res, *ai;
  struct sockaddr_in sin;
  int rc;

  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  rc = getaddrinfo(host, NULL, &hints, &res);
  if (rc != 0)
    return resolve_error(params, host, rc);
  rc = SCGI_EADDRESS;
  for (ai = res; ai != NULL; ai = ai->ai_next) {
    if (ai->ai_family != AF_INET || ai->ai_addrlen != sizeof sin)
      continue;
    memcpy(&sin, ai->ai_addr, sizeof sin);
    sin.sin_port = htons(port);
    rc = listen_tcp((struct sockaddr *)&sin, sizeof sin, params, l);
    if (rc == 0)
      break;
  }
  freeaddrinfo(res);
  return rc;
}

/* HOST:PORT with an IPv4 literal, '*' or a name resolved to IPv4. */
static int listen_ipv4(const char *address,
                       const struct scgi__listen_params *params,
                       struct scgi__listener *l)
{
  char host[HOST_MAX + 1];
  struct sockaddr_in sin;
  uint16_t port;
  int rc = split_host_port(address, host, &port);

  if (rc < 0)
    return rc;
  memset(&sin, 0, sizeof sin);
  sin.sin_family = AF_INET;
  sin.sin_port = htons(port);
  if (strcmp(host, "*") == 0) {
    sin.sin_addr.s_addr = htonl(INADDR_ANY);
  } else if (is_dotted(host)) {
    /* Strict: getaddrinfo() would take "1.2" or "010.0.0.1" as inet_aton()
     * does. */
    if (inet_pton(AF_INET, host, &sin.sin_addr) != 1)
      return SCGI_EADDRESS;
  } else if (is_host_name(host)) {
    return listen_name(host, port, params, l);
  } else {
    return SCGI_EADDRESS;
  }
  return listen_tcp((struct sockaddr *)&sin, sizeof sin, params, l);
}

/* [IPV6]:PORT, the address numeric (a %zone is allowed). */
static int listen_ipv6(const char *address,
                       const struct scgi__listen_params *params,
                       struct scgi__listener *l)
{
  const char *close_br = strchr(address, ']');
  char host[INET6_ADDRSTRLEN + 64];
  struct sockaddr_in6 sin6;
  struct addrinfo hints, *res;
  size_t host_len;
  uint16_t port;
  int rc;

  if (close_br == NULL || close_br[1] != ':' || !parse_port(close_br + 2, &port))
    return SCGI_EADDRESS;
  host_len = (size_t)(close_br - address - 1);
  if (host_len == 0 || host_len >= sizeof host)
    return SCGI_EADDRESS;
  memcpy(host, address + 1, host_len);
  host[host_len] = '\0';

  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_INET6;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST;
  rc = getaddrinfo(host, NULL, &hints, &res);
  if (rc == EAI_NONAME || rc == EAI_FAMILY)
    return SCGI_EADDRESS;
  if (rc != 0)
    return resolve_error(params, host, rc);
  if (res->ai_family != AF_INET6 || res->ai_addrlen != sizeof sin6) {
    freeaddrinfo(res);
    return SCGI_EADDRESS;
  }
  memcpy(&sin6, res->ai_addr, sizeof sin6);
  freeaddrinfo(res);
  sin6.sin6_port = htons(port);
  return listen_tcp((struct sockaddr *)&sin6, sizeof sin6, params, l);
}

/* ---- Unix sockets ----------------------------------------------------------- */

/* Decides what to do with whatever is at the socket's path: 0 when the path
 * is free (a stale socket file, left by a dead server, was removed);
 * SCGI_EADDRINUSE when a server answers there; SCGI_ENOTSOCKET when the
 * path is not a socket (a symbolic link is not followed). */
static int clear_stale(const struct sockaddr_un *sun)
{
  struct stat st;
  int fd, rc, err;

  if (lstat(sun->sun_path, &st) < 0)
    return errno == ENOENT ? 0 : -errno;
  if (!S_ISSOCK(st.st_mode))
    return SCGI_ENOTSOCKET;

  fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -errno;
  rc = connect(fd, (const struct sockaddr *)sun, sizeof *sun);
  err = errno;
  close(fd);
  if (rc == 0 || err == EAGAIN || err == EINPROGRESS || err == EPROTOTYPE)
    return SCGI_EADDRINUSE; /* live (EPROTOTYPE: a live non-stream socket) */
  if (err == ENOENT)
    return 0;
  if (err != ECONNREFUSED)
    return -err;
  if (unlink(sun->sun_path) < 0 && errno != ENOENT)
    return -errno;
  return 0;
}

/* Binds, sets the file's mode before listen() so that no one connects while
 * it still has the umask's mode, and records what we created. */
static int bind_unix(int fd, const struct sockaddr_un *sun,
                     const struct scgi__listen_params *params,
                     struct scgi__listener *l)
{
  struct stat st;

  if (bind(fd, (const struct sockaddr *)sun, sizeof *sun) < 0)
    return errno == EADDRINUSE ? SCGI_EADDRINUSE : -errno;
  l->path = strdup(sun->sun_path);
  if (l->path == NULL) {
    unlink(sun->sun_path);
    return SCGI_ENOMEM;
  }
  if (lstat(l->path, &st) < 0)
    return -errno;
  l->dev = st.st_dev;
  l->ino = st.st_ino;
  if (chmod(l->path, (mode_t)params->socket_mode) < 0 ||
      listen(fd, params->backlog) < 0)
    return -errno;
  return 0;
}

static int listen_unix(const char *path,
                       const struct scgi__listen_params *params,
                       struct scgi__listener *l)
{
  struct sockaddr_un sun;
  size_t len = strlen(path);
  int fd, rc;

  memset(&sun, 0, sizeof sun);
  if (len == 0 || len >= sizeof sun.sun_path)
    return SCGI_EADDRESS;
  sun.sun_family = AF_UNIX;
  memcpy(sun.sun_path, path, len + 1);

  rc = clear_stale(&sun);
  if (rc < 0)
    return rc;
  fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -errno;
  listener_init(l, fd, false);
  rc = bind_unix(fd, &sun, params, l);
  if (rc < 0)
    scgi__listener_close(l); /* unlinks the file if it was created */
  return rc;
}

/* ---- descriptors given by number or inherited ---------------------------- */

/* fd:N, an already listening socket. */
static int listen_fd(const char *number,
                     const struct scgi__listener *list, size_t count,
                     struct scgi__listener *l)
{
  int fd, rc;

  if (!parse_fd(number, &fd))
    return SCGI_EADDRESS;
  if (listed(list, count, fd))
    return SCGI_EINVAL;
  rc = check_listening(fd);
  if (rc == 0)
    rc = adopt_listening(fd);
  if (rc == 0)
    listener_init(l, fd, false);
  return rc;
}

/* Finds systemd's sockets: LISTEN_FDS, when LISTEN_PID is this process.
 * The environment is left as it is (no global state is changed). */
static int systemd_fds(const struct scgi__listen_params *params, int *n)
{
  const char *pid_s = getenv("LISTEN_PID"), *fds_s = getenv("LISTEN_FDS");
  unsigned long pid, fds;

  *n = 0;
  if (pid_s == NULL || fds_s == NULL)
    return 0;
  if (!parse_decimal(pid_s, strlen(pid_s), ULONG_MAX, &pid))
    goto bad;
  if (pid != (unsigned long)getpid())
    return 0; /* meant for another process (our parent, say) */
  if (!parse_decimal(fds_s, strlen(fds_s), SD_LISTEN_FDS_MAX, &fds))
    goto bad;
  *n = (int)fds;
  return 0;
bad:
  scgi__log(params->cfg, SCGI_LOG_ERROR,
            "malformed LISTEN_PID='%s' or LISTEN_FDS='%s'", pid_s, fds_s);
  return SCGI_EINVAL;
}

static int check_inherited(const struct scgi__listen_params *params,
                           const struct scgi__listener *list, size_t count,
                           int fd, bool handoff)
{
  const char *what = handoff ? HANDOFF_ENV : "LISTEN_FDS";
  int rc;

  if (listed(list, count, fd)) {
    scgi__log(params->cfg, SCGI_LOG_ERROR,
              "%s: descriptor %d is already a listener", what, fd);
    return SCGI_EINVAL;
  }
  rc = handoff ? check_handoff(fd) : check_listening(fd);
  if (rc < 0)
    scgi__log(params->cfg, SCGI_LOG_ERROR,
              "%s: descriptor %d is not %s: %s", what, fd,
              handoff ? "an AF_UNIX SOCK_SEQPACKET socket"
                      : "a listening stream socket",
              scgi_strerror(rc));
  return rc;
}

/* Reads the environment and checks every inherited descriptor, changing
 * none: *nsd systemd sockets from descriptor 3, and the handoff socket
 * (*handoff_fd, -1 when none). */
static int find_inherited(const struct scgi__listen_params *params,
                          const struct scgi__listener *list, size_t count,
                          int *nsd, int *handoff_fd)
{
  const char *handoff_s = getenv(HANDOFF_ENV);
  int rc = systemd_fds(params, nsd);

  *handoff_fd = -1;
  if (rc < 0)
    return rc;
  if (handoff_s != NULL && !parse_fd(handoff_s, handoff_fd)) {
    scgi__log(params->cfg, SCGI_LOG_ERROR, "malformed %s='%s'", HANDOFF_ENV,
              handoff_s);
    return SCGI_EINVAL;
  }
  if (*nsd == 0 && *handoff_fd < 0)
    return SCGI_ENOLISTENER;
  for (int i = 0; i < *nsd; i++) {
    rc = check_inherited(params, list, count, SD_LISTEN_FDS_START + i, false);
    if (rc < 0)
      return rc;
  }
  if (*handoff_fd < 0)
    return 0;
  if (*handoff_fd >= SD_LISTEN_FDS_START &&
      *handoff_fd < SD_LISTEN_FDS_START + *nsd) {
    scgi__log(params->cfg, SCGI_LOG_ERROR,
              "%s=%d is also one of the LISTEN_FDS", HANDOFF_ENV, *handoff_fd);
    return SCGI_EINVAL;
  }
  return check_inherited(params, list, count, *handoff_fd, true);
}

/* NULL: systemd's listening sockets and scgiserver's handoff socket. */
static int listen_inherited(const struct scgi__listen_params *params,
                            struct scgi__listener **list, size_t *count)
{
  struct scgi__listener *items;
  int nsd, handoff_fd, rc;
  size_t n = 0;

  const char *wait_env = getenv("SCGI_WAIT_FOR_CLOSE");
  bool wait_close = wait_env != NULL && strcmp(wait_env, "1") == 0;

  rc = find_inherited(params, *list, *count, &nsd, &handoff_fd);
  if (rc < 0)
    return rc;
  items = calloc((size_t)nsd + 1, sizeof *items);
  if (items == NULL)
    return SCGI_ENOMEM;
  for (int i = 0; i < nsd && rc == 0; i++) {
    rc = adopt_listening(SD_LISTEN_FDS_START + i);
    listener_init(&items[n], SD_LISTEN_FDS_START + i, false);
    items[n++].wait_close = wait_close;
  }
  if (handoff_fd >= 0 && rc == 0) {
    rc = adopt_handoff(handoff_fd);
    listener_init(&items[n++], handoff_fd, true);
  }
  if (rc == 0)
    rc = append(list, count, items, n);
  /* On failure the descriptors stay open: they are not ours to close. */
  free(items);
  return rc;
}

/* ---- entry point ---------------------------------------------------------- */

int scgi__listen(const char *address, const struct scgi__listen_params *params,
                 struct scgi__listener **list, size_t *count)
{
  struct scgi__listener l;
  int rc;

  if (address == NULL)
    return listen_inherited(params, list, count);
  if (strncmp(address, "unix:", 5) == 0)
    rc = listen_unix(address + 5, params, &l);
  else if (strncmp(address, "fd:", 3) == 0)
    rc = listen_fd(address + 3, *list, *count, &l);
  else if (address[0] == '[')
    rc = listen_ipv6(address, params, &l);
  else
    rc = listen_ipv4(address, params, &l);
  if (rc < 0)
    return rc;
  rc = append(list, count, &l, 1);
  if (rc < 0) {
    if (strncmp(address, "fd:", 3) == 0)
      l.fd = -1; /* given by the caller: left open on failure */
    scgi__listener_close(&l);
  }
  return rc;
}
