"""Hello, world as a WSGI app: the benchmark runs it on stage 4 and on gunicorn alike."""


def application(environ, start_response):
    body = b"Hello, world!\n"
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
