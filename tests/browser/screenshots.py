"""Screenshots of every page of the book at desktop and phone width: `make screenshots`.

    python tests/browser/screenshots.py [OUT_DIR]      (default _build/screenshots)

For each page of `_toc.yml` it writes `<page>--desktop.png` (1280 px wide) and `<page>--phone.png` (390 px
wide), full length, loaded offline exactly as the browser test loads them (MathJax typeset, widgets drawn).
Solutions stay collapsed, as a reader first sees them; `--open` opens every dropdown first.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bookcheck import DESKTOP, HTML, PHONE, ROOT, book_pages, chromium, offline_context, open_page, serve


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", default=str(ROOT / "_build" / "screenshots"))
    parser.add_argument("--open", action="store_true", help="open every solution/dropdown before the shot")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if not (HTML / "index.html").exists():
        print(f"{HTML} is not built: run `make html` first", file=sys.stderr)
        return 1
    with serve(HTML) as base_url, chromium() as browser:
        for page in book_pages():
            for label, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
                context, blocked = offline_context(browser, viewport)
                try:
                    handle, traffic = open_page(context, blocked, f"{base_url}/{page.docname}.html")
                    if args.open:
                        titles = handle.locator("article .admonition.dropdown > .admonition-title")
                        for i in range(titles.count()):
                            titles.nth(i).click()
                    path = out / f"{page.slug}--{label}.png"
                    handle.screenshot(path=str(path), full_page=True)
                    height = handle.evaluate("() => document.documentElement.scrollHeight")
                    print(
                        f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}: "
                        f"{viewport['width']} x {height} px"
                    )
                finally:
                    context.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
