"""Stage 3 in Python: the tutorial's third version (第三版本-WSGI), written again for the course.

The WSGI contract: the server calls mini_frame.application(env, start_response), the
framework sets its status and headers through start_response and returns the body. Files are
served as before. Read it beside v3_wsgi/src/main.rs. It keeps the tutorial's behaviour on
purpose, flaws included, and marks each flaw FLAW with the section of the book that fixes it.

Try it from the top folder of the workspace (Python 3, standard library only):

    python3 python/v3_wsgi/web_server.py          # http://127.0.0.1:12800/index.py
    PORT=0 python3 python/v3_wsgi/web_server.py   # any free port

Break it: docs/demos/break_v3.sh http://127.0.0.1:12800
"""

import multiprocessing
import os
import re
import socket

# Found beside this file: Python puts the folder of the script it runs first on sys.path.
import mini_frame

# The tutorial's port. Env PORT overrides it, as for every stage (0: any free port).
PORT = 12800


class WSGIServer(object):
    def __init__(self):
        # Every stage listens on 127.0.0.1 unless env HOST says otherwise. (The tutorial binds
        # "", every interface: the whole network could read the files.)
        host = os.environ.get("HOST", "127.0.0.1")
        port = int(os.environ.get("PORT", PORT))
        self.tcp_server_socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        # A restarted server may take its port at once, even while old connections linger.
        self.tcp_server_socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # FLAW: a port already taken is a traceback, not a line that says what to do.
        #   Fixed in "Reading it beside the Python", v1_static.md#reading-it-beside-the-python.
        self.tcp_server_socket.bind((host, port))
        # The kernel queues up to 128 connections that wait for accept().
        self.tcp_server_socket.listen(128)
        # What the framework passes to start_response, kept on the server object until the
        # server writes the head. None: not called yet.
        # FLAW: state of the server, not of the request. It works only because each request
        #   has a process (a copy of self) of its own. Fixed in "start_response, made for each
        #   request", v3_wsgi.md#start_response-made-for-each-request.
        self.status = None
        self.headers = None

    def service_client(self, new_socket):
        """Runs in the child: reads one request, answers it, closes the connection."""
        # FLAW: one recv of at most 1024 bytes. TCP is a stream, and a request that arrives in
        #   pieces is read in part. Fixed in "Send the request in pieces",
        #   v1_static.md#send-the-request-in-pieces.
        # FLAW: recv has no timeout: a client that says nothing holds this process for ever.
        #   Fixed in "Say nothing", v1_static.md#say-nothing.
        # FLAW: decoding before looking: a byte such as 0xff raises UnicodeDecodeError, the
        #   child dies, and the client gets no answer. Fixed in "Send bytes that aren't text",
        #   v1_static.md#send-bytes-that-arent-text.
        request = new_socket.recv(1024).decode("utf-8")
        request_lines = request.splitlines()
        print(request_lines)
        # A client that connected and hung up sent nothing: there is no first line to read,
        # and nobody to answer. (The tutorial checks this from its third version on.)
        if not request_lines:
            return

        # The path is what follows the first "/" of the first line, up to a space.
        # FLAW: the pattern is loose: it finds a "path" in almost any line, and the method and
        #   the version are never checked, so a POST reads the file like a GET. Fixed in
        #   "Reading it beside the Python", v1_static.md#reading-it-beside-the-python, and in
        #   "Post to a file", v1_static.md#post-to-a-file.
        file_name = ""
        ret = re.match(r"[^/]+(/[^ ]*)", request_lines[0])
        if ret:
            file_name = ret.group(1)
            # FLAW: only "/" means index.html. A folder such as /docs/, a query (?lang=en) and
            #   an encoded name (%20) are looked up as written: three 404s. Fixed in "Ask for a
            #   folder, a query or a space", v1_static.md#ask-for-a-folder-a-query-or-a-space.
            if file_name == "/":
                file_name = "/index.html"

        # The one place that decides: a name ending in .py is a page to make, never a file.
        if not file_name.endswith(".py"):
            # FLAW: the path is glued to the site's name, so /../../etc/hostname walks out of it
            #   and any file the server can read is sent. Fixed in "Leave the site",
            #   v1_static.md#leave-the-site.
            # FLAW: a bare except catches every error, bugs and Ctrl-C included, as "not found".
            #   Fixed in "Stage 1: sockets, processes, files",
            #   python_to_rust.md#stage-1-sockets-processes-files.
            try:
                f = open("./html" + file_name, "rb")
            except:  # noqa: E722 (the tutorial's bare except, kept on purpose)
                # FLAW: the error is a line of dashes with no type: the browser must guess. Fixed in
                #   "Errors, and the last byte: send_error and finish",
                #   v1_static.md#errors-and-the-last-byte-send_error-and-finish.
                response = "HTTP/1.1 404 NOT FOUND\r\n"
                response += "\r\n"
                response += "-- no such file --"
                new_socket.send(response.encode("utf-8"))
            else:
                # FLAW: the whole file is read into memory, however big it is. Fixed in
                #   "Sending it: send_file", v1_static.md#sending-it-send_file.
                html_content = f.read()
                f.close()
                # FLAW: no Content-Type and no Content-Length: the browser guesses what the bytes
                #   are, and learns where they end only when the connection closes. Fixed in
                #   "Content-Length and Content-Type", v1_static.md#content-length-and-content-type.
                response = "HTTP/1.1 200 OK\r\n"
                response += "\r\n"
                # The head is text and the file is bytes: they go out in two sends.
                # FLAW: send may send only part of what it is given (sendall would loop). Fixed
                #   in "Sending it: send_file", v1_static.md#sending-it-send_file.
                new_socket.send(response.encode("utf-8"))
                new_socket.send(html_content)
        else:
            # The environ: what the server tells the framework about the request.
            # FLAW: the path alone: no method, no query, no headers. Fixed in "The environ",
            #   v3_wsgi.md#the-environ.
            env = dict()
            env['PATH_INFO'] = file_name
            # FLAW: no try around the framework: an exception kills the child with a traceback,
            #   and the client gets an empty reply. Fixed in "The server checks the framework's
            #   side", v3_wsgi.md#the-server-checks-the-frameworks-side.
            body = mini_frame.application(env, self.set_response_header)
            # FLAW: whatever the framework said goes out unchecked. Never called: self.headers
            #   is None and the loop below raises TypeError. Called twice: the second call wins.
            #   A status of "OK": the line "HTTP/1.1 OK". A value holding \r\n: a header of
            #   its own. Fixed in "The server checks the framework's side",
            #   v3_wsgi.md#the-server-checks-the-frameworks-side.
            # FLAW: a HEAD gets the body too, which HTTP forbids. Fixed in "Any method reaches
            #   the framework", v3_wsgi.md#any-method-reaches-the-framework.
            header = "HTTP/1.1 %s\r\n" % self.status
            for name, value in self.headers:
                header += "%s:%s\r\n" % (name, value)
            # FLAW: no Content-Length: only the server knows the body's length, and it does not
            #   say. Fixed in "Who writes which header", v3_wsgi.md#who-writes-which-header.
            header += "\r\n"
            response = header + body
            new_socket.send(response.encode("utf-8"))
        new_socket.close()

    def set_response_header(self, status, headers):
        """The framework's start_response: keeps its status and headers for service_client."""
        self.status = status
        # The server's own header first, then the framework's, in their order.
        self.headers = [("Server", "mini-web-python")]
        self.headers += headers

    def run_forever(self):
        # The real port: the one asked for, or the one the kernel picked for PORT=0. Flushed,
        # because stdout is a pipe when a test reads it, and Python would keep the line back.
        host, port = self.tcp_server_socket.getsockname()
        print("Serving on http://%s:%d/" % (host, port), flush=True)
        # The tutorial's Python forked a child for each Process on Linux. Python 3.14 starts
        # them another way by default, so we ask for fork by name.
        processes = multiprocessing.get_context("fork")
        while True:
            new_socket, client_addr = self.tcp_server_socket.accept()
            # FLAW: no limit on the number of children: a crowd of clients makes as many
            #   processes. Fixed in "Waiting for a client: wait_for_client",
            #   v1_static.md#waiting-for-a-client-wait_for_client.
            # FLAW: the server never waits for its children. multiprocessing reaps the finished
            #   ones only when it starts the next, so the last ones stay zombies while the
            #   server is idle. Fixed in "Count the zombies", v1_static.md#count-the-zombies.
            # FLAW: Ctrl-C or kill stops the parent only: a child waiting on a silent client
            #   lives on. Fixed in "The child's first step: set_up_child",
            #   v1_static.md#the-childs-first-step-set_up_child.
            p = processes.Process(target=self.service_client, args=(new_socket,))
            p.start()
            # After the fork both processes hold the connection; it ends when both have closed
            # it, so the parent closes its copy at once.
            new_socket.close()
        # Never reached: the loop above has no way out.
        self.tcp_server_socket.close()


def main():
    wsgi_server = WSGIServer()
    wsgi_server.run_forever()


if __name__ == "__main__":
    main()
