"""An app wrapped in Python's own checker of the WSGI contract, wsgiref.validate (PEP 3333).

The validator sits between the server and the app and raises AssertionError on any breach by
either side: an environ key missing or of the wrong type, wsgi.input misused, start_response
called wrongly, the iterable not closed. Raised inside the app, a breach becomes a 500, so a
test that sees 200 everywhere has seen the server keep the contract.
"""

from wsgiref.validate import validator


def app(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/stream.py":
        # A generator: the server cannot know the length before it has sent it all.
        start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8")])
        return (("part %d\n" % i).encode() for i in range(1, 4))
    if path == "/write.py":
        # The old imperative way: write() first, then an iterable.
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        write(b"written, ")
        return [b"then returned\n"]
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length)
    lines = [
        "method=%s" % environ["REQUEST_METHOD"],
        "path=%s" % path.encode("latin-1").decode("utf-8"),
        "query=%s" % environ.get("QUERY_STRING", ""),
        "agent=%s" % environ.get("HTTP_USER_AGENT", ""),
        "remote=%s" % environ.get("REMOTE_ADDR", ""),
        "x-test=%s" % environ.get("HTTP_X_TEST", ""),
        "type=%s" % environ.get("CONTENT_TYPE", ""),
        "body=%s" % body.decode("utf-8"),
        "multiprocess=%s multithread=%s run_once=%s"
        % (environ["wsgi.multiprocess"], environ["wsgi.multithread"], environ["wsgi.run_once"]),
        "",
    ]
    data = "\n".join(lines).encode("utf-8")
    start_response(
        "200 OK",
        [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(data)))],
    )
    return [data]


application = validator(app)
