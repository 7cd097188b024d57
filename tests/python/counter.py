"""Module-level state: each request runs in a fresh copy of the parent, so it always reads 1.

And a random number: the same copy of the generator in every child would draw the same one,
unless Python is told it was forked (PyOS_AfterFork_Child reseeds it).
"""

import os
import random

requests_seen = 0
# Printed once, while the server imports the module: never again by a child.
print("counter imported")


def application(environ, start_response):
    global requests_seen
    requests_seen += 1
    start_response("200 OK", [("Content-Type", "text/plain")])
    drawn = random.getrandbits(64)
    return [("%d %d %d\n" % (requests_seen, os.getpid(), drawn)).encode()]
