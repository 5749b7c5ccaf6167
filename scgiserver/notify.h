/*
 * notify.h - scgiserver's readiness notifications to systemd (Type=notify),
 * without libsystemd.
 *
 * Copyright (C) 2026 The libscgi authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * The service manager names an AF_UNIX datagram socket in $NOTIFY_SOCKET
 * (a path, or an abstract name written with a leading '@'); each
 * notification is one datagram of "KEY=VALUE" lines. Without
 * NOTIFY_SOCKET every call here does nothing.
 */
#ifndef SCGISERVER_NOTIFY_H
#define SCGISERVER_NOTIFY_H

#include <scgi.h>

/* Reads $NOTIFY_SOCKET and removes it from the environment, so that the
 * workers (whose environment is a copy of ours) do not inherit it. Call
 * before any thread or worker starts. */
void notify_init(void);

/* Sends one notification: the formatted text, e.g. "READY=1\nSTATUS=...".
 * A failure is logged once (info) and otherwise ignored. */
void notify_send(const char *format, ...) SCGI_PRINTF(1, 2);

/* "RELOADING=1" with the MONOTONIC_USEC= that systemd's notify-reload
 * protocol asks for; send READY=1 when the reload is done. */
void notify_reloading(void);

#endif /* SCGISERVER_NOTIFY_H */
