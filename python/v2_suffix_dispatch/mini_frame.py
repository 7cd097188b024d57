"""mini_frame for stage 2 in Python: the framework of the tutorial's second version.

The server calls application(file_name) for every path ending in .py and sends back the
text it returns. It knows nothing of sockets or HTTP: a name goes in, a page comes out.
Read it beside v2_suffix_dispatch/src/mini_frame.rs.
"""

import time


# Each page shows the time, to prove it was made when it was asked for. (The Rust pages show
# the pid of the child that made them: Rust's standard library has no calendar.)
def login():
    return "登录：欢迎回来！这一页生成于 %s" % time.ctime()


def register():
    return "注册：第一次来？欢迎加入。这一页生成于 %s" % time.ctime()


# FLAW: a page that no name leads to, dead code. Fixed in "The code",
#   v2_suffix_dispatch.md#the-code (the Rust routes /profile.py).
def profile():
    return "个人资料：以后会显示你的学习进度。这一页生成于 %s" % time.ctime()


def application(file_name):
    if file_name == "/login.py":
        return login()
    elif file_name == "/register.py":
        return register()
    else:
        # A fixed sentence for any other name. (Ours repeats the name, escaped.)
        return "框架里没有这个页面。"
