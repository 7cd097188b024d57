#!/usr/bin/env python3
"""The measured pages in Chinese: an mdBook preprocessor (see book.toml), in two passes.

The benchmark writes its pages (docs/src/performance/) and their charts in English, and the
catalogue never sees them: their figures change with every run. When the book's language is
zh-CN, the first pass (before the includes) swaps each chapter's include of such a page for the
page itself with its words in Chinese, from the phrase table docs/po/measured-pages.zh-CN.toml.
The second (`charts`, after the catalogue's translation) swaps each chart's image for the same
chart with its words in Chinese, as a data: URI. A phrase holds words only: a figure is matched
by a placeholder and copied back, so the Chinese figures are the bytes the benchmark wrote. A
line left with English words, or whose figures differ from the English line's, stops the build
and says which phrase is missing. The English edition passes through untouched.

Also a command, for the tests and for a translator:
    python3 docs/measured_pages.py translate PAGE.md|CHART.svg   in Chinese, or what is missing
"""

import base64
import json
import re
import sys
import tomllib
from pathlib import Path

DOCS = Path(__file__).resolve().parent
TABLE = DOCS / "po" / "measured-pages.zh-CN.toml"

# What a placeholder of the phrase table matches. Code spans are swapped for tokens first (so
# no phrase can change them), and {c} matches one code token.
PLACEHOLDERS = {
    "{n}": r"(\d+(?:[.,:]\d+)*)",
    "{c}": r"(\x01\d+\x02)",
    "{*}": r"(.+?)",
}
CODE = re.compile(r"`[^`]*`|<code>.*?</code>")
TOKEN = re.compile(r"\x01(\d+)\x02")
TAG = re.compile(r"<[^>]*>")
FIGURE = re.compile(r"\d+(?:[.,:]\d+)*")
# Text that {*} matched (a machine's name, a date) is the machine's words: marked while checking.
DATA = re.compile(r"\x05.*?\x06")
INCLUDE = re.compile(r"^\{\{#include ([^}:]+\.md)\}\}$", re.MULTILINE)
CHART = re.compile(r"!\[([^\]]*)\]\((performance/[^)\s]+\.svg)\)")
SVG_TEXT = re.compile(r"(<text[^>]*>)([^<]*)(</text>)")


class Missing(Exception):
    """Lines of a page that the phrase table leaves English, or whose figures changed."""


def generated(page: Path) -> bool:
    """A page the benchmark writes says so on its first line."""
    with page.open(encoding="utf-8") as f:
        return "do not edit by hand" in f.readline()


def load_table():
    table = tomllib.loads(TABLE.read_text(encoding="utf-8"))
    phrases = []
    for phrase in table["phrase"]:
        en, zh = phrase["en"], phrase["zh"]
        kinds = re.findall(r"\{[nc*]\}", en)
        pattern = "".join(
            PLACEHOLDERS.get(part, re.escape(part))
            for part in re.split(r"(\{[nc*]\})", en)
            if part
        )
        if en.endswith("{*}"):
            pattern = pattern[: -len("(.+?)")] + "(.+)$"
        for used in re.findall(r"\{(\d+)\}", zh):
            if not 1 <= int(used) <= len(kinds):
                raise SystemExit(f"{TABLE}: {zh!r} puts back {{{used}}}, but {en!r} has {len(kinds)}")
        phrases.append((len(en), re.compile(pattern), zh, kinds))
    # Longest first: "nginx, a worker per core" before any phrase it contains.
    phrases.sort(key=lambda p: -p[0])
    return phrases, set(table["names"])


def translate_line(line: str, phrases, names) -> tuple:
    """The line in Chinese, and what is wrong with it (None when nothing is): words left in
    English, or figures other than the English line's."""
    kept = []

    def protect(m):
        kept.append(m.group(0))
        return "\x01%d\x02" % (len(kept) - 1)

    text = CODE.sub(protect, line)
    for _, pattern, zh, kinds in phrases:

        def put_back(m, zh=zh, kinds=kinds):
            def one(ref):
                i = int(ref.group(1)) - 1
                value = m.group(i + 1)
                return f"\x05{value}\x06" if kinds[i] == "{*}" else value

            return re.sub(r"\{(\d+)\}", one, zh)

        text = pattern.sub(put_back, text)
    words = english_words(text, names)
    zh = TOKEN.sub(lambda m: kept[int(m.group(1))], text).replace("\x05", "").replace("\x06", "")
    if words:
        return zh, f"still English: {' '.join(words)}\n    {line}"
    if figures(zh) != figures(line):
        return zh, f"the figures changed:\n    {line}\n    {zh}"
    return zh, None


def missing(problems: list) -> Missing:
    return Missing(
        "\n".join(problems)
        + f"\nAdd the words to {TABLE.relative_to(DOCS.parent)} (its top says how)."
    )


def english_words(text: str, names: set) -> list:
    """Words left in English: not a name the table keeps, not code, not the machine's own."""
    text = TAG.sub(" ", DATA.sub(" ", TOKEN.sub(" ", text)))
    left = []
    for word in re.findall(r"[A-Za-z0-9][A-Za-z0-9_.+/-]*", text):
        word = word.rstrip(".")
        # An identifier (v1_static, nginx/1.22.1, http.server) or a unit with a figure (p99).
        if re.search(r"[\d_]|\w\.\w", word) or len(word) < 2 or word in names:
            continue
        left.append(word)
    return left


def heading_id(heading: str, seen: dict) -> str:
    """The id mdBook gives an English heading (its words in lower case, joined by -, the n-th
    repeat in a chapter with -n), so a link into the page finds it in both editions."""
    words = CODE.sub(lambda m: m.group(0).strip("`"), heading.lstrip("#").strip())
    base = "".join(
        c.lower() if c.isalnum() or c in "_-" else "-" if c.isspace() else ""
        for c in TAG.sub("", words)
    )
    n = seen.get(base, 0)
    seen[base] = n + 1
    return f"{base}-{n}" if n else base


def translate(page: Path, phrases, names, seen=None) -> str:
    """The page in Chinese; `seen` counts the chapter's heading ids so far."""
    seen = {} if seen is None else seen
    out, problems = [], []
    for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), 1):
        if line.startswith("<!--"):
            out.append(line)
            continue
        zh, problem = translate_line(line, phrases, names)
        if problem:
            problems.append(f"{page}:{number}: {problem}")
        if line.startswith("#"):
            zh += " {#%s}" % heading_id(line, seen)
        out.append(zh)
    if problems:
        raise missing(problems)
    return "\n".join(out) + "\n"


def figures(line: str) -> list:
    """The figures of a line's words, in any order (Chinese may put them elsewhere in the
    sentence); code is never translated, so it is left out. 第五阶段 is stage 5."""
    words = TAG.sub(" ", CODE.sub(" ", line))
    words = re.sub(r"第([一二三四五])阶段", lambda m: " %d " % ("一二三四五".index(m.group(1)) + 1), words)
    return sorted(FIGURE.findall(words))


def translate_chart(chart: Path, phrases, names) -> str:
    """The chart with each of its texts in Chinese: a text is translated as a table cell would
    be (so one phrase serves both), and keeps its figures."""
    problems = []

    def one(m):
        cell, problem = translate_line(f"<td>{m.group(2)}</td>", phrases, names)
        if problem:
            problems.append(f"{chart}: {problem}")
        return m.group(1) + cell[len("<td>") : -len("</td>")] + m.group(3)

    svg = SVG_TEXT.sub(one, chart.read_text(encoding="utf-8"))
    if problems:
        raise missing(problems)
    return svg


def chapters(items):
    for item in items:
        chapter = item.get("Chapter") if isinstance(item, dict) else None
        if chapter:
            yield chapter
            yield from chapters(chapter["sub_items"])


def preprocess(charts: bool):
    context, book = json.load(sys.stdin)
    if context["config"]["book"].get("language") == "zh-CN":
        phrases, names = load_table()
        src = Path(context["root"]) / context["config"]["book"].get("src", "src")
        for chapter in chapters(book["items"]):
            if not chapter.get("path"):
                continue
            folder = (src / chapter["path"]).parent
            seen = {}

            def swap(m, seen=seen):
                page = folder / m.group(1)
                if not page.is_file() or not generated(page):
                    return m.group(0)
                return translate(page, phrases, names, seen).rstrip("\n")

            def draw(m):
                svg = translate_chart(folder / m.group(2), phrases, names)
                data = base64.b64encode(svg.encode("utf-8")).decode("ascii")
                return f"![{m.group(1)}](data:image/svg+xml;base64,{data})"

            try:
                if charts:
                    chapter["content"] = CHART.sub(draw, chapter["content"])
                else:
                    chapter["content"] = INCLUDE.sub(swap, chapter["content"])
            except Missing as missing:
                print(f"measured_pages.py: {missing}", file=sys.stderr)
                sys.exit(1)
    json.dump(book, sys.stdout)


def main():
    args = sys.argv[1:]
    charts = args[:1] == ["charts"]
    if charts:
        args = args[1:]
    if args[:1] == ["supports"]:
        sys.exit(0)  # every renderer: the swap is in the Markdown
    if args[:1] == ["translate"] and len(args) == 2:
        phrases, names = load_table()
        what = Path(args[1])
        try:
            if what.suffix == ".svg":
                sys.stdout.write(translate_chart(what, phrases, names))
            else:
                sys.stdout.write(translate(what, phrases, names))
        except Missing as missing:
            print(missing, file=sys.stderr)
            sys.exit(1)
        return
    if args:
        print(__doc__.strip().splitlines()[-1].strip(), file=sys.stderr)
        sys.exit(2)
    preprocess(charts)


if __name__ == "__main__":
    main()
