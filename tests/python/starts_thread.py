"""Starts a thread while it is imported: unsafe to fork, so the server refuses it."""

import threading
import time

threading.Thread(target=time.sleep, args=(60,), daemon=True).start()


def application(environ, start_response):
    start_response("200 OK", [])
    return [b"never served"]
