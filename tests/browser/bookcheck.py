"""Open the built book in a real browser: the pages, a local server, headless Chromium, and the page probe.

Shared by the browser test (`check_book.py`, run by `make browser`) and by `make screenshots`
(`screenshots.py`). Everything is read from the repository: the pages from `_toc.yml`, the repository and
Colab settings from `_config.yml`, the HTML from `_build/html`. Nothing here downloads a browser: it drives
Debian's Chromium (`/usr/bin/chromium`, installed by the Makefile) through the pinned Playwright package.
"""

from __future__ import annotations

import functools
import http.server
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import yaml

ROOT = Path(__file__).resolve().parents[2]
HTML = ROOT / "_build" / "html"
CHROMIUM = os.environ.get("BOOK_CHROMIUM", "/usr/bin/chromium")
# The launch flags known to work on these machines (no sandbox as root, no background network traffic).
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
LOCAL_HOSTS = {"127.0.0.1", "localhost"}


@dataclass(frozen=True)
class Page:
    """One page of the table of contents: `docname` is its path without suffix (`chapters/01_groupnorm`)."""

    docname: str
    source: Path  # the .md or .ipynb it is built from

    @property
    def html(self) -> Path:
        return HTML / f"{self.docname}.html"

    @property
    def is_notebook(self) -> bool:
        return self.source.suffix == ".ipynb"

    @property
    def slug(self) -> str:
        return self.docname.replace("/", "__")


def _toc_files(entries: list | None) -> Iterator[str]:
    for entry in entries or []:
        if "file" in entry:
            yield entry["file"]
        # jb-book: parts hold chapters, chapters hold sections (any depth)
        for key in ("parts", "chapters", "sections"):
            yield from _toc_files(entry.get(key))


def book_pages(root: Path = ROOT) -> list[Page]:
    """Every page of `_toc.yml`, in reading order (the root first)."""
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    names = [toc["root"], *_toc_files(toc.get("parts")), *_toc_files(toc.get("chapters"))]
    pages = []
    for name in names:
        name = str(Path(name).with_suffix("")) if Path(name).suffix in {".md", ".ipynb"} else name
        sources = [root / f"{name}{ext}" for ext in (".ipynb", ".md")]
        source = next((s for s in sources if s.exists()), sources[0])
        pages.append(Page(name, source))
    return pages


def book_config(root: Path = ROOT) -> dict:
    return yaml.safe_load((root / "_config.yml").read_text())


def colab_url(page: Page, config: dict) -> str:
    """The launch link the page must carry: Colab opening the committed notebook on GitHub."""
    repo = config["repository"]
    owner_name = urlsplit(repo["url"]).path.strip("/")
    colab = config["launch_buttons"]["colab_url"].rstrip("/")
    prefix = repo.get("path_to_book", "").strip("/")
    path = f"{prefix}/{page.docname}.ipynb" if prefix else f"{page.docname}.ipynb"
    return f"{colab}/github/{owner_name}/blob/{repo.get('branch', 'main')}/{path}"


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the base class's signature
        pass


@contextmanager
def serve(directory: Path = HTML) -> Iterator[str]:
    """Serve `directory` on 127.0.0.1 at a free port, in a thread; yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def chromium() -> Iterator:
    """Headless Debian Chromium driven by Playwright; yields the Browser.

    Playwright starts it with a fresh, empty profile of its own (a new temporary --user-data-dir, removed
    when the browser closes), so no state leaks from one run to the next.
    """
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        raise RuntimeError(f"{CHROMIUM} not found: run `make chromium` (installs Debian's chromium package)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def is_local(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme in {"data", "blob", "about", "chrome-error"}:
        return True
    return parts.hostname in LOCAL_HOSTS


@dataclass
class Traffic:
    """What a page did on the network and in its console while it loaded."""

    blocked: list[str]
    failed: list[str]
    console_errors: list[str]


def offline_context(browser, viewport: dict = DESKTOP):
    """A fresh browser context that aborts every request leaving localhost (the reader is offline)."""
    context = browser.new_context(viewport=viewport, service_workers="block")
    blocked: list[str] = []

    def route(route):
        url = route.request.url
        if is_local(url):
            route.continue_()
        else:
            blocked.append(url)
            route.abort("internetdisconnected")

    context.route("**/*", route)
    return context, blocked


def open_page(context, blocked: list[str], url: str, timeout_ms: int = 30_000):
    """Load `url` and wait until MathJax has typeset and the saved widgets are drawn; returns (page, traffic)."""
    page = context.new_page()
    page.set_default_timeout(timeout_ms)
    traffic = Traffic(blocked, [], [])

    def on_console(msg):
        if msg.type == "error":
            where = msg.location.get("url", "") if msg.location else ""
            traffic.console_errors.append(f"{msg.text} ({where})" if where else msg.text)

    def on_failed(request):
        if is_local(request.url):
            traffic.failed.append(f"{request.url}: {request.failure}")

    def on_response(response):
        if is_local(response.url) and response.status >= 400:
            traffic.failed.append(f"{response.url}: HTTP {response.status}")

    page.on("console", on_console)
    page.on("pageerror", lambda err: traffic.console_errors.append(f"uncaught: {err}"))
    page.on("requestfailed", on_failed)
    page.on("response", on_response)
    page.goto(url, wait_until="load")
    settle(page, timeout_ms)
    return page, traffic


SETTLE_JS = """
async () => {
  // MathJax 3: startup.promise resolves once the first typeset pass is done.
  if (window.MathJax && window.MathJax.startup && window.MathJax.startup.promise) {
    await window.MathJax.startup.promise;
  }
  // Images: load everything now (no lazy loading) and wait for each to finish or fail.
  const images = Array.from(document.images);
  images.forEach((img) => { img.loading = "eager"; });
  await Promise.all(images.map((img) => img.complete ? null :
    new Promise((done) => { img.addEventListener("load", done); img.addEventListener("error", done); })));
  await document.fonts.ready;
}
"""

WIDGETS_DRAWN_JS = """
() => Array.from(document.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]'))
  .every((tag) => { const area = tag.previousElementSibling;
    return area && area.classList.contains("widget-subarea") && area.querySelector(".jupyter-widgets"); })
"""


def settle(page, timeout_ms: int = 30_000) -> None:
    """Wait for MathJax, images and fonts, and (for a while) for the saved widgets to be drawn."""
    # embed.js sets window._jupyter_widget_embedder when it runs; if it never ran there is nothing to wait for
    if page.evaluate("() => !!window._jupyter_widget_embedder"):
        try:
            page.wait_for_function(WIDGETS_DRAWN_JS, timeout=min(timeout_ms, 15_000))
        except Exception:  # noqa: BLE001 - the probe reports which widgets are missing, with the reason
            pass
    page.evaluate(SETTLE_JS)
    # widgets may add images (an Output widget's figure): wait for those too
    page.evaluate(SETTLE_JS)


PROBE_JS = (Path(__file__).with_name("probe.js")).read_text()


def probe(page) -> dict:
    """Everything the checks need to know about the rendered page, measured in the browser."""
    return page.evaluate(PROBE_JS)


SETTLED_LAYOUT_JS = """
async () => {
  // two frames for the new layout, then every CSS transition it started (the theme slides its sidebars)
  await new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)));
  const moving = document.getAnimations().filter((a) => a instanceof CSSTransition);
  await Promise.all(moving.map((a) => a.finished.catch(() => null)));
}
"""


def resize(page, viewport: dict) -> None:
    """Set the viewport and wait until the layout has settled: measured mid-transition after a resize from
    phone to desktop width, the article was 72 px wider than it is."""
    page.set_viewport_size(viewport)
    page.evaluate(SETTLED_LAYOUT_JS)


OVERFLOW_JS = """
() => {
  // At the current viewport: does the page scroll sideways, and which content sticks out of the screen
  // without a scrolling box of its own (a wide table, figure or equation that the reader cannot reach)?
  const width = document.documentElement.clientWidth;
  const article = document.querySelector("article.bd-article") || document.querySelector("main") || document.body;
  const scrollable = (el) => {
    for (let e = el; e && e !== article.parentElement; e = e.parentElement) {
      const o = getComputedStyle(e).overflowX;
      if (o === "auto" || o === "scroll") return true;
    }
    return false;
  };
  const offenders = [];
  article.querySelectorAll("table, img, pre, div.math, mjx-container, figure, .cell_output, .widget-subarea, .admonition, p, ul, ol, dl")
    .forEach((el) => {
      const r = el.getBoundingClientRect();
      if (r.width > 0 && r.right > width + 1 && !scrollable(el)) {
        offenders.push(`${el.tagName.toLowerCase()}.${String(el.className).split(" ")[0]} ` +
          `"${(el.textContent || el.getAttribute("alt") || "").replace(/\\s+/g, " ").trim().slice(0, 50)}" ` +
          `reaches x=${Math.round(r.right)} on a ${width}px screen`);
      }
    });
  return { pageOverflow: document.documentElement.scrollWidth - width, offenders: offenders.slice(0, 10) };
}
"""


def overflow(page) -> dict:
    return page.evaluate(OVERFLOW_JS)


SIDEWAYS_JS = """
(kinds) => {
  // At the current viewport: which code boxes, outputs and display equations scroll sideways in their own
  // box (their content is wider than the box: scrollWidth > clientWidth)? The reader then sees a scroll bar
  // and half a line; the chapters' code and printed lines are kept at 80 characters so that this never
  // happens at desktop width (chapters/ruff.toml). Only the innermost box that scrolls is reported.
  // A listing that wraps its lines (white-space: pre-wrap, as encoderlab.show_source's does) never
  // overflows, so it is never reported.
  const root = document.querySelector("article.bd-article") || document.querySelector("main") || document.body;
  const KINDS = {
    code: "div.cell_input pre, div.highlight pre",
    output: ".cell_output pre, .cell_output table, .cell_output .output, .cell_output .text_html, .cell_output",
    math: 'mjx-container[display="true"], div.math',
    table: "table, .pst-scrollable-table-container",
  };
  const TOLERANCE = 1; // px: scrollWidth is rounded to whole pixels
  const tex = (el) => {
    try {
      const items = window.MathJax.startup.document.getMathItemsWithin(el);
      if (items.length) return items[0].math;
    } catch (e) { /* no MathJax: fall back to the text */ }
    return el.textContent;
  };
  const label = (el, kind) => (kind === "math" ? tex(el) : el.textContent || "").replace(/\\s+/g, " ").trim();
  const found = [];
  for (const kind of kinds) {
    root.querySelectorAll(KINDS[kind]).forEach((el) => {
      if (el.clientWidth === 0) return; // not shown (inside something closed)
      if (kind === "code" && el.closest(".cell_output")) return; // myst-nb puts text outputs in div.highlight too
      const excess = el.scrollWidth - el.clientWidth;
      if (excess <= TOLERANCE) return;
      const info = { kind, el, excess, box: el.clientWidth, content: el.scrollWidth,
                     text: label(el, kind).slice(0, 50), longest: 0, longestText: "" };
      if (el.tagName === "PRE") {
        for (const line of (el.textContent || "").split("\\n")) {
          if (line.length > info.longest) { info.longest = line.length; info.longestText = line.trim().slice(0, 50); }
        }
      }
      found.push(info);
    });
  }
  // the innermost box: drop one that holds another reported box, and report each element once
  const kept = found.filter((a, i) =>
    !found.some((b, j) => j !== i && b.el !== a.el && a.el.contains(b.el)) &&
    found.findIndex((b) => b.el === a.el) === i);
  return kept.map(({ el, ...rest }) => rest);
}
"""


def sideways(page, kinds: tuple[str, ...] = ("code", "output", "math")) -> list[dict]:
    """Boxes of the given kinds (code, output, math, table) whose content is wider than the box itself.

    Each is a dict: kind, text (its first 50 characters; TeX for math), box and content (clientWidth and
    scrollWidth in px), excess (px), longest (the longest line of a `pre`, in characters) and longestText.
    """
    return page.evaluate(SIDEWAYS_JS, list(kinds))
