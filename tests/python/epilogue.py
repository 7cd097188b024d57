"""Pages for stage 5's worker loop: which worker answered, a body of any size made as it is
sent, a page that waits for the test, and the two ways of failing."""

import os
import time


def application(environ, start_response):
    path = environ["PATH_INFO"]
    query = environ.get("QUERY_STRING", "")
    if path == "/pid":
        body = str(os.getpid()).encode()
    elif path == "/big":
        # query: how many MiB, made in 64 KiB pieces, one at a time as the server asks.
        pieces = int(query) * 16
        piece = b"x" * 65536
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return (piece for _ in range(pieces))
    elif path == "/gate":
        # A page that takes as long as the test says: until the file named by the query exists.
        while not os.path.exists(query):
            time.sleep(0.01)
        body = b"gate opened\n"
    elif path == "/echo":
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length)
    elif path == "/boom":
        raise ValueError("boom, before the head")
    elif path == "/late":
        start_response("200 OK", [("Content-Type", "text/plain")])

        def parts():
            yield b"the start of a page, then "
            raise RuntimeError("broken halfway")

        return parts()
    else:
        body = b"fine\n"
    start_response(
        "200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))]
    )
    return [body]
