# shellcheck shell=bash
# What the break_v*.sh scripts share: sourced by them, never run alone.
#
# Each demo opens a raw TCP connection with bash's /dev/tcp (no nc or curl needed, so the
# bytes sent are exactly the ones written here), sends its request, and prints what came
# back: the status line and headers, the first lines of the body, then one summary line
#
#     => NAME: STATUS
#
# where STATUS is the status code, or `none` when the server closed without a word, or
# `silent` when nothing came back within DEMO_WAIT seconds. Point a script at our stage and
# at the tutorial's Python server, and compare the summary lines.

set -u

usage() {
    echo "usage: $0 BASE_URL${USAGE_MORE:-}   (for example http://127.0.0.1:12800)" >&2
    exit 2
}

[ $# -ge 1 ] || usage
case $1 in http://*:*) ;; *) usage ;; esac

BASE=${1%/}
address=${BASE#http://}
address=${address%%/*}
HOST=${address%:*}
PORT=${address##*:}
# How long a demo waits for an answer. Our stages answer a silent client after 10 s.
WAIT=${DEMO_WAIT:-15}
# How many lines of each body to show.
BODY_LINES=${DEMO_BODY_LINES:-3}

REPLY_FILE=$(mktemp)
trap 'rm -f "$REPLY_FILE"' EXIT

# title NAME WHAT_THE_TUTORIAL_DOES: the demo's name, and what the server the stage mirrors
# does there (the tutorial's, unless the script sets TITLE_LABEL to another).
title() {
    printf '\n### %s\n# %s: %s\n' "$1" "${TITLE_LABEL:-tutorial}" "$2"
}

# exchange NAME COMMAND...: runs COMMAND with its output going to a new connection, then
# reads the reply until the server closes (at most WAIT seconds) and shows it.
exchange() {
    local name=$1
    shift
    if ! exec 3<>"/dev/tcp/$HOST/$PORT"; then
        echo "=> $name: no-connection"
        return
    fi
    # In a subshell: a server that closes early makes the next write fail with SIGPIPE, which
    # must end the sender, not this script.
    ("$@") >&3 2>/dev/null
    local code=0
    timeout "$WAIT" cat <&3 >"$REPLY_FILE" 2>/dev/null || code=$?
    exec 3>&-
    show "$name" "$code"
}

# request METHOD PATH [HEADER...]: what a plain client sends, one header a line.
request() {
    local method=$1 path=$2
    shift 2
    printf '%s %s HTTP/1.1\r\nHost: %s\r\n' "$method" "$path" "$address"
    local header
    for header in "$@"; do
        printf '%s\r\n' "$header"
    done
    printf '\r\n'
}

# show NAME CODE: prints the reply in REPLY_FILE and its summary line.
show() {
    local name=$1 code=$2 status
    if [ -s "$REPLY_FILE" ]; then
        # The head, up to the blank line, without the \r that ends each of its lines.
        tr -d '\r' <"$REPLY_FILE" | sed -n '1,/^$/p' | sed 's/^/  /'
        body_lines | head -n "$BODY_LINES" | sed 's/^/  | /'
        echo "  [body: $(body_bytes) bytes]"
        status=$(head -n 1 "$REPLY_FILE" | sed -n 's/^HTTP\/[0-9.]* \([0-9][0-9][0-9]\).*/\1/p')
        status=${status:-unreadable}
    elif [ "$code" = 124 ]; then
        echo "  (no answer within $WAIT s)"
        status=silent
    else
        echo "  (the server closed the connection without an answer)"
        status=none
    fi
    echo "=> $name: $status"
}

# The body of the last reply: everything after the first blank line.
body_lines() {
    awk 'body { print } /^\r?$/ && !body { body = 1 }' "$REPLY_FILE"
}

body_bytes() {
    local whole head
    whole=$(wc -c <"$REPLY_FILE")
    head=$(LC_ALL=C awk '{ n += length($0) + 1 } /^\r?$/ { print n; exit }' "$REPLY_FILE")
    echo $((whole - ${head:-$whole}))
}

# header NAME: the value of a header of the last reply, or nothing.
header() {
    tr -d '\r' <"$REPLY_FILE" | sed -n '2,/^$/p' | grep -i "^$1:" | head -n 1 | sed 's/^[^:]*: *//'
}

# note TEXT: a line that says what to look at.
note() {
    echo "  # $*"
}
