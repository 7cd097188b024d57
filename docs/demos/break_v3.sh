#!/usr/bin/env bash
# Stage 3's "break it" demos, against any server: ours or the tutorial's third version.
#
#     docs/demos/break_v3.sh http://127.0.0.1:12800
#
# The /broken/ routes are our framework's: each breaks the WSGI contract in one way. The
# tutorial's framework has none of them and answers each with its greeting. Our Python of
# its third version (python/v3_wsgi/) has them all, so this script shows what the tutorial's
# server does with each broken framework; or give the tutorial's mini_frame.application the
# same fault (the notes say which) and run this script again.
# shellcheck source=docs/demos/demo.sh
. "$(dirname "$0")/demo.sh"

title no_start "never calls start_response: self.headers is None, TypeError, empty reply"
exchange no_start request GET /broken/no_start.py

title twice "calls start_response twice: the second call silently wins"
exchange twice request GET /broken/twice.py

title bad_status "start_response('OK', ...): the status line goes out as 'HTTP/1.1 OK'"
exchange bad_status request GET /broken/bad_status.py

title bad_header "a header value holding \\r\\n: the text after it is a header of its own"
exchange bad_header request GET /broken/bad_header.py
if [ -n "$(header Set-Cookie)" ]; then
    note "a Set-Cookie header was injected: $(header Set-Cookie)"
else
    note "no Set-Cookie header came back"
fi

title panic "raises inside the framework: a traceback, and an empty reply"
exchange panic request GET /broken/panic.py

title still_serving "(the server itself must be unharmed after all that)"
exchange still_serving request GET /index.py

title environ "tells the framework the path alone: no method, no query, no headers"
exchange environ request POST '/environ.py?x=1' "Content-Length: 0" "X-Demo: hello"
for key in REQUEST_METHOD QUERY_STRING HTTP_X_DEMO; do
    if grep -q "<th>$key</th>" "$REPLY_FILE"; then
        note "the framework was told $key"
    else
        note "the framework was not told $key"
    fi
done
