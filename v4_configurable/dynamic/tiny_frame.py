"""tiny_frame: stage 4's framework again, in Python, for any WSGI server.

The same pages as the Rust server's built-in mini_frame (src/mini_frame.rs), made the same
way: a path ending in .py picks a page, two of them are templates from templates/ with
{%content%} filled in. Run it on the Rust server (built with the feature `python`):

    cargo run -p v4_configurable --features python -- 12800 tiny_frame:application \
        --config v4_configurable/web_server.conf

or on any other WSGI server, since it keeps the same contract (PEP 3333):

    cd v4_configurable/dynamic && gunicorn tiny_frame:application

It uses nothing but Python's standard library.
"""

import html
import os
import re

# The templates sit beside this file. The Rust mini_frame learns its folder from the environ
# (mini_web.dynamic_path), because a Rust program has no file of its own to look beside; a
# Python module does (__file__), and it works the same on every server.
TEMPLATES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "templates")

# The placeholder a template marks its content with.
CONTENT = re.compile(r"\{%content%\}")


def application(environ, start_response):
    """The WSGI entry point: the server's only way in."""
    # PEP 3333 hands the path over as latin-1 text, one character per byte: turn the bytes
    # back into the UTF-8 the browser sent, or /中文.py would never match a route.
    path = environ.get("PATH_INFO", "").encode("latin-1").decode("utf-8", "replace")
    if path == "/index.py":
        status, body = from_template("index.html", INDEX)
    elif path == "/center.py":
        status, body = from_template("center.html", CENTER)
    elif path == "/login.py":
        status, body = "200 OK", page("登录", "<p>欢迎回来！请输入用户名和密码。（表单在后面的课程里才会真正工作。）</p>")
    elif path == "/environ.py":
        status, body = "200 OK", show_environ(environ)
    else:
        # Any other name: a page that is not there, and the status says so.
        status, body = "404 Not Found", page(
            "没有这个页面",
            "<p>框架里没有 <code>%s</code> 这个页面。</p>" % html.escape(path),
        )
    data = body.encode("utf-8")
    # A list: its length is known, so the server can send Content-Length (it counts the list).
    start_response(status, [("Content-Type", "text/html; charset=utf-8")])
    return [data]


INDEX = (
    "<p>欢迎来到 mini-web！这一页的外框是模板文件，这一段是框架在请求到来时填进去的。</p>\n"
    "<p>这一次框架是 Python 写的（tiny_frame.py），服务器只管按 WSGI 的约定调用它。</p>"
)

CENTER = (
    "<p>这里将来会显示来自数据库的数据，现在先放一句话。</p>\n"
    "<p>比如一件商品卖 $1.50，路径是 C:\\new：填充时用函数代替替换字符串，原样留下。</p>"
)


def from_template(name, content):
    """A page from a template, or a 500 page if the template cannot be read."""
    try:
        with open(os.path.join(TEMPLATES, name), encoding="utf-8") as file:
            template = file.read()
    except OSError as error:
        # The whole reason for the server's log, a short one for the client.
        print("tiny_frame: cannot read the template %s: %s" % (name, error), flush=True)
        return "500 Internal Server Error", page(
            "服务器内部错误",
            "<p>模板 <code>templates/%s</code> 读不出来，原因写在服务器的日志里。</p>" % name,
        )
    return "200 OK", fill(template, content)


def fill(template, content):
    """Puts content where the template says {%content%}.

    A function, not a string, as the replacement: re.sub reads a replacement string as a
    little language (\\1 is a group, \\n a line break), and C:\\new would come out broken. A
    function's result is taken as it is. (The Rust mini_frame uses NoExpand for the same trap.)
    """
    return CONTENT.sub(lambda match: content, template)


def show_environ(environ):
    """Everything the server told the framework, as a table, every value escaped."""
    rows = "".join(
        "<tr><th>%s</th><td><code>%s</code></td></tr>\n"
        % (html.escape(key), html.escape(str(environ[key])))
        for key in sorted(environ)
    )
    return page("environ：框架看到的请求", "<table>\n%s</table>" % rows)


def page(title, body):
    """A whole small HTML document; body must already be HTML. It says which process made it."""
    return (
        "<!DOCTYPE html>\n"
        '<html lang="zh-CN">\n'
        "<head>\n"
        '<meta charset="utf-8">\n'
        "<title>%s · mini-web</title>\n"
        '<link rel="stylesheet" href="/css/style.css">\n'
        "</head>\n"
        "<body>\n"
        '<main class="wrap">\n'
        "<h1>%s</h1>\n"
        "%s\n"
        "<p><small>这一页刚刚由进程 %d 生成。</small></p>\n"
        '<p><a href="/">&larr; 返回首页</a></p>\n'
        "</main>\n"
        "</body>\n"
        "</html>\n" % (title, title, body, os.getpid())
    )
