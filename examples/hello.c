/* hello.c - the smallest libscgi program. Usage: hello [ADDRESS [THREADS]] */
#include <scgi.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

static scgi_server *srv;

static void on_signal(int sig) { (void)sig; scgi_server_stop(srv); }

static int hello(scgi_request *req, void *arg)
{
  (void)arg;
  return scgi_printf(req, "Hello, world!\n");
}

int main(int argc, char **argv)
{
  struct sigaction sa = {.sa_handler = on_signal};
  int rc = SCGI_ENOMEM;

  srv = scgi_server_new();
  if (!srv || (rc = scgi_server_listen(srv, argc > 1 ? argv[1] : NULL)) < 0) {
    fprintf(stderr, "hello: %s\n", scgi_strerror(rc));
    return 1;
  }
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  rc = scgi_serve(srv, argc > 2 ? atoi(argv[2]) : 0, hello, NULL);
  sa.sa_handler = SIG_IGN; /* srv is freed next: no more stops */
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  scgi_server_free(srv);
  return rc < 0;
}
