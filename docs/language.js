// The link to the same page in the book's other edition, in the menu bar of every page.
//
// The English edition is built into docs/book/ and the Chinese one into docs/book-zh-CN/
// (CONTRIBUTING.md says how): side by side, so rebuilding one never deletes the other. Both
// keep the same file names and heading anchors, so the link keeps the reader's place.
(function () {
    "use strict";
    const editions = {
        "en": { folder: "book", label: "English", title: "Read this page in English" },
        "zh-CN": { folder: "book-zh-CN", label: "中文", title: "阅读本页的中文版" },
    };
    const here = document.documentElement.lang === "zh-CN" ? "zh-CN" : "en";
    const there = editions[here === "en" ? "zh-CN" : "en"];
    // path_to_root is set by mdBook on every page: the way from this page up to the book's root.
    // (Its index.html, then that file's folder: an empty path_to_root would name the page.)
    const root = new URL(".", new URL(path_to_root + "index.html", window.location.href)).href;
    const page = window.location.href.startsWith(root)
        ? window.location.href.slice(root.length)
        : "index.html";
    const link = document.createElement("a");
    link.id = "language-link";
    link.href = new URL("../" + there.folder + "/" + (page || "index.html"), root).href;
    link.lang = here === "en" ? "zh-CN" : "en";
    link.hreflang = link.lang;
    link.title = there.title;
    link.setAttribute("aria-label", there.title);
    link.textContent = there.label;
    const buttons = document.querySelector("#mdbook-menu-bar .right-buttons, .right-buttons");
    if (buttons) {
        buttons.prepend(link);
    }
})();
