#!/usr/bin/env bash
# The epilogue's "break it" demos, against stage 5 (or, to compare, stage 4 or nginx).
#
#     docs/demos/break_v5.sh http://127.0.0.1:12800 [MASTER_PID]
#
# The tutorial has no fifth version, so each title says what stage 4, a child per
# connection, does instead. With the master's pid, the last demo kills a worker with SIGKILL
# and shows the master replace it. Needs bash, coreutils, awk and procps (pgrep).
USAGE_MORE=" [MASTER_PID]"
TITLE_LABEL="stage 4"
# shellcheck source=docs/demos/demo.sh
. "$(dirname "$0")/demo.sh"
PID=${2:-}

# exchange_all NAME COMMAND...: like `exchange`, for a connection that carries several
# answers: prints every status line, then `=> NAME: ` and the statuses in order.
exchange_all() {
    local name=$1
    shift
    exec 3<>"/dev/tcp/$HOST/$PORT" || { echo "=> $name: no-connection"; return; }
    ("$@") >&3 2>/dev/null
    timeout "$WAIT" cat <&3 >"$REPLY_FILE" 2>/dev/null
    exec 3>&-
    tr -d '\r' <"$REPLY_FILE" | grep -a '^HTTP/' | sed 's/^/  /'
    local statuses
    statuses=$(grep -a -o '^HTTP/1\.[01] [0-9][0-9][0-9]' "$REPLY_FILE" | cut -d' ' -f2 | paste -sd' ')
    echo "=> $name: ${statuses:-none}"
}

title slowloris "each slow client holds a child; past the cap of 128, real clients wait"
slow=()
for _ in $(seq 200); do
    # Half a head, never finished: the client holds its connection until the 408.
    exec {fd}<>"/dev/tcp/$HOST/$PORT" || break
    printf 'GET / HTTP/1.1\r\nHost: %s\r\n' "$address" >&"$fd"
    slow+=("$fd")
done
note "${#slow[@]} clients hold half a head; a normal request now:"
started=$(date +%s%N)
exchange slowloris request GET / "Connection: close"
note "answered in $((($(date +%s%N) - started) / 1000000)) ms"
for fd in "${slow[@]}"; do
    exec {fd}>&-
done

pipelined() {
    request GET /missing.html
    request GET /
    request HEAD /css/style.css "Connection: close"
}
title pipelined "one request per connection: answers the first, closes, never reads the rest"
exchange_all pipelined pipelined
note "three answers on one connection, in order; the 404 left it open"

smuggle() {
    local hidden="GET /missing.html HTTP/1.1"$'\r\n'"Host: $address"$'\r\n\r\n'
    printf 'GET / HTTP/1.1\r\nHost: %s\r\nContent-Length: 0\r\nContent-Length: %d\r\n\r\n%s' \
        "$address" "${#hidden}" "$hidden"
}
title smuggle "answers one request and closes: a request hidden in a body goes nowhere"
exchange_all smuggle smuggle
note "two Content-Lengths: which one ends the body? Neither is believed"

body() {
    local hidden="GET /missing.html HTTP/1.1"$'\r\n'"Host: $address"$'\r\n\r\n'
    printf 'GET / HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n\r\n%s' \
        "$address" "${#hidden}" "$hidden"
    request HEAD /css/style.css "Connection: close"
}
title body "never reads a body, and closes after the answer"
exchange_all body body
note "the body held a request for /missing.html: it was dropped as body, never answered"

if [ -n "$PID" ]; then
    title worker_killed "a child that dies takes only its own client with it"
    victim=$(pgrep -P "$PID" | head -n 1)
    if [ -n "$victim" ]; then
        kill -KILL "$victim"
        note "killed worker $victim; the master's workers a moment later:"
        sleep 1
        pgrep -P "$PID" | paste -sd' ' | sed 's/^/  /'
    else
        note "no child to kill: a fork stage has one only while a client is connected"
    fi
    exchange worker_killed request GET / "Connection: close"
fi
