"""mini_frame for stage 3 in Python: a WSGI application, as in the tutorial's third version.

The server calls application(env, start_response) for every path ending in .py. The
framework calls start_response once, with a status and a list of (name, value) pairs, then
returns the body. Read it beside v3_wsgi/src/mini_frame.rs, which has the same routes.
"""

import html


def application(env, start_response):
    """The WSGI entry point: the server's only way in."""
    file_name = env["PATH_INFO"]
    # Broken on purpose, as in the Rust mini_frame: each breaks the contract in one way, so
    # that docs/demos/break_v3.sh shows what this server does with such a framework.
    if file_name.startswith("/broken/"):
        return broken(file_name, start_response)
    # The charset is what lets the Chinese through: the framework writes Content-Type now.
    start_response("200 OK", [("Content-Type", "text/html;charset=utf-8")])
    if file_name == "/index.py":
        return index()
    elif file_name == "/login.py":
        return login()
    elif file_name == "/environ.py":
        return show_environ(env)
    else:
        # FLAW: any other name is a greeting with 200 OK. Fixed in "The code",
        #   v3_wsgi.md#the-code (a page that is not there is a 404).
        return "你好！这里是 mini-web 的框架。"


def index():
    return "<h1>主页</h1><p>这一页不是文件，是框架刚刚写出来的。</p>"


def login():
    return "<h1>登录</h1><p>欢迎回来！</p>"


def show_environ(env):
    """Everything the server told the framework, as a table (a value may come from the client:
    escaped)."""
    rows = "".join(
        "<tr><th>%s</th><td><code>%s</code></td></tr>\n" % (html.escape(key), html.escape(value))
        for key, value in sorted(env.items())
    )
    return "<h1>environ</h1>\n<table>\n%s</table>" % rows


def broken(file_name, start_response):
    """The routes that break the contract, one way each."""
    page = "<p>你不应该看到这一页。</p>"
    if file_name == "/broken/no_start.py":
        # Never calls start_response: the server has no status to send.
        return page
    elif file_name == "/broken/twice.py":
        # Two answers: which one is real?
        start_response("200 OK", [("Content-Type", "text/html;charset=utf-8")])
        start_response("404 Not Found", [("Content-Type", "text/html;charset=utf-8")])
        return page
    elif file_name == "/broken/bad_status.py":
        # A status without its code.
        start_response("OK", [("Content-Type", "text/html;charset=utf-8")])
        return page
    elif file_name == "/broken/bad_header.py":
        # A line break in a value: sent on, the text after it is a header of its own.
        start_response("200 OK", [("X-Note", "hi\r\nSet-Cookie: stolen=1")])
        return page
    else:
        # /broken/panic.py, and any other: an exception inside the framework.
        raise RuntimeError("%s is broken on purpose" % file_name)
