#!/usr/bin/perl
# echo.pl - an SCGI application written with Perl's SCGI module (Debian:
# libscgi-perl), for tests/connect-peers.sh. Usage: echo.pl PORT
#
# Copyright (C) 2026 The libscgi authors.
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Serves 127.0.0.1:PORT one connection at a time until killed. Answers a
# request whose path starts with /missing with a 404; every other one with
# 200, the variables it received sorted by name as NAME=VALUE lines, an
# empty line, then the request body byte for byte. The response has no
# Content-Length: it ends when the connection closes.
use strict;
use warnings;

use IO::Socket::INET;
use SCGI;

my $port = shift @ARGV or die "usage: echo.pl PORT\n";
my $listener = IO::Socket::INET->new(
  LocalAddr => '127.0.0.1',
  LocalPort => $port,
  Listen    => 16,
  ReuseAddr => 1,
) or die "echo.pl: cannot listen on 127.0.0.1:$port: $!\n";
my $scgi = SCGI->new($listener, blocking => 1);

while (my $request = $scgi->accept) {
  # read_env dies on a connection closed before its first byte (a port
  # check) and on a malformed request: drop that connection only.
  unless (eval { $request->read_env; 1 }) {
    warn "echo.pl: $@";
    $request->close;
    next;
  }
  my $env = $request->env;
  my $conn = $request->connection;
  binmode $conn;
  my ($body, $want) = ('', $env->{CONTENT_LENGTH});
  while (length $body < $want) {
    my $got = read $conn, $body, $want - length $body, length $body;
    last unless $got;
  }
  my $uri = $env->{REQUEST_URI} // '';
  if ($uri =~ m{^/missing}) {
    print {$conn} "Status: 404 Not Found\r\n",
      "Content-Type: text/plain\r\n\r\nnot here\n";
  } else {
    print {$conn} "Status: 200 OK\r\n",
      "Content-Type: application/octet-stream\r\n", "X-Peer: perl\r\n\r\n",
      (map { "$_=$env->{$_}\n" } sort keys %$env), "\n", $body;
  }
  $request->close;
}
