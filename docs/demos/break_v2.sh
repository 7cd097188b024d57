#!/usr/bin/env bash
# Stage 2's "break it" demos, against any server: ours or the tutorial's second version.
#
#     docs/demos/break_v2.sh http://127.0.0.1:10500 [SITE_FOLDER]
#
# With the site's folder (html/), it also puts a .py file holding a secret there, asks for
# it, and takes it away again. Stage 1's demos hold here too: run break_v1.sh on it as well.
USAGE_MORE=" [SITE_FOLDER]"
# shellcheck source=docs/demos/demo.sh
. "$(dirname "$0")/demo.sh"
SITE=${2:-}

if [ -n "$SITE" ]; then
    title py_file "never opens a name ending in .py: the framework answers it"
    secret="$SITE/break_v2_secret.py"
    echo 'PASSWORD = "break-v2-demo"' >"$secret"
    exchange py_file request GET /break_v2_secret.py
    rm -f "$secret"
    if grep -q break-v2-demo "$REPLY_FILE"; then
        note "the source went out: its secret is in the reply"
    else
        note "the source stayed on the server"
    fi
fi

title post_page "never looks at the method: a POST gets the page like a GET"
exchange post_page request POST /login.py "Content-Length: 0"

title head_page "sends the page's body to a HEAD too, which HTTP forbids"
exchange head_page request HEAD /login.py
note "a HEAD reply has no body: $(body_bytes) bytes came after the head"

title headers "sends the status line and the body: no Content-Type, no Content-Length"
exchange headers request GET /login.py
note "Content-Type: $(header Content-Type)"
note "Content-Length: $(header Content-Length)"

title markup "answers an unknown name with a fixed sentence (ours repeats the name, escaped)"
exchange markup request GET '/<script>alert(1)</script>.py'
if grep -q '<script>alert' "$REPLY_FILE"; then
    note "the markup came back as markup: a browser would run it"
else
    note "no markup came back as markup"
fi
