/*
 * test_conf.c - scgiserver's command line, config file, routing and
 * response-head reading.
 *
 * Copyright (C) 2026 The libscgi authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../scgiserver/conf.h"
#include "../scgiserver/relay.h"
#include "../scgiserver/route.h"
#include "tap.h"

static char dir[] = "/tmp/test_conf.XXXXXX";
static char conf_path[512];
static char err[512];

/* Writes a config file and returns its path. */
static const char *file(const char *text)
{
  FILE *f;

  snprintf(conf_path, sizeof conf_path, "%s/scgiserver.conf", dir);
  f = fopen(conf_path, "w");
  if (!f) {
    perror(conf_path);
    exit(1);
  }
  fputs(text, f);
  fclose(f);
  return conf_path;
}

/* Parses a command line given as a NULL-terminated list. */
#define LOAD(c, ...) load(c, (const char *[]){ "scgiserver", __VA_ARGS__, NULL })

static enum conf_result load(struct conf *c, const char **args)
{
  int argc = 0;
  char *argv[64];

  while (args[argc]) {
    argv[argc] = (char *)(uintptr_t)args[argc];
    argc++;
  }
  argv[argc] = NULL;
  return conf_load(argc, argv, 4, c, err, sizeof err);
}

/* The config file must be refused with "FILE:LINE: ..." containing want. */
static void file_error(const char *text, unsigned line, const char *want)
{
  struct conf c;
  char prefix[600];
  enum conf_result rc = LOAD(&c, "-c", file(text));

  snprintf(prefix, sizeof prefix, "%s:%u: ", conf_path, line);
  TAP_EQ(rc, CONF_ERROR, want);
  TAP_OK(strncmp(err, prefix, strlen(prefix)) == 0 && strstr(err, want),
         "  message '%s'", err);
  conf_free(&c);
}

static void cli_error(const char **args, const char *want)
{
  struct conf c;

  TAP_EQ(load(&c, args), CONF_ERROR, want);
  TAP_OK(strstr(err, want) != NULL, "  message '%s'", err);
  conf_free(&c);
}

#define CLI_ERROR(want, ...)                                                   \
  cli_error((const char *[]){ "scgiserver", __VA_ARGS__, NULL }, want)

static void test_cli_defaults(void)
{
  struct conf c;

  TAP_EQ(LOAD(&c, "-l", "127.0.0.1:4000", "--", "./echo", "-t", "2"),
         CONF_OK, "PROGRAM after --");
  TAP_EQ(c.napps, 1, "one app");
  TAP_STREQ(c.apps[0].name, "default", "named default");
  TAP_STREQ(c.apps[0].argv[0], "./echo", "program");
  TAP_STREQ(c.apps[0].argv[1], "-t", "its options are its own");
  TAP_STREQ(c.apps[0].argv[2], "2", "its option value");
  TAP_OK(c.apps[0].argv[3] == NULL, "argv NULL-terminated");
  TAP_STREQ(c.apps[0].routes[0], "/", "route /");
  TAP_EQ(c.workers, 4, "workers default: CPU count");
  TAP_EQ(c.apps[0].workers, 4, "app inherits workers");
  TAP_EQ(c.threads, 8, "threads default: 2 x CPU count");
  TAP_EQ(c.queue, 64, "queue default");
  TAP_EQ(c.queue_timeout_ms, 5000, "queue-timeout default");
  TAP_EQ(c.header_timeout_ms, 10000, "header-timeout default");
  TAP_EQ(c.app_timeout_ms, 60000, "app-timeout default");
  TAP_EQ(c.max_requests, 0, "max-requests default");
  TAP_EQ(c.max_header_bytes, 65536, "max-header-bytes default");
  TAP_EQ(c.concurrency, 1, "concurrency default");
  TAP_EQ(c.drain_timeout_ms, 10000, "drain-timeout default");
  TAP_EQ(c.apps[0].handoff, HANDOFF_PASS, "handoff default pass");
  TAP_EQ(c.log_syslog, 0, "log default stderr");
  TAP_EQ(c.nlisten, 1, "one listener");
  conf_free(&c);

  TAP_EQ(LOAD(&c, "./echo"), CONF_OK, "PROGRAM without --");
  TAP_EQ(c.nlisten, 0, "no listener: inherited");
  conf_free(&c);
}

static void test_cli_options(void)
{
  struct conf c;

  TAP_EQ(LOAD(&c, "-l", "a:1", "--listen", "unix:/x", "-w", "3", "--handoff",
              "proxy", "-t", "5", "--queue", "0", "--queue-timeout", "7",
              "--header-timeout", "8", "--app-timeout", "0",
              "--max-requests", "100", "--max-header-bytes", "1024",
              "--concurrency", "2", "--runtime-dir", "/run/x",
              "--drain-timeout", "9", "--log", "syslog", "--", "prog"),
         CONF_OK, "every option");
  TAP_EQ(c.nlisten, 2, "listen is repeatable");
  TAP_STREQ(c.listen[1], "unix:/x", "second listener");
  TAP_EQ(c.apps[0].workers, 3, "workers");
  TAP_EQ(c.apps[0].handoff, HANDOFF_PROXY, "handoff proxy");
  TAP_EQ(c.threads, 5, "threads");
  TAP_EQ(c.queue, 0, "queue 0 allowed");
  TAP_EQ(c.queue_timeout_ms, 7, "queue-timeout");
  TAP_EQ(c.header_timeout_ms, 8, "header-timeout");
  TAP_EQ(c.apps[0].app_timeout_ms, 0, "app-timeout 0 (forever)");
  TAP_EQ(c.apps[0].max_requests, 100, "max-requests");
  TAP_EQ(c.max_header_bytes, 1024, "max-header-bytes");
  TAP_EQ(c.apps[0].concurrency, 2, "concurrency");
  TAP_STREQ(c.runtime_dir, "/run/x", "runtime-dir");
  TAP_EQ(c.drain_timeout_ms, 9, "drain-timeout");
  TAP_EQ(c.log_syslog, 1, "log syslog");
  conf_free(&c);

  TAP_EQ(LOAD(&c, "--connect", "127.0.0.1:5000", "--connect", "unix:/s"),
         CONF_OK, "--connect twice");
  TAP_EQ(c.apps[0].nconnect, 2, "two addresses");
  TAP_STREQ(c.apps[0].connect[1].text, "unix:/s", "address text kept");
  TAP_EQ(c.apps[0].handoff, HANDOFF_PROXY, "connect apps are proxied");
  conf_free(&c);

  TAP_EQ(LOAD(&c, "-h"), CONF_HELP, "-h");
  conf_free(&c);
  TAP_EQ(LOAD(&c, "--help", "--bogus"), CONF_HELP, "--help first wins");
  conf_free(&c);
  TAP_EQ(LOAD(&c, "-V"), CONF_VERSION, "-V");
  conf_free(&c);
  TAP_EQ(LOAD(&c, "--version"), CONF_VERSION, "--version");
  conf_free(&c);
  TAP_OK(strstr(conf_usage, "--max-header-bytes") != NULL, "usage lists "
         "options");
}

static void test_cli_errors(void)
{
  CLI_ERROR("not a whole number from 1 to 4096", "-w", "0", "p");
  CLI_ERROR("--workers 'x'", "--workers", "x", "p");
  CLI_ERROR("not a whole number", "-w", "-1", "p");
  CLI_ERROR("not a whole number", "-w", " 2", "p");
  CLI_ERROR("not a whole number", "--queue-timeout", "99999999999", "p");
  CLI_ERROR("use pass or proxy", "--handoff", "zero-copy", "p");
  CLI_ERROR("use stderr or syslog", "--log", "file", "p");
  CLI_ERROR("unknown option '--bogus'", "--bogus", "p");
  CLI_ERROR("unknown option '-z'", "-z", "p");
  CLI_ERROR("needs a value", "-w");
  CLI_ERROR("needs a value", "--listen");
  CLI_ERROR("nothing to run", "-l", "127.0.0.1:1");
  CLI_ERROR("only one of PROGRAM, --connect and --cgi", "--connect",
            "127.0.0.1:1", "--", "p");
  CLI_ERROR("only one of PROGRAM, --connect and --cgi", "--cgi", "/",
            "--connect", "127.0.0.1:1");
  CLI_ERROR("only one of PROGRAM, --connect and --cgi", "--cgi", "/", "--",
            "p");
  CLI_ERROR("--cgi '/nonexistent': No such file", "--cgi", "/nonexistent");
  CLI_ERROR("--cgi '/dev/null': not a directory", "--cgi", "/dev/null");
  CLI_ERROR("address 'nowhere'", "--connect", "nowhere");
  CLI_ERROR("address '1.2.3.4:0'", "--connect", "1.2.3.4:0");
  CLI_ERROR("address '1.2.3.4:080'", "--connect", "1.2.3.4:080");
  CLI_ERROR("address 'unix:'", "--connect", "unix:");
  CLI_ERROR("address '[1.2.3.4]:80'", "--connect", "[1.2.3.4]:80");
  CLI_ERROR("missing.conf", "-c", "/nonexistent/missing.conf");
  CLI_ERROR("--listen '127.0.0.1': use HOST:PORT", "-l", "127.0.0.1", "p");
  CLI_ERROR("--listen 'x:0': the port must be", "-l", "x:0", "p");
  CLI_ERROR("--listen 'x:080': the port must be", "-l", "x:080", "p");
  CLI_ERROR("--listen 'x:65536': the port must be", "-l", "x:65536", "p");
  CLI_ERROR("--listen '[::1:80': use HOST:PORT", "-l", "[::1:80", "p");
  CLI_ERROR("--listen 'unix:': unix: needs a socket path", "-l", "unix:", "p");
  CLI_ERROR("--listen 'fd:x': fd: needs a descriptor", "-l", "fd:x", "p");
}

static void test_file_valid(void)
{
  struct conf c;

  TAP_EQ(LOAD(&c, "-t", "3", "-c",
              file("# comment\n"
                   "\n"
                   "listen = 127.0.0.1:4000\n"
                   "  threads=6  \n"
                   "workers = 2\n"
                   "handoff = proxy\r\n"
                   "app-timeout = 100\n"
                   "[app blog]\n"
                   "exec = /srv/blog \"a b\" c\"d e\"f \"\"\n"
                   "route = /blog\n"
                   "route = /b/\n"
                   "concurrency = 4\n"
                   "\t# indented comment\n"
                   "[ app  legacy ]\n"
                   "connect = [::1]:4000\n"
                   "connect = localhost:4001\n"
                   "route = /old\n"
                   "app-timeout = 50\n"
                   "[app pass]\n"
                   "exec = /bin/p\n"
                   "handoff = pass\n"
                   "workers = 1\n"
                   "route = /p\n")),
         CONF_OK, "a file with three apps");
  TAP_EQ(c.napps, 3, "three apps");
  TAP_EQ(c.threads, 3, "the command line overrides the file");
  TAP_EQ(c.nlisten, 1, "listen from the file");
  TAP_STREQ(c.apps[0].name, "blog", "first app");
  TAP_STREQ(c.apps[0].argv[0], "/srv/blog", "exec program");
  TAP_STREQ(c.apps[0].argv[1], "a b", "double quotes group");
  TAP_STREQ(c.apps[0].argv[2], "cd ef", "quotes inside a word");
  TAP_STREQ(c.apps[0].argv[3], "", "empty quotes: empty argument");
  TAP_OK(c.apps[0].argv[4] == NULL, "four arguments");
  TAP_EQ(c.apps[0].nroutes, 2, "two routes");
  TAP_EQ(c.apps[0].concurrency, 4, "app concurrency");
  TAP_EQ(c.apps[0].workers, 2, "global workers as the app's default");
  TAP_EQ(c.apps[0].handoff, HANDOFF_PROXY, "global handoff as default");
  TAP_EQ(c.apps[0].app_timeout_ms, 100, "global app-timeout as default");
  TAP_STREQ(c.apps[1].name, "legacy", "spaces inside [ app  NAME ]");
  TAP_EQ(c.apps[1].nconnect, 2, "two connect addresses");
  TAP_EQ(c.apps[1].app_timeout_ms, 50, "app's own app-timeout");
  TAP_EQ(c.apps[2].handoff, HANDOFF_PASS, "app's own handoff");
  TAP_EQ(c.apps[2].workers, 1, "app's own workers");
  TAP_STREQ(c.config_file, conf_path, "config file kept");
  conf_free(&c);

  TAP_EQ(LOAD(&c, "-c", file("[app only]\nexec = /bin/x\n")), CONF_OK,
         "a single app without route");
  TAP_STREQ(c.apps[0].routes[0], "/", "gets /");
  conf_free(&c);

  TAP_EQ(LOAD(&c, "-l", "x:1", "-c",
              file("listen = a:1\nlisten = b:2\n[app a]\nexec = /x\n"
                   "route = /a\n"),
              "--", "prog"),
         CONF_OK, "file apps plus the command line's");
  TAP_EQ(c.nlisten, 1, "command-line listen replaces the file's");
  TAP_STREQ(c.listen[0], "x:1", "the command line's listener");
  TAP_EQ(c.napps, 2, "two apps");
  TAP_STREQ(c.apps[1].name, "default", "the command line's app");
  conf_free(&c);

  TAP_EQ(LOAD(&c, "-c", file("connect = 127.0.0.1:9\n")), CONF_OK,
         "global connect: default app");
  TAP_STREQ(c.apps[0].name, "default", "named default");
  conf_free(&c);
}

static void test_operations(void)
{
  struct conf c;

  TAP_EQ(LOAD(&c, "p"), CONF_OK, "operations: defaults");
  TAP_OK(c.daemonize == 0 && !c.pidfile && !c.user && !c.group,
         "  foreground, no pidfile, no user or group");
  conf_free(&c);
  TAP_EQ(LOAD(&c, "-d", "-p", "/run/x.pid", "-u", "www", "-g", "web", "p"),
         CONF_OK, "operations: short options");
  TAP_EQ(c.daemonize, 1, "  -d");
  TAP_STREQ(c.pidfile, "/run/x.pid", "  -p");
  TAP_STREQ(c.user, "www", "  -u");
  TAP_STREQ(c.group, "web", "  -g");
  conf_free(&c);
  TAP_EQ(LOAD(&c, "-c", file("daemon = yes\npidfile = /a.pid\nuser = u\n"
                             "group = g\n[app a]\nexec = /x\n"),
              "--pidfile", "/b.pid", "--user", "v"),
         CONF_OK, "operations: config keys, the command line overrides");
  TAP_EQ(c.daemonize, 1, "  daemon = yes");
  TAP_STREQ(c.pidfile, "/b.pid", "  --pidfile wins");
  TAP_STREQ(c.user, "v", "  --user wins");
  TAP_STREQ(c.group, "g", "  group from the file");
  conf_free(&c);
  TAP_EQ(LOAD(&c, "-c", file("daemon = no\n[app a]\nexec = /x\n")),
         CONF_OK, "operations: daemon = no");
  TAP_EQ(c.daemonize, 0, "  foreground");
  conf_free(&c);
}

static void test_file_errors(void)
{
  file_error("threads = 2\nbogus = 1\n", 2, "unknown key 'bogus'");
  file_error("threads 2\n", 1, "missing '='");
  file_error("threads = two\n", 1, "threads 'two': not a whole number");
  file_error("threads = 0\n", 1, "not a whole number from 1 to 4096");
  file_error("queue = -1\n", 1, "queue '-1'");
  file_error("threads =\n", 1, "empty value");
  file_error("config = x\n", 1, "unknown key 'config'");
  file_error("handoff = both\n", 1, "use pass or proxy");
  file_error("log = kernel\n", 1, "use stderr or syslog");
  file_error("daemon = maybe\n", 1, "daemon 'maybe': use yes or no");
  file_error("exec = /bin/x\n", 1, "belongs in an [app NAME] section");
  file_error("route = /\n", 1, "belongs in an [app NAME] section");
  file_error("[app a]\nexec=/x\nthreads = 2\n", 3, "is a global key");
  file_error("[app a]\nexec=/x\n[app a]\nexec=/y\n", 3,
             "app 'a' is defined twice");
  file_error("[app a\n", 1, "without ']'");
  file_error("[server x]\n", 1, "unknown section");
  file_error("[app]\n", 1, "unknown section");
  file_error("[app a/b]\n", 1, "app name 'a/b'");
  file_error("[app ..]\n", 1, "app name '..'");
  file_error("\n\n[app a]\nroute = /a\n", 3,
             "none of exec, connect and cgi");
  file_error("[app a]\nexec = /x\nconnect = 127.0.0.1:1\n", 3,
             "has connect and exec");
  file_error("[app a]\nconnect = 127.0.0.1:1\nexec = /x\n", 3,
             "has exec and connect");
  file_error("[app a]\nexec = /x\ncgi = /\n", 3, "has cgi and exec");
  file_error("[app a]\ncgi = /\nconnect = 127.0.0.1:1\n", 3,
             "has connect and cgi");
  file_error("[app a]\ncgi = /\ncgi = /\n", 3, "cgi is given twice");
  file_error("[app a]\ncgi = /nonexistent\n", 2, "cgi '/nonexistent'");
  file_error("\n[app a]\ncgi = /\nhandoff = pass\n", 2,
             "handoff, concurrency and max-requests apply to exec apps");
  file_error("[app a]\nexec = /x\nexec = /y\n", 3, "exec twice");
  file_error("listen = 127.0.0.1\n[app a]\nexec = /x\n", 1,
             "listen '127.0.0.1': use HOST:PORT");
  file_error("[app a]\nexec = /x\nlisten = *:99999\n", 3,
             "listen '*:99999': the port must be");
  file_error("[app a]\nexec = /x \"y\n", 2, "unterminated double quote");
  file_error("[app a]\nexec = /x\nroute = a\n", 3, "must start with '/'");
  file_error("[app a]\nexec = /x\nroute = /a\n[app b]\nexec=/y\nroute = /a\n",
             6, "route '/a' is already used by app 'a'");
  file_error("[app a]\nexec = /x\nroute = /a\n[app b]\nexec = /y\n", 4,
             "app 'b' has neither route nor listen");
  file_error("[app a]\nconnect = 127.0.0.1:1\nworkers = 2\n", 1,
             "apply to exec apps only");
  file_error("[app a]\nconnect = 127.0.0.1:99999\n", 2, "address");
  file_error("[app a]\nexec=/x\nworkers = 1x\n", 3, "workers '1x'");

  struct conf c;
  TAP_EQ(LOAD(&c, "-c", file("[app default]\nexec = /x\n"), "--", "p"),
         CONF_ERROR, "app default twice");
  TAP_OK(strstr(err, "'default'") != NULL, "  message '%s'", err);
  conf_free(&c);
}

static long route(const struct conf *c, const char *path)
{
  return route_match(c, path, strlen(path));
}

static void test_routes(void)
{
  struct conf c;
  const char *p;
  size_t len;

  TAP_EQ(LOAD(&c, "-c",
              file("[app root]\nexec=/r\nroute = /\n"
                   "[app app]\nexec=/a\nroute = /app\n"
                   "[app deep]\nexec=/d\nroute = /app/deep/\n")),
         CONF_OK, "three routes");
  TAP_EQ(route(&c, "/app"), 1, "/app exactly");
  TAP_EQ(route(&c, "/app/x"), 1, "/app/x");
  TAP_EQ(route(&c, "/apple"), 0, "/apple is not under /app");
  TAP_EQ(route(&c, "/app/deep/x"), 2, "longest prefix wins");
  TAP_EQ(route(&c, "/app/deep"), 1, "/app/deep/ needs its slash");
  TAP_EQ(route(&c, "/"), 0, "/ itself");
  TAP_EQ(route(&c, "/other"), 0, "root catches the rest");
  TAP_EQ(route_match(&c, NULL, 0), -1, "no path");
  TAP_EQ(route_match(&c, "/app?x", 4), 1, "length bounds the path");
  conf_free(&c);

  TAP_EQ(LOAD(&c, "-c", file("[app a]\nexec=/a\nroute = /a\n[app b]\n"
                             "exec=/b\nroute = /b\n")),
         CONF_OK, "no root route");
  TAP_EQ(route(&c, "/c"), -1, "no match: -1");
  TAP_EQ(route(&c, "/b/1"), 1, "/b/1");
  conf_free(&c);

  p = route_path("/s", "/d", "/r?q", &len);
  TAP_OK(p && len == 2 && memcmp(p, "/s", 2) == 0, "SCRIPT_NAME first");
  p = route_path("", "/d", "/r?q", &len);
  TAP_OK(p && len == 2 && memcmp(p, "/d", 2) == 0, "then DOCUMENT_URI");
  p = route_path(NULL, NULL, "/r?q=1", &len);
  TAP_OK(p && len == 2 && memcmp(p, "/r", 2) == 0, "then REQUEST_URI path");
  p = route_path(NULL, NULL, NULL, &len);
  TAP_OK(p == NULL && len == 0, "none");
}

/* App-level listen: the app's own front listeners. */
static void test_app_listen(void)
{
  struct conf c;

  TAP_EQ(LOAD(&c, "-c",
              file("listen = unix:/g.sock\n"
                   "[app a]\nexec = /a\nroute = /\n"
                   "[app b]\nexec = /b\nlisten = unix:/b.sock\n"
                   "listen = 127.0.0.1:4001\n"
                   "[app c]\nexec = /c\nroute = /c\nlisten = [::1]:4002\n")),
         CONF_OK, "app listen keys");
  TAP_EQ(c.nlisten, 1, "one global listener");
  TAP_EQ(c.apps[0].nlisten, 0, "app a: none of its own");
  TAP_EQ(c.apps[1].nlisten, 2, "app b: two of its own");
  TAP_STREQ(c.apps[1].listen[1], "127.0.0.1:4001", "app b's second");
  TAP_EQ(c.apps[1].nroutes, 0, "a listener app needs no route");
  TAP_EQ(route_listener(&c, "unix:/b.sock"), 1, "b's socket: app b");
  TAP_EQ(route_listener(&c, "[::1]:4002"), 2, "c's listener: app c");
  TAP_EQ(route_listener(&c, "unix:/g.sock"), -1, "global: no owner");
  TAP_EQ(route(&c, "/c/x"), 2, "c also has a prefix route");
  TAP_EQ(route(&c, "/b"), 0, "b is not routed by path");
  conf_free(&c);

  TAP_EQ(LOAD(&c, "-l", "unix:/cli.sock", "-c",
              file("[app b]\nexec = /b\nlisten = unix:/b.sock\n"),
              "--", "prog"),
         CONF_OK, "command-line app and a listener app");
  TAP_EQ(c.apps[0].nlisten, 1, "b keeps its own with --listen given");
  TAP_STREQ(c.apps[1].routes[0], "/", "default app: /");
  conf_free(&c);

  TAP_EQ(LOAD(&c, "-c", file("[app only]\nexec = /x\nlisten = a:1\n")),
         CONF_OK, "the only app with a listener");
  TAP_EQ(c.apps[0].nroutes, 0, "  and no route of its own");
  conf_free(&c);

  file_error("listen = a:1\n[app a]\nexec = /a\nlisten = a:1\n", 4,
             "listen 'a:1' is already used by the global listen");
  file_error("[app a]\nexec = /a\nlisten = a:1\n[app b]\nexec = /b\n"
             "listen = a:1\n", 6, "listen 'a:1' is already used by app 'a'");
  file_error("[app a]\nexec = /a\nlisten = a:1\nlisten = a:1\n", 4,
             "listen 'a:1' is already used by app 'a'");
  file_error("listen = a:1\nlisten = a:1\n[app a]\nexec = /a\n", 2,
             "listen 'a:1' is already used by the global listen");
  file_error("[app a]\nexec = /a\nlisten =\n", 3, "empty value");
  file_error("[app a]\nexec = /a\nlisten = b:1\n[app b]\nexec = /b\n", 4,
             "app 'b' has neither route nor listen");
  CLI_ERROR("--listen 'a:1' is already used by the global listen", "-l",
            "a:1", "-l", "a:1", "--", "p");

  /* --listen replaces the file's global ones, but may not take an app's. */
  TAP_EQ(LOAD(&c, "-l", "b:1", "-c",
              file("[app a]\nexec = /a\nroute = /\n[app b]\nexec = /b\n"
                   "listen = b:1\n")),
         CONF_ERROR, "--listen on an app's own address");
  TAP_OK(strstr(err, ":4: listen 'b:1' of app 'b' is also a global listen") !=
             NULL,
         "  message '%s'", err);
  conf_free(&c);
}

static void test_cgi_app(void)
{
  struct conf c;
  char real[4096];

  TAP_OK(realpath(dir, real) != NULL, "the test directory's real path");
  TAP_EQ(LOAD(&c, "--cgi", dir, "-w", "3", "--app-timeout", "500"), CONF_OK,
         "--cgi DIR");
  TAP_EQ(c.napps, 1, "  one app");
  TAP_STREQ(c.apps[0].name, "default", "  named default");
  TAP_STREQ(c.apps[0].cgi_dir, real, "  its directory as a real path");
  TAP_OK(c.apps[0].argv == NULL && c.apps[0].nconnect == 0,
         "  neither exec nor connect");
  TAP_EQ(c.apps[0].workers, 3, "  workers: the most programs at once");
  TAP_EQ(c.apps[0].app_timeout_ms, 500, "  app-timeout: the longest run");
  TAP_STREQ(c.apps[0].routes[0], "/", "  route /");
  conf_free(&c);

  TAP_EQ(LOAD(&c, "-c", file("[app s]\ncgi = /tmp/\nroute = /cgi-bin\n"
                             "workers = 7\n[app x]\nexec = /x\nroute = /x\n")),
         CONF_OK, "cgi = DIR in an [app]");
  TAP_STREQ(c.apps[0].cgi_dir, "/tmp", "  trailing '/' gone");
  TAP_EQ(c.apps[0].workers, 7, "  its own workers");
  conf_free(&c);
}

static void head(const char *text, int want_status, long long want_total)
{
  int status;
  int64_t total;

  relay_response_head(text, strlen(text), &status, &total);
  TAP_EQ(status, want_status, text);
  TAP_EQ(total, want_total, "  announced size");
}

static void test_response_head(void)
{
  head("Status: 404 Not Found\r\nContent-Length: 3\r\n\r\nabc", 404, 47);
  head("Content-Type: text/plain\r\n\r\n", 200, -1);
  head("content-length:  10 \nstatus:201\n\n", 201, 43);
  head("Status: 204 No Content\r\nContent-Length: 5\r\n\r\n", 204, -1);
  head("Status: 200 OK\r\nContent-Le", 0, -1);
  head("Status: 2x0\r\n\r\n", 0, -1);
  head("Content-Length: -1\r\n\r\n", 200, -1);
}

int main(void)
{
  if (!mkdtemp(dir)) {
    perror("mkdtemp");
    return 1;
  }
  test_cli_defaults();
  test_cli_options();
  test_cli_errors();
  test_file_valid();
  test_operations();
  test_file_errors();
  test_routes();
  test_app_listen();
  test_cgi_app();
  test_response_head();
  unlink(conf_path);
  rmdir(dir);
  return tap_done();
}
