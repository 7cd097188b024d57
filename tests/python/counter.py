"""Module-level state: each request runs in a fresh copy of the parent, so it always reads 1."""

import os

requests_seen = 0


def application(environ, start_response):
    global requests_seen
    requests_seen += 1
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [("%d %d\n" % (requests_seen, os.getpid())).encode()]
