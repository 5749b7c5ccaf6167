/*
 * accept.c - taking the next connection from a listener: accept(2) on a
 * listening socket, or one message from scgiserver's handoff socket.
 *
 * Copyright (C) 2026 The libscgi authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"
#include "internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/*
 * The scgiserver handoff convention (also described in scgi.h, at
 * scgi_server_listen()):
 *
 * - The environment variable SCGI_HANDOFF_FD holds the decimal number of an
 *   inherited AF_UNIX SOCK_SEQPACKET socket, connected to scgiserver.
 * - scgiserver sends one message per connection it hands over. The message
 *   carries exactly one descriptor in an SCM_RIGHTS control message: the
 *   connection to the front server. Its payload is the bytes scgiserver
 *   already read from that connection, in order (0 bytes up to the
 *   application's SCGI_OPT_MAX_HEADER_BYTES + 32, which holds any header
 *   netstring the application accepts); the rest of the request is read
 *   from the descriptor.
 * - When the application is done with a handed-off connection (the request
 *   was freed and the connection closed), it sends back a one-byte message
 *   ("D") on the handoff socket, so that scgiserver knows it can take
 *   another one.
 * - Closing the handoff socket (EOF) means scgiserver went away: the
 *   listener stops, and scgi_accept() returns SCGI_ESTOPPED once no other
 *   listener is left.
 *
 * SOCK_SEQPACKET keeps message boundaries and each recvmsg() takes one
 * whole message, descriptor and payload together, so any number of threads
 * may receive from the socket at once without a lock.
 */
#define HANDOFF_SLACK 32
/* Room for descriptors in one message: one is expected; extra ones from a
 * misbehaving sender are received so that they can be closed. */
#define HANDOFF_MAX_FDS 8

/* ---- taking connections ------------------------------------------------------- */

static void format_peer(const struct sockaddr *sa, char *out, size_t size)
{
  char ip[INET6_ADDRSTRLEN];

  if (sa->sa_family == AF_INET) {
    const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
    if (inet_ntop(AF_INET, &sin->sin_addr, ip, sizeof ip) != NULL) {
      snprintf(out, size, "%s:%u", ip, (unsigned)ntohs(sin->sin_port));
      return;
    }
  } else if (sa->sa_family == AF_INET6) {
    const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;
    if (inet_ntop(AF_INET6, &sin6->sin6_addr, ip, sizeof ip) != NULL) {
      snprintf(out, size, "[%s]:%u", ip, (unsigned)ntohs(sin6->sin6_port));
      return;
    }
  } else if (sa->sa_family == AF_UNIX) {
    snprintf(out, size, "unix");
    return;
  }
  snprintf(out, size, "unknown");
}

/* Wraps a new connection into a request. Takes ownership of fd. */
static int make_request(int fd, const struct sockaddr *peer,
                        const struct scgi__listener *l,
                        const struct scgi__conn_settings *cfg,
                        const char *prefix, size_t prefix_len,
                        scgi_request **out)
{
  scgi_request *req;

  /* accept4() made it non-blocking; a handed-off one may not be. */
  req = l->handoff ? scgi__request_new(fd, cfg, prefix, prefix_len)
                   : scgi__request_new_nb(fd, cfg, prefix, prefix_len);
  if (req == NULL)
    return SCGI_ENOMEM;
  req->tcp = peer->sa_family == AF_INET || peer->sa_family == AF_INET6;
  req->wait_peer_close = l->wait_close && peer->sa_family == AF_UNIX;
  if (req->tcp)
    scgi__request_arm_abort(req);
  format_peer(peer, req->peer, sizeof req->peer);
  *out = req;
  return 0;
}

static bool accept_retryable(int err)
{
  /* accept(2): errors of the new connection itself, to be retried. */
  switch (err) {
  case EAGAIN:
#if EWOULDBLOCK != EAGAIN
  case EWOULDBLOCK:
#endif
  case EINTR:
  case ECONNABORTED:
  case EPROTO:
  case ENETDOWN:
  case ENOPROTOOPT:
  case EHOSTDOWN:
  case ENONET:
  case EHOSTUNREACH:
  case EOPNOTSUPP:
  case ENETUNREACH:
  case EPERM: /* a firewall rule refused it */
    return true;
  default:
    return false;
  }
}

static int stream_next(struct scgi__listener *l,
                       const struct scgi__conn_settings *cfg,
                       scgi_request **out)
{
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  int fd;

  memset(&ss, 0, sizeof ss);
  fd = accept4(l->fd, (struct sockaddr *)&ss, &len,
               SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (fd < 0)
    return accept_retryable(errno) ? -EAGAIN : -errno;
  return make_request(fd, (struct sockaddr *)&ss, l, cfg, NULL, 0, out);
}

/* One received handoff message. */
struct handoff_msg {
  char *buf;
  size_t cap;  /* payload limit; buf has one more byte to see an excess */
  ssize_t len;
  int fds[HANDOFF_MAX_FDS];
  size_t nfds;
  int flags;
};

static int handoff_recv(int sock, struct handoff_msg *m)
{
  union {
    struct cmsghdr align;
    char bytes[CMSG_SPACE(sizeof(int) * HANDOFF_MAX_FDS)];
  } control;
  struct iovec iov = { .iov_base = m->buf, .iov_len = m->cap + 1 };
  struct msghdr msg;
  struct cmsghdr *c;

  memset(&msg, 0, sizeof msg);
  memset(&control, 0, sizeof control);
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control.bytes;
  msg.msg_controllen = sizeof control.bytes;
  m->len = recvmsg(sock, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
  if (m->len < 0)
    return -errno;
  m->flags = msg.msg_flags;
  m->nfds = 0;
  for (c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c)) {
    size_t n;
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS ||
        c->cmsg_len < CMSG_LEN(0))
      continue;
    n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < n && m->nfds < HANDOFF_MAX_FDS; i++)
      memcpy(&m->fds[m->nfds++], CMSG_DATA(c) + i * sizeof(int),
             sizeof(int));
  }
  return 0;
}

static void handoff_close_fds(struct handoff_msg *m, size_t from)
{
  for (size_t i = from; i < m->nfds; i++)
    close(m->fds[i]);
}

/* recvmsg() returns 0 both at EOF and for an empty message: only the
 * former leaves the socket hung up. */
static bool peer_closed(int sock)
{
  struct pollfd pfd = { .fd = sock, .events = POLLIN | POLLRDHUP };

  return poll(&pfd, 1, 0) > 0 &&
         (pfd.revents & (POLLHUP | POLLRDHUP | POLLERR)) != 0;
}

static void handoff_eof(struct scgi__listener *l,
                        const struct scgi__conn_settings *cfg)
{
  if (!atomic_exchange(&l->closed, true))
    scgi__log(cfg, SCGI_LOG_INFO,
              "scgiserver closed the handoff socket (fd %d): "
              "no more connections from it",
              l->fd);
}

/* A connection scgiserver handed over was lost before it became a request:
 * scgiserver counts it as this process's until its "D" comes, so it gets
 * one now, or that slot would stay busy for good. Sent on the handoff
 * socket itself: the done channel may need a descriptor we do not have. */
static void handoff_lost(const struct scgi__listener *l)
{
  (void)send(l->fd, "D", 1, MSG_NOSIGNAL | MSG_DONTWAIT);
}

/* Checks a received message; returns 0 when it holds exactly what the
 * convention says, with fds[0] the connection (extra descriptors closed). */
static int handoff_check(struct scgi__listener *l,
                         const struct scgi__conn_settings *cfg,
                         struct handoff_msg *m)
{
  if (m->nfds > 1) {
    scgi__log(cfg, SCGI_LOG_WARNING,
              "handoff message with %zu descriptors; extra ones closed",
              m->nfds);
    handoff_close_fds(m, 1);
    m->nfds = 1;
  }
  if (m->flags & MSG_CTRUNC) {
    /* Descriptors were dropped by the kernel: out of descriptors, most
     * likely. The connection is lost; back off like accept's EMFILE. */
    handoff_close_fds(m, 0);
    handoff_lost(l);
    scgi__log(cfg, SCGI_LOG_WARNING,
              "handoff socket fd %d: a connection was lost: its descriptor "
              "could not be received (out of file descriptors?)",
              l->fd);
    return -EMFILE;
  }
  if (m->nfds == 0) {
    if (m->len == 0 && peer_closed(l->fd)) {
      handoff_eof(l, cfg);
      return SCGI_ESTOPPED;
    }
    scgi__log(cfg, SCGI_LOG_WARNING,
              "handoff message without a descriptor (%zd bytes); dropped",
              m->len);
    return -EAGAIN;
  }
  if ((size_t)m->len > m->cap || (m->flags & MSG_TRUNC)) {
    handoff_close_fds(m, 0);
    handoff_lost(l);
    scgi__log(cfg, SCGI_LOG_ERROR,
              "handoff message with more than %zu bytes of payload; "
              "connection dropped (SCGI_OPT_MAX_HEADER_BYTES is smaller "
              "than scgiserver's?)",
              m->cap);
    return -EAGAIN;
  }
  return 0;
}

/* ---- the "D" channel ---------------------------------------------------------- */

void scgi__done_unref(struct scgi__done_channel *ch)
{
  if (ch != NULL && atomic_fetch_sub(&ch->refs, 1) == 1) {
    close(ch->fd);
    free(ch);
  }
}

void scgi__done_report(struct scgi__done_channel *ch)
{
  (void)send(ch->fd, "D", 1, MSG_NOSIGNAL | MSG_DONTWAIT);
  scgi__done_unref(ch);
}

/* A reference to the listener's channel for a new request, made with the
 * listener's first message (its own descriptor: the request may outlive
 * the listener). NULL without memory or descriptors: that request's end
 * then goes unreported, and scgiserver counts the worker busy with it
 * until the worker ends. */
static struct scgi__done_channel *done_ref(struct scgi__listener *l)
{
  struct scgi__done_channel *ch = atomic_load(&l->done);

  if (ch == NULL) {
    /* Threads may take messages at once: the first to publish one wins. */
    struct scgi__done_channel *fresh = malloc(sizeof *fresh);
    if (fresh == NULL)
      return NULL;
    fresh->fd = fcntl(l->fd, F_DUPFD_CLOEXEC, 0);
    atomic_init(&fresh->refs, 1);
    if (fresh->fd < 0) {
      free(fresh);
      return NULL;
    }
    if (!atomic_compare_exchange_strong(&l->done, &ch, fresh))
      scgi__done_unref(fresh); /* another thread made one: use that */
    else
      ch = fresh;
  }
  atomic_fetch_add(&ch->refs, 1);
  return ch;
}

static int handoff_next(struct scgi__listener *l,
                        const struct scgi__conn_settings *cfg,
                        scgi_request **out)
{
  struct handoff_msg m = { .cap = cfg->max_header_bytes + HANDOFF_SLACK };
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  int rc;

  m.buf = malloc(m.cap + 1);
  if (m.buf == NULL)
    return SCGI_ENOMEM; /* the message stays queued */
  rc = handoff_recv(l->fd, &m);
  if (rc == -EAGAIN || rc == -EINTR) {
    rc = -EAGAIN;
  } else if (rc == -ECONNRESET) {
    handoff_eof(l, cfg);
    rc = SCGI_ESTOPPED;
  } else if (rc == 0) {
    rc = handoff_check(l, cfg, &m);
  }
  if (rc == 0) {
    memset(&ss, 0, sizeof ss);
    if (getpeername(m.fds[0], (struct sockaddr *)&ss, &len) < 0)
      ss.ss_family = AF_UNSPEC;
    rc = make_request(m.fds[0], (struct sockaddr *)&ss, l, cfg, m.buf,
                      (size_t)m.len, out);
    if (rc == 0)
      (*out)->done = done_ref(l);
    else
      handoff_lost(l); /* make_request() closed the connection */
  }
  free(m.buf);
  return rc;
}

int scgi__listener_next(struct scgi__listener *l,
                        const struct scgi__conn_settings *cfg,
                        scgi_request **out)
{
  *out = NULL;
  return l->handoff ? handoff_next(l, cfg, out) : stream_next(l, cfg, out);
}
