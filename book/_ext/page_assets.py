"""Sphinx extension of the book: every script of a page appears once.

With Jupyter Book 1 (Sphinx 7.4), the inline configuration scripts of sphinx-togglebutton and sphinx-thebe
are registered twice, so each page declared `const THEBE_JS_URL` twice: a SyntaxError in every reader's
console. This drops exact duplicates (same file or body, same attributes) after all extensions added theirs.
Found by the browser test (tests/browser/check_book.py), which fails a page on any console error.
"""

from __future__ import annotations


def _drop_duplicate_scripts(app, pagename, templatename, context, doctree) -> None:
    scripts = context.get("script_files")
    if not isinstance(scripts, list):
        return
    seen, unique = set(), []
    for script in scripts:
        filename = getattr(script, "filename", script)
        attributes = getattr(script, "attributes", {}) or {}
        key = (str(filename or ""), tuple(sorted((k, str(v)) for k, v in attributes.items())))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    scripts[:] = unique


def setup(app):
    # after myst-nb (priority 500) has added the page's own scripts (widget state, embed script)
    app.connect("html-page-context", _drop_duplicate_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
