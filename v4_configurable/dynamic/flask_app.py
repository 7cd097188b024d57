"""A Flask app, served by the Rust server: a framework the course did not write.

Only paths that end in .py reach it (the server sends every other path from static_path), so
its routes end in .py too. Run it (Flask from a virtualenv, see the book's stage 4 chapter):

    PYTHONPATH=target/python-venv/lib/python3.11/site-packages \
    cargo run -p v4_configurable --features python -- 12800 flask_app:app \
        --config v4_configurable/web_server.conf
"""

from flask import Flask, jsonify, redirect, request, url_for

app = Flask(__name__)
# JSON as UTF-8 text: 中文 stays 中文 instead of \u4e2d\u6587.
app.json.ensure_ascii = False


@app.route("/hello.py")
def hello():
    name = request.args.get("name", "world")
    return f"Hello, {name}! (Flask, on mini-web)\n", 200, {"Content-Type": "text/plain; charset=utf-8"}


@app.route("/api/greeting.py")
def api():
    # JSON, with text that is not ASCII.
    return jsonify(greeting="你好", framework="Flask", server=request.environ["SERVER_SOFTWARE"])


@app.route("/old.py")
def old():
    return redirect(url_for("hello"))


@app.route("/echo.py", methods=["POST"])
def echo():
    # The body the server read (wsgi.input), decoded as the form or text it is.
    text = request.get_data(as_text=True)
    return jsonify(length=len(request.get_data()), text=text, form=request.form.to_dict())


@app.route("/你好.py")
def chinese_path():
    return "路径也可以是中文。\n", 200, {"Content-Type": "text/plain; charset=utf-8"}
