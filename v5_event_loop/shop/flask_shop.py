"""An ordinary Flask app, written for no server in particular: stage 5 runs it unmodified.

Its routes are Flask's own (`/`, `/users/42`, `/api/items`), not `.py` paths, and its
stylesheet is in `static/`, as `flask run` expects: the server sends `/static/...` from the
config's static_path and hands every other path to the app.
"""

from flask import Flask, jsonify, redirect, render_template, request, url_for

app = Flask(__name__)

ITEMS = [{"id": 1, "name": "绿茶"}, {"id": 2, "name": "乌龙"}]


@app.get("/")
def index():
    return render_template("index.html", items=ITEMS)


@app.get("/users/<int:user_id>")
def user(user_id):
    return f"User {user_id}\n", {"Content-Type": "text/plain; charset=utf-8"}


@app.get("/api/items")
def list_items():
    return jsonify(ITEMS)


@app.post("/api/items")
def add_item():
    item = request.get_json()
    # Each worker has its own list: a real shop keeps its data in a database.
    item = {"id": len(ITEMS) + 1, "name": item["name"]}
    ITEMS.append(item)
    return jsonify(item), 201


@app.get("/shop")
def old_address():
    return redirect(url_for("index"))
