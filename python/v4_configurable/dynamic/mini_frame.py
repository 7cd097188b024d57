"""mini_frame for stage 4 in Python: pages from templates, as in the tutorial's fourth version.

The server imports this module by the name on its command line (mini_frame:application) from
the config's dynamic_path. Two pages are templates, HTML files with {%content%} where the
page's own text goes. Read it beside v4_configurable/src/mini_frame.rs. The templates are the
stage's own, v4_configurable/dynamic/templates (python/v4_configurable/templates leads there).
"""

import re


def index():
    content = "<p>欢迎来到 mini-web！这一页的外框是模板，这一段是框架填进去的。</p>"
    return from_template("index.html", content)


def center():
    # Python's re.sub leaves a $ alone; a backslash is what it would read as an escape.
    content = "<p>这里将来会显示来自数据库的数据。比如一件商品卖 $1.50。</p>"
    return from_template("center.html", content)


def from_template(name, content):
    # FLAW: the template is found from the current folder, not from the framework's: started
    #   anywhere else, no page can be made. Fixed in "The framework learns its folder from the
    #   environ", v4_configurable.md#the-framework-learns-its-folder-from-the-environ.
    # FLAW: a missing template raises FileNotFoundError: the child dies, the client gets an
    #   empty reply. Fixed in "A missing template is the framework's problem",
    #   v4_configurable.md#a-missing-template-is-the-frameworks-problem.
    with open("./templates/" + name) as f:
        template = f.read()
    # FLAW: the content is read as a re.sub template: C:\new would come out with a line
    #   break, and C:\data raises "bad escape" and kills the child. Fixed in "Templates and
    #   {%content%}", v4_configurable.md#templates-and-content.
    return re.sub(r"\{%content%\}", content, template)


def application(env, start_response):
    """The WSGI entry point: the server's only way in."""
    start_response("200 OK", [("Content-Type", "text/html;charset=utf-8")])
    file_name = env["PATH_INFO"]
    if file_name == "/index.py":
        return index()
    elif file_name == "/center.py":
        return center()
    else:
        # FLAW: any other name is a greeting with 200 OK. Fixed in "The code",
        #   v3_wsgi.md#the-code (a page that is not there is a 404).
        return "你好！这里是 mini-web 的框架。"
