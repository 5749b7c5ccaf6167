/*
 * room.c - the waiting room: connections whose header block has not fully
 * arrived yet. They wait in the server's epoll set instead of holding a
 * thread, so that slow or silent clients cost a few KiB each, and whichever
 * thread is free goes on reading one when it becomes readable.
 *
 * Copyright (C) 2026 The libscgi authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"
#include "internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

/*
 * Ownership: a parked request belongs to the room. The epoll registration
 * is one-shot and its key names a slot and a generation, never a pointer:
 * a thread may get an event for a request that another thread has just
 * expired and freed, and the generation tells it so. Taking a request out
 * of its slot, re-arming it and expiring it all happen under the lock, so
 * each request has exactly one owner at a time.
 */

enum slot_state { SLOT_FREE, SLOT_PARKED, SLOT_TAKEN };

struct scgi__room_slot {
  scgi_request *req;
  uint32_t gen;        /* of the current occupant (31 bits) */
  uint32_t next_free;  /* free list link while SLOT_FREE */
  enum slot_state state;
};

#define NO_SLOT UINT32_MAX
#define GEN_MASK 0x7fffffffu
/* Expired connections are looked for at most this often. */
#define SWEEP_MS 250
/* Expired requests handed out per pass of the sweep. */
#define SWEEP_BATCH 64

static uint64_t slot_key(uint32_t idx, uint32_t gen)
{
  return (uint64_t)(gen & GEN_MASK) << 32 | idx;
}

int scgi__room_init(struct scgi__room *r, int epfd)
{
  memset(r, 0, sizeof *r);
  r->epfd = epfd;
  r->free_head = NO_SLOT;
  atomic_init(&r->parked, 0);
  atomic_init(&r->next_sweep_ms, 0);
  return -pthread_mutex_init(&r->lock, NULL);
}

void scgi__room_cleanup(struct scgi__room *r)
{
  for (uint32_t i = 0; i < r->nslots; i++)
    if (r->slots[i].state != SLOT_FREE)
      scgi__request_destroy(r->slots[i].req);
  free(r->slots);
  r->slots = NULL;
  r->nslots = r->cap = 0;
  pthread_mutex_destroy(&r->lock);
}

/* Returns a free slot's index (lock held), or NO_SLOT without memory. */
static uint32_t slot_alloc(struct scgi__room *r)
{
  uint32_t idx = r->free_head;

  if (idx != NO_SLOT) {
    r->free_head = r->slots[idx].next_free;
    return idx;
  }
  if (r->nslots == r->cap) {
    uint32_t cap = r->cap ? r->cap * 2 : 64;
    struct scgi__room_slot *s;

    if (cap <= r->cap || cap >= NO_SLOT)
      return NO_SLOT;
    s = realloc(r->slots, (size_t)cap * sizeof *s);
    if (s == NULL)
      return NO_SLOT;
    r->slots = s;
    r->cap = cap;
  }
  return r->nslots++;
}

static void slot_release(struct scgi__room *r, uint32_t idx)
{
  r->slots[idx].state = SLOT_FREE;
  r->slots[idx].req = NULL;
  r->slots[idx].next_free = r->free_head;
  r->free_head = idx;
  atomic_fetch_sub(&r->parked, 1);
}

static int epoll_arm(struct scgi__room *r, int op, uint32_t idx)
{
  struct epoll_event ev = {
    .events = EPOLLIN | EPOLLRDHUP | EPOLLONESHOT,
    .data.u64 = slot_key(idx, r->slots[idx].gen),
  };

  return epoll_ctl(r->epfd, op, r->slots[idx].req->fd, &ev) < 0 ? -errno : 0;
}

int scgi__room_park(struct scgi__room *r, scgi_request *req)
{
  uint32_t idx;
  int rc;

  pthread_mutex_lock(&r->lock);
  idx = slot_alloc(r);
  if (idx == NO_SLOT) {
    pthread_mutex_unlock(&r->lock);
    return SCGI_ENOMEM;
  }
  r->slots[idx].req = req;
  r->slots[idx].gen = ++r->next_gen & GEN_MASK;
  r->slots[idx].state = SLOT_PARKED;
  req->room_slot = idx;
  atomic_fetch_add(&r->parked, 1);
  rc = epoll_arm(r, EPOLL_CTL_ADD, idx);
  if (rc < 0)
    slot_release(r, idx);
  pthread_mutex_unlock(&r->lock);
  return rc;
}

scgi_request *scgi__room_take(struct scgi__room *r, uint64_t key)
{
  uint32_t idx = (uint32_t)key, gen = (uint32_t)(key >> 32);
  scgi_request *req = NULL;

  pthread_mutex_lock(&r->lock);
  if (idx < r->nslots && r->slots[idx].gen == gen &&
      r->slots[idx].state == SLOT_PARKED) {
    r->slots[idx].state = SLOT_TAKEN;
    req = r->slots[idx].req;
  }
  pthread_mutex_unlock(&r->lock);
  return req;
}

int scgi__room_repark(struct scgi__room *r, scgi_request *req)
{
  uint32_t idx = req->room_slot;
  int rc;

  pthread_mutex_lock(&r->lock);
  r->slots[idx].state = SLOT_PARKED;
  rc = epoll_arm(r, EPOLL_CTL_MOD, idx);
  if (rc < 0) {
    (void)epoll_ctl(r->epfd, EPOLL_CTL_DEL, req->fd, NULL);
    slot_release(r, idx);
  }
  pthread_mutex_unlock(&r->lock);
  return rc;
}

void scgi__room_leave(struct scgi__room *r, scgi_request *req)
{
  pthread_mutex_lock(&r->lock);
  /* The descriptor may outlive the request (scgi_request_detach()): it
   * must not stay in the set. */
  (void)epoll_ctl(r->epfd, EPOLL_CTL_DEL, req->fd, NULL);
  slot_release(r, req->room_slot);
  pthread_mutex_unlock(&r->lock);
}

int scgi__room_timeout(struct scgi__room *r, uint64_t now)
{
  uint64_t next;

  if (atomic_load(&r->parked) == 0)
    return -1;
  next = atomic_load(&r->next_sweep_ms);
  return next <= now ? 0 : (int)(next - now);
}

/* One thread sweeps per interval: the one that moves next_sweep_ms. */
static bool sweep_due(struct scgi__room *r, uint64_t now)
{
  uint64_t next = atomic_load(&r->next_sweep_ms);

  if (atomic_load(&r->parked) == 0 || now < next)
    return false;
  return atomic_compare_exchange_strong(&r->next_sweep_ms, &next,
                                        now + SWEEP_MS);
}

/* Takes up to `max` parked requests past their deadline out of the room. */
static size_t take_expired(struct scgi__room *r, uint64_t now,
                           scgi_request **out, size_t max)
{
  size_t n = 0;

  pthread_mutex_lock(&r->lock);
  for (uint32_t i = 0; i < r->nslots && n < max; i++) {
    struct scgi__room_slot *s = &r->slots[i];

    if (s->state != SLOT_PARKED || s->req->deadline_ms == 0 ||
        s->req->deadline_ms > now)
      continue;
    (void)epoll_ctl(r->epfd, EPOLL_CTL_DEL, s->req->fd, NULL);
    out[n++] = s->req;
    slot_release(r, i);
  }
  pthread_mutex_unlock(&r->lock);
  return n;
}

void scgi__room_sweep(struct scgi__room *r, uint64_t now,
                      void (*expire)(scgi_request *req, void *arg), void *arg)
{
  scgi_request *batch[SWEEP_BATCH];
  size_t n;

  if (!sweep_due(r, now))
    return;
  do {
    n = take_expired(r, now, batch, SWEEP_BATCH);
    for (size_t i = 0; i < n; i++)
      expire(batch[i], arg);
  } while (n == SWEEP_BATCH);
}
