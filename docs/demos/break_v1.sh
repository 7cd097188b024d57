#!/usr/bin/env bash
# Stage 1's "break it" demos, against any server: ours or the tutorial's first version.
#
#     docs/demos/break_v1.sh http://127.0.0.1:12800 [SERVER_PID]
#
# With the server's pid, it also counts the server's zombie children at the end.
# Needs bash, coreutils and awk. It writes nothing but a temporary file.
USAGE_MORE=" [SERVER_PID]"
# shellcheck source=docs/demos/demo.sh
. "$(dirname "$0")/demo.sh"
PID=${2:-}

title traversal "glues the path to ./html and sends any file the server can read"
exchange traversal request GET /../../../../etc/hostname

title post "never looks at the method: a POST gets the file like a GET"
exchange post request POST / "Content-Length: 0"

split() {
    printf 'HEAD /ind'
    sleep 1
    printf 'ex.html HTTP/1.1\r\nHost: %s\r\n\r\n' "$address"
}
title split "reads once, recv(1024), and looks for a file called /ind: 404"
exchange split split

title bad_bytes "decodes the request as UTF-8: the child dies, the client gets nothing"
exchange bad_bytes printf 'GET /\xff HTTP/1.1\r\n\r\n'

title idle "waits in recv for ever, holding a process"
note "this one takes a while: ours answers after 10 s, the tutorial never does"
exchange idle true

title hang_up "reads the first line of an empty request: an IndexError in the child"
note "nobody to answer: look at the server's terminal (a traceback, or nothing)"
exec 3<>"/dev/tcp/$HOST/$PORT" && exec 3>&- && echo "=> hang_up: closed"

title folder "opens the folder itself: 404"
exchange folder request GET /docs/
title query "looks for a file named 'index.html?lang=en': 404"
exchange query request GET '/index.html?lang=en'
title space "looks for a file named 'about%20us.html': 404"
exchange space request GET /about%20us.html

if [ -n "$PID" ]; then
    title zombies "never waits for its children: the last ones stay zombies while it is idle"
    sleep 1 # A child that just answered may not have exited yet.
    zombies=$(ps --ppid "$PID" -o stat= | grep -c '^Z')
    ps --ppid "$PID" -o pid=,stat=,cmd= | sed 's/^/  /'
    echo "=> zombies: $zombies"
fi
