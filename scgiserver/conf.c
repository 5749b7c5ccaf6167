/*
 * conf.c - scgiserver's settings: command line and config file.
 *
 * Copyright (C) 2026 The libscgi authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Both sources go through one table of keys (the long option names), so
 * that a setting has the same name, range and message everywhere. The
 * command line is parsed into a conf of its own, the file into the result,
 * and the command line's settings then override the file's.
 */
#define _GNU_SOURCE /* getline, getopt_long's optind = 0 reset */
#include "config.h"

#include "conf.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

const char conf_usage[] =
    "usage: scgiserver [OPTIONS] [-- PROGRAM [ARGS...]]\n"
    "Relays SCGI connections from a front server (nginx) to application\n"
    "workers it starts (PROGRAM), or to SCGI applications (--connect).\n"
    "\n"
    "  -l, --listen ADDRESS      front listener, repeatable: HOST:PORT,\n"
    "                            [IPV6]:PORT, unix:/PATH, fd:N (default: the\n"
    "                            listener inherited from systemd)\n"
    "  -w, --workers N           processes of PROGRAM (default: CPU count)\n"
    "      --handoff pass|proxy  pass the connection to the worker (default)\n"
    "                            or relay its bytes\n"
    "      --connect ADDRESS     relay to an SCGI application run elsewhere,\n"
    "                            repeatable (round robin, failover)\n"
    "      --cgi DIR             run the CGI programs in DIR, one process\n"
    "                            per request (at most --workers at once)\n"
    "  -c, --config FILE         config file (several apps and routes)\n"
    "  -t, --threads N           front threads (default: 2 x CPU count)\n"
    "      --queue N             requests waiting for a worker (default 64)\n"
    "      --queue-timeout MS    longest wait for a worker, then 503\n"
    "                            (default 5000)\n"
    "      --header-timeout MS   to read a front header block (default 10000)\n"
    "      --app-timeout MS      proxy: wait for the app's response, then 504;\n"
    "                            cgi: longest run (default 60000; 0: forever)\n"
    "      --max-requests N      recycle a worker after N requests (0: never)\n"
    "      --max-header-bytes N  largest front header block (default 65536)\n"
    "      --concurrency N       connections per worker at once (default 1)\n"
    "      --runtime-dir DIR     for proxy sockets (default: a private\n"
    "                            directory in $RUNTIME_DIRECTORY or /tmp)\n"
    "      --drain-timeout MS    at SIGTERM, wait for busy workers (default\n"
    "                            10000)\n"
    "      --status-path PATH    answer requests for PATH with scgiserver's\n"
    "                            counters (?json: as JSON; default: none)\n"
    "      --log stderr|syslog   where log lines go (default stderr)\n"
    "      --access-log FILE     one line per request appended to FILE,\n"
    "                            reopened at SIGUSR1 (default: none)\n"
    "  -d, --daemon              run in the background (default: foreground)\n"
    "  -p, --pidfile FILE        write the server's pid to FILE\n"
    "  -u, --user USER           when started as root: run as USER after\n"
    "                            binding (workers too)\n"
    "  -g, --group GROUP         and as GROUP (default: USER's group)\n"
    "  -h, --help                this text\n"
    "  -V, --version             the version\n"
    "Example: scgiserver -l 127.0.0.1:4000 -w 4 -- ./examples/echo\n";

enum key_id {
  K_LISTEN = 'l', K_WORKERS = 'w', K_CONFIG = 'c', K_THREADS = 't',
  K_HELP = 'h', K_VERSION = 'V', K_PIDFILE = 'p', K_DAEMON = 'd',
  K_USER = 'u', K_GROUP = 'g',
  K_HANDOFF = 256, K_CONNECT, K_QUEUE, K_QUEUE_TIMEOUT, K_HEADER_TIMEOUT,
  K_APP_TIMEOUT, K_MAX_REQUESTS, K_MAX_HEADER_BYTES, K_CONCURRENCY,
  K_RUNTIME_DIR, K_DRAIN_TIMEOUT, K_LOG, K_STATUS_PATH, K_ACCESS_LOG,
  K_CGI, K_EXEC, K_ROUTE /* config file only */
};

#define IN_GLOBAL 1u
#define IN_APP 2u
#define NOT_NUM ((size_t)-1)
#define G(field) offsetof(struct conf, field)
#define A(field) offsetof(struct app_conf, field)
#define MAX_MS ((unsigned)INT_MAX)

/* Each key: where it may appear and, for numbers, its fields and range. */
static const struct key {
  const char *name;
  int id;
  unsigned scope;
  size_t global_off, app_off; /* NOT_NUM: not a number (or not there) */
  unsigned min, max;
} keys[] = {
    { "listen", K_LISTEN, IN_GLOBAL | IN_APP, NOT_NUM, NOT_NUM, 0, 0 },
    { "workers", K_WORKERS, IN_GLOBAL | IN_APP, G(workers), A(workers), 1, 4096 },
    { "handoff", K_HANDOFF, IN_GLOBAL | IN_APP, NOT_NUM, NOT_NUM, 0, 0 },
    { "connect", K_CONNECT, IN_GLOBAL | IN_APP, NOT_NUM, NOT_NUM, 0, 0 },
    { "cgi", K_CGI, IN_GLOBAL | IN_APP, NOT_NUM, NOT_NUM, 0, 0 },
    { "threads", K_THREADS, IN_GLOBAL, G(threads), NOT_NUM, 1, 4096 },
    { "queue", K_QUEUE, IN_GLOBAL, G(queue), NOT_NUM, 0, 1000000 },
    { "queue-timeout", K_QUEUE_TIMEOUT, IN_GLOBAL, G(queue_timeout_ms), NOT_NUM, 0, MAX_MS },
    { "header-timeout", K_HEADER_TIMEOUT, IN_GLOBAL, G(header_timeout_ms), NOT_NUM, 0, MAX_MS },
    { "app-timeout", K_APP_TIMEOUT, IN_GLOBAL | IN_APP, G(app_timeout_ms), A(app_timeout_ms), 0, MAX_MS },
    { "max-requests", K_MAX_REQUESTS, IN_GLOBAL | IN_APP, G(max_requests), A(max_requests), 0, CONF_UNSET - 1 },
    { "max-header-bytes", K_MAX_HEADER_BYTES, IN_GLOBAL, G(max_header_bytes), NOT_NUM, 1, 1u << 30 },
    { "concurrency", K_CONCURRENCY, IN_GLOBAL | IN_APP, G(concurrency), A(concurrency), 1, 4096 },
    { "runtime-dir", K_RUNTIME_DIR, IN_GLOBAL, NOT_NUM, NOT_NUM, 0, 0 },
    { "drain-timeout", K_DRAIN_TIMEOUT, IN_GLOBAL, G(drain_timeout_ms), NOT_NUM, 0, MAX_MS },
    { "log", K_LOG, IN_GLOBAL, NOT_NUM, NOT_NUM, 0, 0 },
    { "status-path", K_STATUS_PATH, IN_GLOBAL, NOT_NUM, NOT_NUM, 0, 0 },
    { "access-log", K_ACCESS_LOG, IN_GLOBAL, NOT_NUM, NOT_NUM, 0, 0 },
    { "pidfile", K_PIDFILE, IN_GLOBAL, NOT_NUM, NOT_NUM, 0, 0 },
    { "daemon", K_DAEMON, IN_GLOBAL, NOT_NUM, NOT_NUM, 0, 0 },
    { "user", K_USER, IN_GLOBAL, NOT_NUM, NOT_NUM, 0, 0 },
    { "group", K_GROUP, IN_GLOBAL, NOT_NUM, NOT_NUM, 0, 0 },
    { "exec", K_EXEC, IN_APP, NOT_NUM, NOT_NUM, 0, 0 },
    { "route", K_ROUTE, IN_APP, NOT_NUM, NOT_NUM, 0, 0 },
};

static const struct option long_options[] = {
    { "listen", required_argument, NULL, K_LISTEN },
    { "workers", required_argument, NULL, K_WORKERS },
    { "handoff", required_argument, NULL, K_HANDOFF },
    { "connect", required_argument, NULL, K_CONNECT },
    { "cgi", required_argument, NULL, K_CGI },
    { "config", required_argument, NULL, K_CONFIG },
    { "threads", required_argument, NULL, K_THREADS },
    { "queue", required_argument, NULL, K_QUEUE },
    { "queue-timeout", required_argument, NULL, K_QUEUE_TIMEOUT },
    { "header-timeout", required_argument, NULL, K_HEADER_TIMEOUT },
    { "app-timeout", required_argument, NULL, K_APP_TIMEOUT },
    { "max-requests", required_argument, NULL, K_MAX_REQUESTS },
    { "max-header-bytes", required_argument, NULL, K_MAX_HEADER_BYTES },
    { "concurrency", required_argument, NULL, K_CONCURRENCY },
    { "runtime-dir", required_argument, NULL, K_RUNTIME_DIR },
    { "drain-timeout", required_argument, NULL, K_DRAIN_TIMEOUT },
    { "log", required_argument, NULL, K_LOG },
    { "status-path", required_argument, NULL, K_STATUS_PATH },
    { "access-log", required_argument, NULL, K_ACCESS_LOG },
    { "pidfile", required_argument, NULL, K_PIDFILE },
    { "daemon", no_argument, NULL, K_DAEMON },
    { "user", required_argument, NULL, K_USER },
    { "group", required_argument, NULL, K_GROUP },
    { "help", no_argument, NULL, K_HELP },
    { "version", no_argument, NULL, K_VERSION },
    { NULL, 0, NULL, 0 },
};

/* '+': stop at PROGRAM, whose own options are not ours; ':': report a
 * missing value apart from an unknown option. */
static const char short_options[] = "+:l:w:c:t:p:du:g:hV";

/* Where a setting comes from, for error messages. */
struct ctx {
  struct conf *c;
  const char *file;  /* NULL: the command line */
  unsigned line;
  size_t app;        /* index of the current [app], or SIZE_MAX */
  char *err;
  size_t errsize;
};

static int fail(struct ctx *x, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

/* Writes "FILE:LINE: reason" (file) or "reason" (command line). */
static int fail(struct ctx *x, const char *format, ...)
{
  size_t n = 0;
  va_list ap;

  if (x->file) {
    int m = snprintf(x->err, x->errsize, "%s:%u: ", x->file, x->line);
    n = m < 0 ? 0 : (size_t)m < x->errsize ? (size_t)m : x->errsize - 1;
  }
  va_start(ap, format);
  vsnprintf(x->err + n, x->errsize - n, format, ap);
  va_end(ap);
  return -1;
}

/* How a key is written where it came from: "--workers" or "workers". */
static const char *dashes(const struct ctx *x) { return x->file ? "" : "--"; }

static struct app_conf *cur_app(struct ctx *x)
{
  return x->app == SIZE_MAX ? NULL : &x->c->apps[x->app];
}

/* ---- growing arrays ---------------------------------------------------- */

/* Appends a copy of s, keeping the array NULL-terminated (for argv). */
static int push_str(char ***arr, size_t *n, const char *s, size_t len)
{
  char **p = realloc(*arr, (*n + 2) * sizeof *p);
  char *copy = malloc(len + 1);

  if (p)
    *arr = p;
  if (!p || !copy) {
    free(copy);
    return -1;
  }
  memcpy(copy, s, len);
  copy[len] = '\0';
  p[(*n)++] = copy;
  p[*n] = NULL;
  return 0;
}

static void free_strs(char **arr, size_t n)
{
  for (size_t i = 0; i < n; i++)
    free(arr[i]);
  free(arr);
}

static size_t count_strs(char *const *arr)
{
  size_t n = 0;

  while (arr && arr[n])
    n++;
  return n;
}

static void free_addrs(struct addr *arr, size_t n)
{
  for (size_t i = 0; i < n; i++)
    addr_clear(&arr[i]);
  free(arr);
}

/* ---- values ------------------------------------------------------------ */

/* Plain decimal digits only: no sign, no spaces, no "0x" (strtoul would
 * take " -1" as a huge number). */
static int parse_uint(const char *s, unsigned min, unsigned max, unsigned *out)
{
  unsigned long long v = 0;

  if (*s == '\0')
    return -1;
  for (; *s; s++) {
    if (*s < '0' || *s > '9')
      return -1;
    v = v * 10 + (unsigned)(*s - '0');
    if (v > max)
      return -1;
  }
  if (v < min)
    return -1;
  *out = (unsigned)v;
  return 0;
}

static int set_number(struct ctx *x, const struct key *k, const char *value)
{
  struct app_conf *app = cur_app(x);
  char *base = app ? (char *)app : (char *)x->c;
  size_t off = app ? k->app_off : k->global_off;
  unsigned v;

  if (parse_uint(value, k->min, k->max, &v) != 0)
    return fail(x, "%s%s '%s': not a whole number from %u to %u", dashes(x),
                k->name, value, k->min, k->max);
  memcpy(base + off, &v, sizeof v);
  return 0;
}

static int set_handoff(struct ctx *x, const char *value)
{
  struct app_conf *app = cur_app(x);
  int mode;

  if (strcmp(value, "pass") == 0)
    mode = HANDOFF_PASS;
  else if (strcmp(value, "proxy") == 0)
    mode = HANDOFF_PROXY;
  else
    return fail(x, "%shandoff '%s': use pass or proxy", dashes(x), value);
  *(app ? &app->handoff : &x->c->handoff) = mode;
  return 0;
}

static int set_log(struct ctx *x, const char *value)
{
  if (strcmp(value, "stderr") == 0)
    x->c->log_syslog = 0;
  else if (strcmp(value, "syslog") == 0)
    x->c->log_syslog = 1;
  else
    return fail(x, "%slog '%s': use stderr or syslog", dashes(x), value);
  return 0;
}

/* -d takes no value; the file's `daemon` key says yes or no. */
static int set_daemon(struct ctx *x, const char *value)
{
  if (!x->file || strcmp(value, "yes") == 0)
    x->c->daemonize = 1;
  else if (strcmp(value, "no") == 0)
    x->c->daemonize = 0;
  else
    return fail(x, "daemon '%s': use yes or no", value);
  return 0;
}

static int set_string(struct ctx *x, char **field, const char *value)
{
  char *copy = strdup(value);

  if (!copy)
    return fail(x, "out of memory");
  free(*field);
  *field = copy;
  return 0;
}

/* A path compared as a whole with the request's routing path. */
static int set_status_path(struct ctx *x, const char *value)
{
  if (value[0] != '/')
    return fail(x, "%sstatus-path '%s': must start with '/'", dashes(x),
                value);
  return set_string(x, &x->c->status_path, value);
}

static int set_access_log(struct ctx *x, const char *value)
{
  if (value[0] == '\0')
    return fail(x, "%saccess-log: give a file", dashes(x));
  return set_string(x, &x->c->access_log, value);
}

static int add_connect(struct ctx *x, const char *value)
{
  struct app_conf *app = cur_app(x);
  struct addr **arr = app ? &app->connect : &x->c->cli_connect;
  size_t *n = app ? &app->nconnect : &x->c->cli_nconnect;
  struct addr a, *p;
  char why[256];

  if (app && (app->argv || app->cgi_dir))
    return fail(x, "app '%s' has connect and %s", app->name,
                app->argv ? "exec" : "cgi");
  if (!app && x->c->cli_cgi)
    return fail(x, "give only one of PROGRAM, --connect and --cgi");
  if (addr_parse(value, &a, why, sizeof why) != 0)
    return fail(x, "%sconnect: %s", dashes(x), why);
  if ((p = realloc(*arr, (*n + 1) * sizeof *p)) == NULL) {
    addr_clear(&a);
    return fail(x, "out of memory");
  }
  p[(*n)++] = a;
  *arr = p;
  return 0;
}

/* cgi = DIR: kept as its real path, so that a later chdir (--daemon)
 * does not change it and programs can be checked to lie inside it. */
static int set_cgi(struct ctx *x, const char *value)
{
  struct app_conf *app = cur_app(x);
  char **dst = app ? &app->cgi_dir : &x->c->cli_cgi;
  struct stat st;
  char *real;

  if (app && (app->argv || app->connect))
    return fail(x, "app '%s' has cgi and %s", app->name,
                app->argv ? "exec" : "connect");
  if (!app && (x->c->cli_argv || x->c->cli_nconnect))
    return fail(x, "give only one of PROGRAM, --connect and --cgi");
  if (*dst)
    return fail(x, "%scgi is given twice", dashes(x));
  if (stat(value, &st) != 0)
    return fail(x, "%scgi '%s': %s", dashes(x), value, strerror(errno));
  if (!S_ISDIR(st.st_mode))
    return fail(x, "%scgi '%s': not a directory", dashes(x), value);
  if ((real = realpath(value, NULL)) == NULL)
    return fail(x, "%scgi '%s': %s", dashes(x), value, strerror(errno));
  *dst = real;
  return 0;
}

/* Splits exec's value on spaces and tabs; double quotes group words (and
 * are removed), so that an argument may hold a space. */
static int split_words(const char *s, char ***argv, size_t *argc)
{
  size_t len = strlen(s);
  char *word = malloc(len + 1);
  int rc = 0;

  if (!word)
    return -1;
  while (rc == 0) {
    size_t n = 0;
    int quoted = 0, started = 0;
    while (*s == ' ' || *s == '\t')
      s++;
    for (; *s && (quoted || (*s != ' ' && *s != '\t')); s++, started = 1) {
      if (*s == '"')
        quoted = !quoted;
      else
        word[n++] = *s;
    }
    if (quoted)
      rc = -2;
    else if (!started)
      break;
    else if (push_str(argv, argc, word, n) != 0)
      rc = -1;
  }
  free(word);
  return rc;
}

static int set_exec(struct ctx *x, const char *value)
{
  struct app_conf *app = cur_app(x);
  size_t argc = 0;
  int rc;

  if (app->connect || app->cgi_dir)
    return fail(x, "app '%s' has exec and %s", app->name,
                app->connect ? "connect" : "cgi");
  if (app->argv)
    return fail(x, "app '%s' has exec twice", app->name);
  rc = split_words(value, &app->argv, &argc);
  if (rc == -2)
    return fail(x, "exec: unterminated double quote");
  if (rc != 0)
    return fail(x, "out of memory");
  return 0;
}

/* A route prefix belongs to one app: two would make the choice arbitrary. */
static const char *route_owner(const struct conf *c, const char *prefix)
{
  for (size_t i = 0; i < c->napps; i++)
    for (size_t j = 0; j < c->apps[i].nroutes; j++)
      if (strcmp(c->apps[i].routes[j], prefix) == 0)
        return c->apps[i].name;
  return NULL;
}

static int add_route(struct ctx *x, const char *value)
{
  struct app_conf *app = cur_app(x);
  const char *owner;

  if (value[0] != '/')
    return fail(x, "route '%s': must start with '/'", value);
  if ((owner = route_owner(x->c, value)) != NULL)
    return fail(x, "route '%s' is already used by app '%s'", value, owner);
  if (push_str(&app->routes, &app->nroutes, value, strlen(value)) != 0)
    return fail(x, "out of memory");
  return 0;
}

/* Who listens on `address` already: "the global listen", "app 'NAME'",
 * written into buf; NULL when nobody does. */
static const char *listen_owner(const struct conf *c, const char *address,
                                char *buf, size_t size)
{
  for (size_t j = 0; j < c->nlisten; j++)
    if (strcmp(c->listen[j], address) == 0)
      return "the global listen";
  for (size_t i = 0; i < c->napps; i++)
    for (size_t j = 0; j < c->apps[i].nlisten; j++)
      if (strcmp(c->apps[i].listen[j], address) == 0) {
        snprintf(buf, size, "app '%s'", c->apps[i].name);
        return buf;
      }
  return NULL;
}

/* Digits only, no leading zero, from 1 (0 when zero_ok) to max. */
static bool decimal_ok(const char *s, unsigned long max, bool zero_ok)
{
  unsigned long v = 0;
  size_t len = strlen(s);

  if (len == 0 || len > 10 || (s[0] == '0' && len > 1) ||
      strspn(s, "0123456789") != len)
    return false;
  for (size_t i = 0; i < len; i++)
    v = v * 10 + (unsigned long)(s[i] - '0');
  return v <= max && (zero_ok || v > 0);
}

/* The shape of a listener address (the library resolves and binds it at
 * startup): NULL when it looks right, else what is wrong. Checked here so
 * that a typo in a file gets its FILE:LINE. */
static const char *listen_problem(const char *v)
{
  const char *colon = strrchr(v, ':');
  static const char forms[] = "use HOST:PORT, *:PORT, [IPV6]:PORT, "
                              "unix:PATH or fd:N";

  if (strncmp(v, "unix:", 5) == 0)
    return v[5] ? NULL : "unix: needs a socket path";
  if (strncmp(v, "fd:", 3) == 0)
    return decimal_ok(v + 3, INT_MAX, true) ? NULL
                                            : "fd: needs a descriptor number";
  if (!colon || colon == v || (v[0] == '[' && colon[-1] != ']'))
    return forms;
  if (!decimal_ok(colon + 1, 65535, false))
    return "the port must be a number from 1 to 65535";
  return NULL;
}

/* A global listener, or (in an [app]) one of the app's own. */
static int add_listen(struct ctx *x, const char *value)
{
  struct app_conf *app = cur_app(x);
  char buf[300];
  const char *owner = listen_owner(x->c, value, buf, sizeof buf);
  const char *problem = listen_problem(value);

  if (problem)
    return fail(x, "%slisten '%s': %s", dashes(x), value, problem);
  if (owner)
    return fail(x, "%slisten '%s' is already used by %s", dashes(x), value,
                owner);
  if (push_str(app ? &app->listen : &x->c->listen,
               app ? &app->nlisten : &x->c->nlisten, value,
               strlen(value)) != 0)
    return fail(x, "out of memory");
  return 0;
}

static int set_key(struct ctx *x, const struct key *k, const char *value)
{
  if (k->global_off != NOT_NUM || k->app_off != NOT_NUM)
    return set_number(x, k, value);
  switch (k->id) {
  case K_LISTEN:
    return add_listen(x, value);
  case K_HANDOFF:
    return set_handoff(x, value);
  case K_CONNECT:
    return add_connect(x, value);
  case K_RUNTIME_DIR:
    return set_string(x, &x->c->runtime_dir, value);
  case K_LOG:
    return set_log(x, value);
  case K_STATUS_PATH:
    return set_status_path(x, value);
  case K_ACCESS_LOG:
    return set_access_log(x, value);
  case K_CGI:
    return set_cgi(x, value);
  case K_EXEC:
    return set_exec(x, value);
  case K_ROUTE:
    return add_route(x, value);
  case K_PIDFILE:
    return set_string(x, &x->c->pidfile, value);
  case K_DAEMON:
    return set_daemon(x, value);
  case K_USER:
    return set_string(x, &x->c->user, value);
  case K_GROUP:
    return set_string(x, &x->c->group, value);
  default:
    return fail(x, "%s%s: unknown key", dashes(x), k->name);
  }
}

static const struct key *key_by_id(int id)
{
  for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
    if (keys[i].id == id)
      return &keys[i];
  return NULL;
}

static const struct key *key_by_name(const char *name)
{
  for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
    if (strcmp(keys[i].name, name) == 0)
      return &keys[i];
  return NULL;
}

/* ---- config file ------------------------------------------------------- */

static char *trim(char *s)
{
  char *end;

  while (*s == ' ' || *s == '\t')
    s++;
  end = s + strlen(s);
  while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r' ||
                     end[-1] == '\n'))
    *--end = '\0';
  return s;
}

/* App names become log words and runtime directory names: keep them
 * plain. */
static int valid_name(const char *s)
{
  if (*s == '\0' || *s == '.')
    return 0;
  for (; *s; s++)
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
          (*s >= '0' && *s <= '9') || *s == '-' || *s == '_' || *s == '.'))
      return 0;
  return 1;
}

static struct app_conf *find_app(const struct conf *c, const char *name)
{
  for (size_t i = 0; i < c->napps; i++)
    if (strcmp(c->apps[i].name, name) == 0)
      return &c->apps[i];
  return NULL;
}

static void app_init(struct app_conf *app)
{
  memset(app, 0, sizeof *app);
  app->workers = app->concurrency = CONF_UNSET;
  app->max_requests = app->app_timeout_ms = CONF_UNSET;
  app->handoff = -1;
}

/* Adds an app with a copy of `name`; returns its index or SIZE_MAX. */
static size_t new_app(struct conf *c, const char *name, unsigned line)
{
  struct app_conf *p = realloc(c->apps, (c->napps + 1) * sizeof *p);
  char *copy = strdup(name);

  if (p)
    c->apps = p;
  if (!p || !copy) {
    free(copy);
    return SIZE_MAX;
  }
  app_init(&p[c->napps]);
  p[c->napps].name = copy;
  p[c->napps].line = line;
  return c->napps++;
}

/* "[app NAME]" */
static int parse_section(struct ctx *x, char *s)
{
  size_t len = strlen(s);
  char *name;

  if (s[len - 1] != ']')
    return fail(x, "section header without ']'");
  s[len - 1] = '\0';
  s = trim(s + 1);
  if (strncmp(s, "app", 3) != 0 || (s[3] != ' ' && s[3] != '\t'))
    return fail(x, "unknown section '[%s]': use [app NAME]", s);
  name = trim(s + 3);
  if (!valid_name(name))
    return fail(x, "app name '%s': use letters, digits, '-', '_' and '.'",
                name);
  if (find_app(x->c, name))
    return fail(x, "app '%s' is defined twice", name);
  if ((x->app = new_app(x->c, name, x->line)) == SIZE_MAX)
    return fail(x, "out of memory");
  return 0;
}

static int parse_assignment(struct ctx *x, char *s)
{
  char *eq = strchr(s, '='), *name, *value;
  const struct key *k;

  if (!eq)
    return fail(x, "missing '=' (lines are: key = value)");
  *eq = '\0';
  name = trim(s);
  value = trim(eq + 1);
  if ((k = key_by_name(name)) == NULL)
    return fail(x, "unknown key '%s'", name);
  if (x->app == SIZE_MAX && !(k->scope & IN_GLOBAL))
    return fail(x, "'%s' belongs in an [app NAME] section", name);
  if (x->app != SIZE_MAX && !(k->scope & IN_APP))
    return fail(x, "'%s' is a global key: put it before the first [app]",
                name);
  if (*value == '\0')
    return fail(x, "'%s' has an empty value", name);
  return set_key(x, k, value);
}

static int parse_line(struct ctx *x, char *line)
{
  char *s = trim(line);

  if (*s == '\0' || *s == '#')
    return 0;
  if (*s == '[')
    return parse_section(x, s);
  return parse_assignment(x, s);
}

static int parse_file(struct conf *c, const char *path, char *err,
                      size_t errsize)
{
  struct ctx x = { c, path, 0, SIZE_MAX, err, errsize };
  FILE *f = fopen(path, "r");
  char *line = NULL;
  size_t cap = 0;
  int rc = 0;

  if (!f) {
    snprintf(err, errsize, "%s: %s", path, strerror(errno));
    return -1;
  }
  while (rc == 0 && getline(&line, &cap, f) >= 0) {
    x.line++;
    rc = parse_line(&x, line);
  }
  if (rc == 0 && ferror(f)) {
    snprintf(err, errsize, "%s: %s", path, strerror(errno));
    rc = -1;
  }
  free(line);
  fclose(f);
  return rc;
}

/* ---- command line ------------------------------------------------------ */

static int bad_option(struct ctx *x, int opt, char **argv)
{
  const char *arg = argv[optind - 1];

  if (opt == ':')
    return fail(x, "option '%s' needs a value", arg);
  if (optopt)
    return fail(x, "unknown option '-%c' (see --help)", optopt);
  return fail(x, "unknown option '%s' (see --help)", arg);
}

static int cli_program(struct ctx *x, int argc, char **argv)
{
  size_t n = 0;

  if (x->c->cli_nconnect || x->c->cli_cgi)
    return fail(x, "give only one of PROGRAM, --connect and --cgi");
  for (int i = optind; i < argc; i++)
    if (push_str(&x->c->cli_argv, &n, argv[i], strlen(argv[i])) != 0)
      return fail(x, "out of memory");
  return 0;
}

static enum conf_result parse_args(struct conf *c, int argc, char **argv,
                                   char *err, size_t errsize)
{
  struct ctx x = { c, NULL, 0, SIZE_MAX, err, errsize };
  int opt;

  optind = 0; /* glibc: full reset, so that tests may parse many times */
  opterr = 0;
  while ((opt = getopt_long(argc, argv, short_options, long_options, NULL)) !=
         -1) {
    if (opt == K_HELP)
      return CONF_HELP;
    if (opt == K_VERSION)
      return CONF_VERSION;
    if (opt == '?' || opt == ':')
      return bad_option(&x, opt, argv), CONF_ERROR;
    if (opt == K_CONFIG) {
      if (set_string(&x, &c->config_file, optarg) != 0)
        return CONF_ERROR;
    } else if (set_key(&x, key_by_id(opt), optarg ? optarg : "") != 0) {
      return CONF_ERROR;
    }
  }
  if (optind < argc && cli_program(&x, argc, argv) != 0)
    return CONF_ERROR;
  return CONF_OK;
}

/* ---- merging and checking ---------------------------------------------- */

static void conf_init(struct conf *c)
{
  memset(c, 0, sizeof *c);
  c->workers = c->threads = c->queue = c->queue_timeout_ms = CONF_UNSET;
  c->header_timeout_ms = c->app_timeout_ms = c->max_requests = CONF_UNSET;
  c->max_header_bytes = c->concurrency = c->drain_timeout_ms = CONF_UNSET;
  c->handoff = -1;
  c->log_syslog = -1;
  c->daemonize = -1;
}

static void take_number(unsigned *dst, unsigned src)
{
  if (src != CONF_UNSET)
    *dst = src;
}

#define MOVE(dst, src)                                                         \
  do {                                                                         \
    (dst) = (src);                                                             \
    (src) = NULL;                                                              \
  } while (0)

static void take_string(char **dst, char **src)
{
  if (*src) {
    free(*dst);
    MOVE(*dst, *src);
  }
}

/* The command line overrides the file: numbers one by one; lists and the
 * default app as a whole. */
static void merge_cli(struct conf *c, struct conf *cli)
{
  static const size_t numbers[] = {
      G(workers), G(threads), G(queue), G(queue_timeout_ms),
      G(header_timeout_ms), G(app_timeout_ms), G(max_requests),
      G(max_header_bytes), G(concurrency), G(drain_timeout_ms),
  };
  for (size_t i = 0; i < sizeof numbers / sizeof numbers[0]; i++)
    take_number((unsigned *)(void *)((char *)c + numbers[i]),
                *(unsigned *)(void *)((char *)cli + numbers[i]));
  if (cli->handoff >= 0)
    c->handoff = cli->handoff;
  if (cli->log_syslog >= 0)
    c->log_syslog = cli->log_syslog;
  if (cli->daemonize >= 0)
    c->daemonize = cli->daemonize;
  take_string(&c->runtime_dir, &cli->runtime_dir);
  take_string(&c->status_path, &cli->status_path);
  take_string(&c->access_log, &cli->access_log);
  take_string(&c->pidfile, &cli->pidfile);
  take_string(&c->user, &cli->user);
  take_string(&c->group, &cli->group);
  if (cli->nlisten) {
    free_strs(c->listen, c->nlisten);
    MOVE(c->listen, cli->listen);
    c->nlisten = cli->nlisten;
    cli->nlisten = 0;
  }
  if (cli->cli_argv || cli->cli_nconnect || cli->cli_cgi) {
    free_strs(c->cli_argv, count_strs(c->cli_argv));
    free_addrs(c->cli_connect, c->cli_nconnect);
    free(c->cli_cgi);
    MOVE(c->cli_argv, cli->cli_argv);
    MOVE(c->cli_connect, cli->cli_connect);
    MOVE(c->cli_cgi, cli->cli_cgi);
    c->cli_nconnect = cli->cli_nconnect;
    cli->cli_nconnect = 0;
  }
  MOVE(c->config_file, cli->config_file);
}

static void default_number(unsigned *field, unsigned value)
{
  if (*field == CONF_UNSET)
    *field = value;
}

static void global_defaults(struct conf *c, unsigned ncpu)
{
  default_number(&c->workers, ncpu);
  default_number(&c->threads, 2 * ncpu);
  default_number(&c->queue, 64);
  default_number(&c->queue_timeout_ms, 5000);
  default_number(&c->header_timeout_ms, 10000);
  default_number(&c->app_timeout_ms, 60000);
  default_number(&c->max_requests, 0);
  default_number(&c->max_header_bytes, 65536);
  default_number(&c->concurrency, 1);
  default_number(&c->drain_timeout_ms, 10000);
  if (c->handoff < 0)
    c->handoff = HANDOFF_PASS;
  if (c->log_syslog < 0)
    c->log_syslog = 0;
  if (c->daemonize < 0)
    c->daemonize = 0;
}

/* The command line's PROGRAM, --connect or --cgi: app "default", route
 * "/". */
static int add_cli_app(struct ctx *x)
{
  struct conf *c = x->c;
  struct app_conf *app;
  const char *owner;
  size_t i;

  if (!c->cli_argv && !c->cli_nconnect && !c->cli_cgi)
    return 0;
  if (find_app(c, "default"))
    return fail(x, "the command line's PROGRAM, --connect or --cgi is app "
                   "'default', which the config file defines too");
  if ((owner = route_owner(c, "/")) != NULL)
    return fail(x, "the command line's app takes route '/', which app '%s' "
                   "has too", owner);
  if ((i = new_app(c, "default", 0)) == SIZE_MAX)
    return fail(x, "out of memory");
  app = &c->apps[i];
  MOVE(app->argv, c->cli_argv);
  MOVE(app->connect, c->cli_connect);
  MOVE(app->cgi_dir, c->cli_cgi);
  app->nconnect = c->cli_nconnect;
  c->cli_nconnect = 0;
  if (push_str(&app->routes, &app->nroutes, "/", 1) != 0)
    return fail(x, "out of memory");
  return 0;
}

static int check_app(struct ctx *x, struct app_conf *app)
{
  x->line = app->line;
  if (!app->argv && !app->nconnect && !app->cgi_dir)
    return fail(x, "app '%s' has none of exec, connect and cgi", app->name);
  if (app->nconnect &&
      (app->workers != CONF_UNSET || app->handoff >= 0 ||
       app->concurrency != CONF_UNSET || app->max_requests != CONF_UNSET))
    return fail(x, "app '%s': workers, handoff, concurrency and max-requests "
                   "apply to exec apps only", app->name);
  if (app->cgi_dir && (app->handoff >= 0 || app->concurrency != CONF_UNSET ||
                       app->max_requests != CONF_UNSET))
    return fail(x, "app '%s': handoff, concurrency and max-requests apply to "
                   "exec apps only", app->name);
  /* An app with listeners of its own is reached through them. */
  if (app->nroutes == 0 && app->nlisten == 0 && x->c->napps > 1)
    return fail(x, "app '%s' has neither route nor listen", app->name);
  if (app->nroutes == 0 && app->nlisten == 0 &&
      push_str(&app->routes, &app->nroutes, "/", 1) != 0)
    return fail(x, "out of memory");
  return 0;
}

/* An app's own settings fall back on the global ones. */
static void app_defaults(const struct conf *c, struct app_conf *app)
{
  default_number(&app->workers, c->workers);
  default_number(&app->concurrency, c->concurrency);
  default_number(&app->max_requests, c->max_requests);
  default_number(&app->app_timeout_ms, c->app_timeout_ms);
  if (app->nconnect || app->cgi_dir)
    app->handoff = HANDOFF_PROXY; /* what scgiserver does: it relays */
  else if (app->handoff < 0)
    app->handoff = c->handoff;
}

/* The command line's --listen replaced the file's global ones: it may
 * name an app's own listener. */
static int check_cli_listen(struct ctx *x)
{
  const struct conf *c = x->c;

  for (size_t i = 0; i < c->napps; i++)
    for (size_t j = 0; j < c->apps[i].nlisten; j++)
      for (size_t k = 0; k < c->nlisten; k++)
        if (strcmp(c->apps[i].listen[j], c->listen[k]) == 0) {
          x->file = c->config_file;
          x->line = c->apps[i].line;
          return fail(x, "listen '%s' of app '%s' is also a global listen",
                      c->listen[k], c->apps[i].name);
        }
  return 0;
}

static int finish(struct conf *c, unsigned ncpu, char *err, size_t errsize)
{
  struct ctx x = { c, NULL, 0, SIZE_MAX, err, errsize };

  if (ncpu == 0)
    ncpu = 1;
  global_defaults(c, ncpu);
  if (add_cli_app(&x) != 0)
    return -1;
  if (c->napps == 0)
    return fail(&x, "nothing to run: give -- PROGRAM, --connect ADDRESS, "
                    "--cgi DIR or -c FILE with [app NAME] sections (see "
                    "--help)");
  if (check_cli_listen(&x) != 0)
    return -1;
  for (size_t i = 0; i < c->napps; i++) {
    /* The command line's app has no line: report it without one. */
    x.file = c->apps[i].line ? c->config_file : NULL;
    if (check_app(&x, &c->apps[i]) != 0)
      return -1;
    app_defaults(c, &c->apps[i]);
  }
  return 0;
}

enum conf_result conf_load(int argc, char **argv, unsigned ncpu,
                           struct conf *out, char *err, size_t errsize)
{
  struct conf cli;
  enum conf_result rc;

  conf_init(out);
  conf_init(&cli);
  err[0] = '\0';
  rc = parse_args(&cli, argc, argv, err, errsize);
  if (rc == CONF_OK && cli.config_file &&
      parse_file(out, cli.config_file, err, errsize) != 0)
    rc = CONF_ERROR;
  if (rc == CONF_OK) {
    merge_cli(out, &cli);
    if (finish(out, ncpu, err, errsize) != 0)
      rc = CONF_ERROR;
  }
  conf_free(&cli);
  return rc;
}

static void app_free(struct app_conf *app)
{
  free(app->name);
  free_strs(app->argv, count_strs(app->argv));
  free_addrs(app->connect, app->nconnect);
  free(app->cgi_dir);
  free_strs(app->routes, app->nroutes);
  free_strs(app->listen, app->nlisten);
}

void conf_free(struct conf *c)
{
  for (size_t i = 0; i < c->napps; i++)
    app_free(&c->apps[i]);
  free(c->apps);
  free_strs(c->listen, c->nlisten);
  free(c->runtime_dir);
  free(c->status_path);
  free(c->access_log);
  free(c->config_file);
  free(c->pidfile);
  free(c->user);
  free(c->group);
  free_strs(c->cli_argv, count_strs(c->cli_argv));
  free_addrs(c->cli_connect, c->cli_nconnect);
  free(c->cli_cgi);
  memset(c, 0, sizeof *c);
}
