"""An iterable with close(): the server must call it, whether the iteration ended well or not."""

import sys


class Body:
    def __init__(self, path, fail):
        self.path = path
        self.fail = fail

    def __iter__(self):
        yield b"one "
        if self.fail:
            raise ValueError("failed while iterating")
        yield b"two\n"

    def close(self):
        sys.stderr.write("close() called for %s\n" % self.path)
        sys.stderr.flush()


def application(environ, start_response):
    path = environ["PATH_INFO"]
    start_response("200 OK", [("Content-Type", "text/plain")])
    return Body(path, fail=path == "/fail.py")
