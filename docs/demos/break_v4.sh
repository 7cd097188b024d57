#!/usr/bin/env bash
# Stage 4's "break it" demos, against any server: ours or the tutorial's fourth version.
#
#     docs/demos/break_v4.sh http://127.0.0.1:12800 [DYNAMIC_FOLDER [SERVER_COMMAND...]]
#
# With the framework's folder (the config's dynamic_path, holding templates/), it takes
# center.html away for one request and puts it back. With a command that starts a server
# (`target/debug/v4_configurable`, or `python3 /full/path/web_server.py`), it also makes
# each wrong start of the chapter, in an empty scratch folder, and prints its exit status
# and the last line it printed. Give "" as DYNAMIC_FOLDER to skip the template demo.
USAGE_MORE=" [DYNAMIC_FOLDER [SERVER_COMMAND...]]"
# shellcheck source=docs/demos/demo.sh
. "$(dirname "$0")/demo.sh"
DYNAMIC=${2:-}
shift $(($# < 2 ? $# : 2))
SERVER=()
# The starts run in a scratch folder: a word of the command that names a file here (the
# binary, or python3's web_server.py) must keep naming it from there.
for word in "$@"; do
    if [ -e "$word" ]; then
        word=$(realpath "$word")
    fi
    SERVER+=("$word")
done

title center "fills the template with re.sub: a backslash in the content is an escape"
exchange center request GET /center.py
if grep -q '\$1\.50' "$REPLY_FILE"; then
    note "the text \$1.50 arrived as it was written"
else
    note "no \$1.50 in the page (the tutorial's page has none: give its content one)"
fi

title nothing "answers any other name with a greeting and 200 OK"
exchange nothing request GET /nothing.py

if [ -n "$DYNAMIC" ]; then
    title no_template "open() raises FileNotFoundError in the framework: an empty reply"
    template="$DYNAMIC/templates/center.html"
    mv "$template" "$template.away"
    exchange no_template request GET /center.py
    mv "$template.away" "$template"
fi

# start NAME [CONFIG_TEXT] -- ARGS...: starts the server in a scratch folder (with
# web_server.conf holding CONFIG_TEXT, if given), waits at most 5 s, and shows how it ended.
start() {
    local name=$1 config=$2
    shift 3
    local scratch code
    scratch=$(mktemp -d)
    [ -n "$config" ] && printf '%s\n' "$config" >"$scratch/web_server.conf"
    (cd "$scratch" && timeout 5 "${SERVER[@]}" "$@" >out.txt 2>&1)
    code=$?
    tail -n 3 "$scratch/out.txt" | sed 's/^/  /'
    if [ -e "$scratch/PWNED" ]; then
        note "the config ran code: PWNED exists"
    fi
    rm -rf "$scratch"
    if [ "$code" = 124 ]; then
        echo "=> $name: still running after 5 s"
    else
        echo "=> $name: exit $code"
    fi
}

if [ ${#SERVER[@]} -gt 0 ]; then
    app=mini_frame:application
    title not_a_port "prints a hint in Chinese and exits with status 0"
    start not_a_port "" -- http "$app"
    title no_colon "prints a hint and exits with status 0"
    start no_colon "" -- 0 mini_frame
    title no_module "imports whatever Python finds under that name"
    start no_module '{"static_path": "./static", "dynamic_path": "./dynamic"}' -- 0 no_such_module:application
    title no_config "FileNotFoundError traceback, status 1"
    start no_config "" -- 0 "$app"
    title evil_config "eval() runs the config: the command in it runs"
    start evil_config '{
    "static_path": "./static",
    "dynamic_path": __import__("os").system("touch PWNED") or "./dynamic"
}' -- 0 "$app"
    title typo_config "reads the file without complaint, then a KeyError"
    start typo_config '{"static_path": "./static", "dynamic_pat": "./dynamic"}' -- 0 "$app"
fi
