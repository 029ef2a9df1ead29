"""The published book as a reader sees it: every page of `_toc.yml`, opened offline in headless Chromium.

Run after the HTML build: `make browser` (part of `make test`). Not collected by the plain `pytest tests`
(the file name does not match `test_*.py`); run it by naming it: `pytest tests/browser/check_book.py`.

Each page is served from `_build/html` on 127.0.0.1 and loaded with every non-localhost request aborted,
so a page that needs a CDN fails here. What each page must do depends on what it contains:

- always: no JavaScript console error, no failed local request, no request to the network, a title, one
  `h1` and headings in order, every image loaded with alt text, every local link and anchor resolving,
  readable text contrast, nothing sticking out sideways at desktop (1280 px) or phone (390 px) width;
- at desktop width (1280 px) no code box (cell input, Markdown code block), cell output (text, table, HTML)
  or display equation scrolls sideways in its own box: the chapters' lines are at most 80 characters
  (chapters/ruff.toml) and the box holds 84; at phone width (390 px) code and outputs may scroll, but the
  tables of the pages in `TABLES_FIT_ON_A_PHONE` must not;
- math on the page: every formula typeset by MathJax (no raw TeX left, no MathJax error);
- collapsed solutions: each opens when its title is clicked;
- built from a notebook: the launch menu opens and offers Colab at
  `https://colab.research.google.com/github/<owner>/<repo>/blob/<branch>/<path>.ipynb`: the Colab-ready copy
  (`make colab`) when `repository.branch` is `colab`, else a committed notebook;
- saved widgets: every widget view is drawn from the saved state (not its text fallback).

Warnings (`AccessibilityWarning` in the summary; with BOOK_STRICT_A11Y=1 they fail their page):
- an image whose alt text is only its file name: myst-nb does that for every image a notebook draws unless
  the cell sets `mystnb: image: alt:` (jupytext header: `# %% mystnb={"image": {"alt": "..."}}`);
- a figure whose text is too small to read (drawn wider than the page shows it: 10 pt text under 9 px at
  desktop width) or taller than the screen.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import os
import posixpath
import re
import shutil
import subprocess
import warnings
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from bookcheck import (
    DESKTOP,
    HTML,
    PHONE,
    ROOT,
    Page,
    book_config,
    book_pages,
    chromium,
    colab_url,
    is_local,
    offline_context,
    open_page,
    overflow,
    probe,
    resize,
    serve,
    sideways,
)

PAGES = book_pages()
CONFIG = book_config()
STRICT_A11Y = os.environ.get("BOOK_STRICT_A11Y", "") not in {"", "0"}
# Pages whose tables must fit a phone's width without scrolling sideways (their own box included).
TABLES_FIT_ON_A_PHONE = {"book/teaching"}
MIN_FIGURE_TEXT_PX = 9  # 10 pt figure text (matplotlib's default size) must show at least this big


class AccessibilityWarning(UserWarning):
    """A page works but a reader using a screen reader loses something (e.g. a figure's alt text)."""


@pytest.fixture(scope="session")
def base_url():
    if not (HTML / "index.html").exists():
        pytest.fail(f"{HTML.relative_to(ROOT)} is not built: run `make html` first", pytrace=False)
    with serve(HTML) as url:
        yield url


@pytest.fixture(scope="session")
def browser():
    with chromium() as b:
        yield b


# ---------------------------------------------------------------------------------------------- helpers
class _Ids(HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        for key, value in attrs:
            if key == "id" or (tag == "a" and key == "name"):
                self.ids.add(value or "")


@functools.cache
def ids_in(path: Path) -> frozenset[str]:
    parser = _Ids()
    parser.feed(path.read_text(encoding="utf-8", errors="replace"))
    return frozenset(parser.ids)


def broken_links(info: dict, base_url: str, html_root: Path, page_file: Path) -> list[str]:
    """Local links whose file or anchor does not exist (citations are links to the bibliography)."""
    problems, done = [], set()
    for link in info["links"]:
        href = link["href"]
        if href in done or not is_local(href) or not href.startswith(base_url):
            continue
        done.add(href)
        parts = urlsplit(href)
        rel = posixpath.normpath(unquote(parts.path)).lstrip("/")
        target = html_root / rel if rel not in {"", "."} else html_root / "index.html"
        if parts.path.endswith("/"):
            target = target / "index.html"
        if not target.is_file():
            problems.append(f"link {link['text']!r} -> {rel}: no such file in the built book")
            continue
        fragment = unquote(parts.fragment)
        if not fragment:
            continue
        ids = set(info["ids"]) if target.resolve() == page_file.resolve() else ids_in(target)
        if fragment not in ids:
            problems.append(f"link {link['text']!r} -> {rel}#{fragment}: no such anchor")
    return problems


def tracked_by_git(path: Path) -> bool | None:
    try:
        run = subprocess.run(
            ["git", "ls-files", "--error-unmatch", str(path.relative_to(ROOT))],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError:
        return None
    if "not a git repository" in run.stderr:
        return None
    return run.returncode == 0


def check_structure(page: Page, info: dict) -> list[str]:
    problems = []
    if not info["title"].strip() or "<no title>" in info["title"]:
        problems.append(f"page title is {info['title']!r}")
    levels = [h["level"] for h in info["headings"]]
    h1 = [h["text"] for h in info["headings"] if h["level"] == 1]
    if len(h1) != 1:
        problems.append(f"expected exactly one h1 heading, found {len(h1)}: {h1}")
    elif h1[0] not in info["title"]:
        problems.append(f"the title {info['title']!r} does not name the page's heading {h1[0]!r}")
    if levels and levels[0] != 1:
        problems.append(f"the first heading is h{levels[0]} {info['headings'][0]['text']!r}, not h1")
    for before, heading in zip(info["headings"], info["headings"][1:], strict=False):
        if heading["level"] > before["level"] + 1:
            problems.append(
                f"heading h{heading['level']} {heading['text']!r} follows h{before['level']} "
                f"{before['text']!r} (a level is skipped)"
            )
    return problems


def check_math(info: dict) -> list[str]:
    math = info["math"]
    problems = [f"formula not typeset by MathJax: {t!r}" for t in math["unrendered"][:5]]
    problems += [f"MathJax error: {e!r}" for e in math["errors"][:5]]
    problems += [f"raw TeX in the text (not parsed as math): {t!r}" for t in math["rawTex"][:5]]
    return problems


@functools.cache
def notebook_images(source: Path) -> dict[str, str]:
    """Image file name as myst-nb writes it (sha256 of the bytes) -> where it is in the notebook."""
    if source.suffix != ".ipynb" or not source.exists():
        return {}
    found = {}
    cells = json.loads(source.read_text(encoding="utf-8"))["cells"]
    for number, cell in enumerate(cells, start=1):
        first = next(
            (line.strip() for line in "".join(cell.get("source", "")).splitlines() if line.strip()), ""
        )
        for output in cell.get("outputs", []):
            for mime, data in output.get("data", {}).items():
                if mime in {"image/png", "image/jpeg"}:
                    digest = hashlib.sha256(base64.b64decode("".join(data))).hexdigest()
                    found[digest] = f"cell {number} ({first[:50]!r})"
    return found


def describe_image(page: Page, src: str) -> str:
    name = posixpath.basename(src)
    where = notebook_images(page.source).get(name.rsplit(".", 1)[0])
    return f"{name} from {where}" if where else name


def check_images(page: Page, info: dict) -> tuple[list[str], list[str]]:
    problems, accessibility = [], []
    for img in info["images"]:
        name = img["src"] if not img["src"].startswith("data:") else "an embedded image"
        if not img["complete"] or img["naturalWidth"] == 0:
            problems.append(f"image {name} did not load")
        if img["inWidget"]:
            continue  # drawn by the widget from its saved state; the static figure beside it has the alt text
        alt = (img["alt"] or "").strip()
        if not alt:
            problems.append(f"image {name} has no alt text")
        elif img["inArticle"] and alt in {img["src"], posixpath.basename(img["src"])}:
            accessibility.append(
                f"image {describe_image(page, img['src'])} has no alt text of its own (alt is its file name)"
                + (": give its cell `mystnb: image: alt:` metadata" if img["fromNotebook"] else "")
            )
    return problems, accessibility


@functools.cache
def image_dpi(path: Path) -> float | None:
    """The resolution a raster figure was drawn at (matplotlib records it in the PNG), else None."""
    try:
        from PIL import Image

        with Image.open(path) as im:
            dpi = im.info.get("dpi")
    except Exception:  # noqa: BLE001 - not a raster image PIL knows (an SVG): nothing to judge
        return None
    return float(dpi[0]) if dpi and dpi[0] > 1 else None


def check_figure_sizes(page: Page, info: dict, html_root: Path) -> list[str]:
    """Figures drawn wider than they are shown have unreadable text; taller than a screen, no overview."""
    warnings_ = []
    for img in info["images"]:
        if (
            not (img["inArticle"] and img["visible"] and img["width"] and img["naturalWidth"])
            or img["inWidget"]
        ):
            continue
        parts = urlsplit(img["url"])
        if parts.scheme not in {"http", "https"} or not is_local(img["url"]):
            continue
        dpi = image_dpi(html_root / unquote(parts.path).lstrip("/"))
        name = describe_image(page, parts.path)
        if dpi is None:
            continue
        inches = img["naturalWidth"] / dpi
        text_px = 10 / 72 * img["width"] / inches
        if text_px < MIN_FIGURE_TEXT_PX:
            widest = 10 / 72 * img["width"] / MIN_FIGURE_TEXT_PX
            warnings_.append(
                f"figure {name} is {inches:.1f} in wide but shown {img['width']} px wide: its 10 pt text is "
                f"{text_px:.1f} px on screen; draw it at most {widest:.1f} in wide (figsize) or with larger fonts"
            )
        if img["height"] > DESKTOP["height"]:
            warnings_.append(
                f"figure {name} is {img['height']} px tall, taller than a {DESKTOP['height']} px screen"
            )
    return warnings_


def check_widgets(info: dict) -> list[str]:
    widgets = info["widgets"]
    problems = [
        f"widget saved without its state, the page shows its text: {t!r}" for t in widgets["fallbackText"]
    ]
    if widgets["views"] and not widgets["stateTags"]:
        problems.append("the page has widget outputs but no saved widget state (re-run `make execute`)")
        return problems
    for view in widgets["views"]:
        if not view["inState"]:
            problems.append(f"widget {view['modelId']} is not in the saved widget state (stale outputs?)")
        elif not view["drawn"]:
            problems.append(f"widget {view['modelId']} was not drawn by the widgets embed script")
        elif not view["parts"] or view["height"] < 10:
            problems.append(f"widget {view['modelId']} was drawn empty")
    return problems


def check_colab(page: Page, info: dict) -> list[str]:
    if not page.is_notebook:
        return [f"a page that is not a notebook has a Colab link: {u}" for u in info["colab"]]
    expected = colab_url(page, CONFIG)
    problems = []
    if expected not in info["colab"]:
        problems.append(f"no Colab launch link to {expected} (found {info['colab'] or 'none'})")
    if CONFIG["repository"].get("branch") == "colab":
        # The link opens the Colab-ready copy, which `make colab` writes and the deploy workflow publishes.
        copy = ROOT / "_build" / "colab" / f"{page.docname}.ipynb"
        if not copy.exists():
            problems.append(f"the Colab link opens the Colab copy {copy.relative_to(ROOT)}, which `make colab` "
                            "did not write")
    elif tracked_by_git(page.source) is False:
        problems.append(f"the Colab link opens {page.source.relative_to(ROOT)}, which is not committed")
    return problems


def check_contrast(info: dict) -> list[str]:
    return [
        f"low text contrast {c['ratio']}:1 (needs {c['needed']}:1) for <{c['tag']} class={c['cls']!r}> "
        f"{c['text']!r}: {c['color']} on {c['background']}"
        for c in info["lowContrast"][:5]
    ]


def check_solutions(page_handle) -> list[str]:
    """Solutions (and any other dropdown) start collapsed and open when their title is clicked."""
    problems = []
    boxes = page_handle.locator("article .solution, article .admonition.dropdown")
    for i in range(boxes.count()):
        box = boxes.nth(i)
        title = box.locator(":scope > .admonition-title")
        label = " ".join(title.inner_text().split()) if title.count() else f"dropdown {i + 1}"
        body = box.locator(":scope > :not(.admonition-title)").first
        if body.count() == 0:
            problems.append(f"{label!r} is empty")
            continue
        if body.is_visible():
            problems.append(f"{label!r} is not collapsed when the page opens")
            continue
        title.scroll_into_view_if_needed()
        title.click()
        try:
            body.wait_for(state="visible", timeout=3_000)
        except Exception:  # noqa: BLE001 - reported as a problem of the page
            problems.append(f"{label!r} does not open when its title is clicked")
    # <details> blocks (hidden cell inputs/outputs, sphinx-design dropdowns, {toggle}) open on their summary
    for i, summary in enumerate(page_handle.query_selector_all("article details:not([open]) > summary")):
        if not summary.is_visible():
            continue  # inside something still closed
        label = " ".join(summary.inner_text().split()) or f"details {i + 1}"
        summary.scroll_into_view_if_needed()
        summary.click()
        if not summary.evaluate("(s) => s.parentElement.open"):
            problems.append(f"{label!r} does not open when clicked")
    return problems


def check_launch_menu(page: Page, page_handle) -> list[str]:
    if not page.is_notebook:
        return []
    button = page_handle.locator(".dropdown-launch-buttons button.dropdown-toggle")
    if button.count() == 0:
        return ["no launch button (rocket) in the page header"]
    button.first.click()
    item = page_handle.locator('.dropdown-launch-buttons a[href*="colab.research.google.com"]')
    try:
        item.first.wait_for(state="visible", timeout=3_000)
    except Exception:  # noqa: BLE001
        return ["the launch menu does not show the Colab item when the rocket button is clicked"]
    page_handle.keyboard.press("Escape")
    return []


def check_overflow(page_handle, viewport: dict) -> list[str]:
    resize(page_handle, viewport)
    measured = overflow(page_handle)
    where = f"at {viewport['width']} px"
    problems = []
    if measured["pageOverflow"] > 1:
        problems.append(f"{where} the page scrolls sideways by {measured['pageOverflow']} px")
    problems += [f"{where} {o}" for o in measured["offenders"]]
    return problems


KIND_NAMES = {"code": "code box", "output": "cell output", "math": "display equation", "table": "table"}


def describe_sideways(box: dict, viewport: dict) -> str:
    what = KIND_NAMES[box["kind"]]
    line = (
        f"; its longest line is {box['longest']} characters: {box['longestText']!r}"
        if box["longest"]
        else ""
    )
    return (
        f"at {viewport['width']} px a {what} scrolls sideways in its own box ({box['content']} px of content "
        f"in a {box['box']} px box, {box['excess']} px hidden{line}): {box['text']!r}"
    )


def check_sideways(page: Page, page_handle) -> list[str]:
    """Code, outputs and display math must fit the column at desktop width (no scroll bar of their own)."""
    resize(page_handle, DESKTOP)
    problems = [describe_sideways(b, DESKTOP) for b in sideways(page_handle, ("code", "output", "math"))]
    if page.docname in TABLES_FIT_ON_A_PHONE:
        resize(page_handle, PHONE)
        problems += [describe_sideways(b, PHONE) for b in sideways(page_handle, ("table",))]
        resize(page_handle, DESKTOP)
    return problems


# ------------------------------------------------------------------------------------------------ tests
def test_every_toc_page_is_built():
    assert PAGES, "_toc.yml lists no pages"
    missing = [p.docname for p in PAGES if not p.source.exists()]
    assert not missing, f"_toc.yml lists pages with no source file: {missing}"
    unbuilt = [p.docname for p in PAGES if not p.html.exists()]
    assert not unbuilt, f"pages in _toc.yml not built (run `make html`): {unbuilt}"


def inspect_page(browser, base_url: str, html_root: Path, page: Page) -> tuple[list[str], list[str]]:
    """Open one page offline and return (problems, accessibility warnings)."""
    context, blocked = offline_context(browser, DESKTOP)
    try:
        handle, traffic = open_page(context, blocked, f"{base_url}/{page.docname}.html")
        info = probe(handle)
        problems = [f"requested {u} from the network (blocked: the book must work offline)" for u in blocked]
        problems += [f"failed local request {f}" for f in traffic.failed]
        problems += check_structure(page, info)
        problems += check_math(info)
        image_problems, accessibility = check_images(page, info)
        problems += image_problems
        accessibility += check_figure_sizes(page, info, html_root)
        problems += check_widgets(info)
        problems += check_colab(page, info)
        problems += broken_links(info, base_url, html_root, html_root / f"{page.docname}.html")
        problems += check_contrast(info)
        problems += check_launch_menu(page, handle)
        problems += check_solutions(handle)
        problems += check_overflow(handle, DESKTOP)
        problems += check_overflow(handle, PHONE)
        problems += check_sideways(page, handle)
        # console errors last: clicking (solutions, menus) must not raise either
        problems += [f"console error: {e}" for e in traffic.console_errors]
    finally:
        context.close()
    return problems, accessibility


@pytest.mark.parametrize("page", PAGES, ids=[p.docname for p in PAGES])
def test_page(page: Page, base_url: str, browser):
    if not page.html.exists():
        pytest.fail(f"{page.docname}: not built", pytrace=False)
    problems, accessibility = inspect_page(browser, base_url, HTML, page)
    if STRICT_A11Y:
        problems += accessibility
    else:
        for message in accessibility:  # reported against the page's source file
            warnings.warn_explicit(message, AccessibilityWarning, str(page.source.relative_to(ROOT)), 0)
    if problems:
        pytest.fail(f"{page.docname}:\n  - " + "\n  - ".join(problems), pytrace=False)


def test_index_opens_the_first_page(base_url: str, browser):
    context, blocked = offline_context(browser, DESKTOP)
    try:
        handle = context.new_page()
        handle.goto(f"{base_url}/index.html")
        handle.wait_for_url(f"**/{PAGES[0].docname}.html", timeout=10_000)
    finally:
        context.close()
    assert not blocked, f"index.html requested the network: {blocked}"


# ------------------------------------------------------------------------------- the checks can fail
def _showcase_page() -> Page | None:
    """The first notebook page with math, a saved widget, a solution, figures and a citation."""
    for page in PAGES:
        if not (page.is_notebook and page.html.exists()):
            continue
        text = page.html.read_text(encoding="utf-8")
        if all(
            m in text
            for m in (
                'class="math',
                "widget-state+json",
                'class="solution',
                'src="../_images/',
                "bibliography.html#",
            )
        ):
            return page
    return None


def break_page(html: str, page: Page) -> tuple[str, list[str]]:
    """A copy of a good page with one defect of every kind; returns it and the reasons expected."""
    expected = []

    def sub(pattern: str, repl: str, reason: list[str], flags: int = 0) -> None:
        nonlocal html
        html, n = re.subn(pattern, repl, html, count=1, flags=flags)
        assert n == 1, f"could not break the page: no match for {pattern!r}"
        expected.extend(reason)

    sub(
        r'src="[^"]*offline/mathjax/tex-mml-chtml\.js[^"]*"',
        'src="https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-mml-chtml.js"',
        ["requested https://cdn.jsdelivr.net/npm/mathjax", "formula not typeset by MathJax"],
    )
    sub(
        r'src="[^"]*offline/jupyter-widgets/embed\.js[^"]*"',
        'src="https://cdn.jsdelivr.net/npm/@jupyter-widgets/html-manager@1.0.15/dist/embed.js"',
        [
            "requested https://cdn.jsdelivr.net/npm/@jupyter-widgets",
            "was not drawn by the widgets embed script",
        ],
    )
    sub(
        r'src="\.\./_images/([^"]+)"',
        r'src="../_images/missing-\1"',
        ["did not load", "failed local request"],
    )
    sub(r'<img alt="[^"]*" (src="\.\./_images/)', r"<img \1", ["has no alt text"])
    sub(r'(href="[^"#]*bibliography\.html#)[^"]+"', r'\1no-such-anchor"', ["no such anchor"])
    sub(
        re.escape(colab_url(page, CONFIG)),
        colab_url(page, CONFIG).replace(".ipynb", "-old.ipynb"),
        ["no Colab launch link"],
    )
    sub(r'class="solution dropdown admonition"', 'class="solution admonition"', ["is not collapsed"])
    sub(
        r'(<h1>(?:(?!</h1>).)*?class="headerlink".*?</h1>)',  # the article's title (not the print-only one)
        r'\1<p>left raw: $x^2 + y$</p><h4>Too deep</h4><p style="color:#c8c8c8">faint text</p>'
        r'<p style="width:2000px">a paragraph wider than any screen</p>'
        r'<div class="cell_output"><pre>interactive(children=(IntSlider(value=4), Output()))</pre></div>'
        r'<div class="cell_input"><pre>too_long = "' + "x" * 100 + r'"</pre></div>'
        r'<details><summary onclick="event.preventDefault()">stuck shut</summary><p>never seen</p></details>'
        r'<script>console.error("boom from the page")</script>',
        [
            "raw TeX in the text",
            "a level is skipped",
            "widget saved without its state",
            "'stuck shut' does not open when clicked",
            "low text contrast",
            "at 390 px",
            "at 1280 px",
            "at 1280 px a code box scrolls sideways in its own box",
            "console error: boom from the page",
        ],
        flags=re.S,
    )
    return html, expected


def test_the_checks_catch_a_broken_page(browser, tmp_path):
    """No check that cannot fail: a copy of a real page with every kind of defect fails with each reason."""
    page = _showcase_page()
    if page is None:
        pytest.skip("no notebook page has math, a widget, a solution, a figure and a citation")
    site = tmp_path / "html"
    shutil.copytree(HTML, site)
    broken, expected = break_page(page.html.read_text(encoding="utf-8"), page)
    (site / f"{page.docname}.html").write_text(broken, encoding="utf-8")
    with serve(site) as url:
        problems, _ = inspect_page(browser, url, site, page)
    missed = [reason for reason in expected if not any(reason in p for p in problems)]
    assert not missed, f"the checks missed {missed}; they reported:\n" + "\n".join(problems)
