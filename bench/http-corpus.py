#!/usr/bin/env python3
"""Runs the HTTP request corpus (gunicorn's and llhttp's suites) against every stage and nginx,
and writes the table the Robustness chapter shows (docs/src/performance/http-corpus.md).

The corpus and its runner are not part of this repository: they are other projects' test data,
kept beside it (../shared/http-corpus by default; --corpus names another folder). This script
only starts the servers, calls the runner once per server, and counts its verdicts.

    cargo build --release --workspace --bins
    bench/http-corpus.py                      # every stage, and nginx if installed
    bench/http-corpus.py --servers v1_static,v5_event_loop --out /tmp/corpus.md
    bench/http-corpus.py --servers v1_static,v5_event_loop --binaries target/debug --check 2

With --check N it fails (exit 1) if any invalid core case is not refused, any answer is a 2xx to
a smuggling shape or one more than the requests sent, or more than N valid core cases are judged
wrong (CI passes 2: the two cases where the corpus and RFC 9112 disagree, named in the book).

Standard library only. Each server is started on a port of its own on 127.0.0.1 and stopped
after its run; nothing else on the machine is touched.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STAGES = ["v1_static", "v2_suffix_dispatch", "v3_wsgi", "v4_configurable", "v5_event_loop"]
# The columns: (source, kind) of the corpus's `core` cases; the `settings` bucket (cases that
# hold only under a project's own settings) is counted apart.
COLUMNS = [("gunicorn", "valid"), ("gunicorn", "invalid"), ("llhttp", "valid"), ("llhttp", "invalid")]


def command(server, port, site, binaries):
    """The command that starts `server` on `port`, and the environment it needs."""
    if server == "nginx":
        conf = os.path.join(site, "nginx.conf")
        temp = os.path.join(site, "temp")
        with open(conf, "w") as f:
            f.write(
                "worker_processes 1;\ndaemon off;\npid %s/nginx.pid;\nerror_log %s/error.log;\n"
                "events { worker_connections 1024; }\nhttp {\n  access_log off;\n"
                "  client_body_temp_path %s;\n  proxy_temp_path %s;\n  fastcgi_temp_path %s;\n"
                "  uwsgi_temp_path %s;\n  scgi_temp_path %s;\n"
                "  server { listen 127.0.0.1:%d; root %s/html; }\n}\n"
                % (site, site, temp, temp, temp, temp, temp, port, ROOT))
        return ["nginx", "-p", site, "-c", conf], []
    binary = os.path.join(binaries, server)
    if server in ("v4_configurable", "v5_event_loop"):
        config = os.path.join(ROOT, server, "web_server.conf")
        return [binary, str(port), "mini_frame:application", "--config", config], []
    return [binary], ["PORT=%d" % port]


def is_right(result):
    """The runner's verdict, with the two corrections the corpus itself allows: a 400 to an
    HTTP/1.1 request without Host is right (RFC 9112 §3.2: MUST), and a 501 to a valid request
    says it was parsed and is not implemented (a transfer coding other than chunked)."""
    if result["verdict"] == "pass":
        return True
    if result["kind"] != "valid":
        return False
    no_host = any("without Host" in note for note in result["notes"])
    return (result["status"] == 400 and no_host) or result["status"] == 501


def count(results):
    """Per column: (right, as the runner judged, cases); and the smuggling flags."""
    cells = {}
    for source, kind in COLUMNS:
        cases = [r for r in results
                 if r["id"].startswith(source + "/") and r["kind"] == kind and r["bucket"] == "core"]
        cells[(source, kind)] = (sum(map(is_right, cases)),
                                 sum(r["verdict"] == "pass" for r in cases), len(cases))
    settings = [r for r in results if r["bucket"] == "settings"]
    cells["settings"] = (sum(map(is_right, settings)), sum(r["verdict"] == "pass" for r in settings),
                         len(settings))
    flags = [f for r in results for f in r["flags"]]
    cells["2xx"] = sum(f == "2xx-to-smuggling-shape" for f in flags)
    cells["extra"] = sum(f.startswith("extra-responses") for f in flags)
    return cells


def misses(results):
    """The core cases still judged wrong, for the reader of the output."""
    return [r for r in results if r["bucket"] == "core" and not is_right(r)]


def table(rows):
    """An HTML table (the generated pages keep their tables out of the translation's reach)."""
    head = ["Server", "gunicorn valid", "gunicorn invalid", "llhttp valid", "llhttp invalid",
            "settings", "2xx to smuggling", "extra answers"]
    out = ["<table>", "<thead><tr>" + "".join("<th>%s</th>" % h for h in head) + "</tr></thead>",
           "<tbody>"]
    for name, cells in rows:
        tds = [name]
        for column in COLUMNS + ["settings"]:
            right, raw, total = cells[column]
            tds.append("%d/%d (%d)" % (right, total, raw) if right != raw else "%d/%d" % (right, total))
        tds += [str(cells["2xx"]), str(cells["extra"])]
        out.append("<tr>" + "".join("<td>%s</td>" % td for td in tds) + "</tr>")
    out += ["</tbody>", "</table>"]
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default=os.path.join(ROOT, "..", "shared", "http-corpus"),
                    help="the folder with cases.json and run (default ../shared/http-corpus)")
    ap.add_argument("--servers", default=",".join(STAGES + ["nginx"]),
                    help="comma-separated: stage names and nginx (default: all)")
    ap.add_argument("--out", default=os.path.join(ROOT, "docs", "src", "performance", "http-corpus.md"))
    ap.add_argument("--first-port", type=int, default=18401)
    ap.add_argument("--binaries", default=os.path.join(ROOT, "target", "release"),
                    help="the folder of the stages' binaries (default target/release)")
    ap.add_argument("--check", type=int, default=None, metavar="N",
                    help="fail on any invalid case let through, any smuggling flag, or more "
                         "than N valid cases judged wrong")
    a = ap.parse_args()
    runner = os.path.join(a.corpus, "run")
    if not os.path.exists(runner):
        sys.exit("no corpus runner at %s: pass --corpus FOLDER" % runner)
    rows = []
    failures = []
    work = tempfile.mkdtemp(prefix="http-corpus-")
    for i, server in enumerate(a.servers.split(",")):
        if server == "nginx" and not shutil.which("nginx"):
            print("nginx is not installed: left out", file=sys.stderr)
            continue
        port = a.first_port + i
        site = os.path.join(work, server)
        os.makedirs(os.path.join(site, "temp"))
        start, env = command(server, port, site, os.path.abspath(a.binaries))
        args = [sys.executable, runner, "--port", str(port), "--label", server, "--out", work]
        for pair in env:
            args += ["--env", pair]
        subprocess.run(args + ["--cwd", ROOT, "--start"] + start, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        with open(os.path.join(work, server + ".json")) as f:
            results = json.load(f)["results"]
        rows.append((server if server == "nginx" else "<code>%s</code>" % server, count(results)))
        wrong = misses(results)
        for r in wrong:
            print("%s: %s (%s) got %s" % (server, r["id"], r["kind"], r["statuses"] or r["class"]))
        cells = rows[-1][1]
        failed = (any(r["kind"] == "invalid" for r in wrong) or cells["2xx"] or cells["extra"]
                  or sum(r["kind"] == "valid" for r in wrong) > (a.check or 0))
        if a.check is not None and failed and server != "nginx":
            failures.append(server)
    with open(a.out, "w") as f:
        f.write("<!-- Written by bench/http-corpus.py; do not edit by hand. -->\n\n")
        f.write(table(rows) + "\n")
    print("-> %s" % a.out, file=sys.stderr)
    if failures:
        sys.exit("the corpus check failed for: %s (the cases are listed above)" % ", ".join(failures))
    if a.check is not None:
        print("http corpus: %d servers checked, all as the RFCs ask" % len(rows))


if __name__ == "__main__":
    main()
