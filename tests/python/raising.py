"""Apps that fail, each in its own way: the server answers 500 (or resets) and lives on."""

import sys


def application(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/boom.py":
        return 1 / 0
    if path == "/late.py":
        # Fails after its head and first bytes went out: too late for a 500.
        def parts():
            yield b"the start of a page, then "
            raise RuntimeError("broken halfway")

        start_response("200 OK", [("Content-Type", "text/plain")])
        return parts()
    if path == "/bad_status.py":
        start_response("OK", [])
        return [b"never sent"]
    if path == "/hop.py":
        start_response("200 OK", [("Connection", "keep-alive")])
        return [b"never sent"]
    if path == "/text.py":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return ["a str, not bytes"]
    if path == "/exit.py":
        sys.exit(3)
    if path == "/no_start.py":
        return [b"no status"]
    if path == "/twice.py":
        start_response("200 OK", [])
        start_response("404 Not Found", [])
        return [b"never sent"]
    if path == "/short.py":
        start_response("200 OK", [("Content-Length", "100")])
        return [b"fewer than promised"]
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"fine\n"]
