"""The whole book as one PDF, for offline and print readers: headless Chromium prints the single-page build.

    python book/_tools/pdf.py build   # _build/singlehtml (from `jupyter-book build --builder singlehtml`)
                                      #   -> _build/pdf/encoders-from-scratch.pdf
    python book/_tools/pdf.py check   # every chapter title and every figure of the chapters is in the PDF

The page is served on localhost with every other request blocked (nothing is fetched), MathJax is given
time to typeset every formula, and every collapsed solution is opened, so that the printed book has the
solutions too. Print styles (nothing scrolls sideways; navigation hidden) are in ``book/_static/book.css``.
The check reads the PDF back with poppler's ``pdftotext`` and ``pdfimages`` (Debian's ``poppler-utils``).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "browser"))

from bookcheck import chromium, offline_context, serve  # noqa: E402

SINGLE = ROOT / "_build" / "singlehtml"
PDF = ROOT / "_build" / "pdf" / "encoders-from-scratch.pdf"
CHAPTERS = ROOT / "chapters"


def single_page(site: Path = SINGLE) -> Path:
    """The one page holding the whole book, at the site's root.

    Jupyter Book writes it under the root document's path (``book/intro.html``) but with links relative to
    the site's root (``_static/...``, ``_images/...``); a copy at the root resolves them.
    """
    candidates = [p for p in site.rglob("*.html") if p.stat().st_size > 100_000]
    if len(candidates) != 1:
        raise SystemExit(f"expected one single-page HTML file under {site}, found {candidates or 'none'}: "
                         "run `make pdf` (it builds with --builder singlehtml first)")
    page = site / "book.html"
    shutil.copyfile(candidates[0], page)
    return page


def build(out: Path = PDF) -> Path:
    page = single_page()
    out.parent.mkdir(parents=True, exist_ok=True)
    with serve(SINGLE) as base, chromium() as browser:
        context, blocked = offline_context(browser, viewport={"width": 1000, "height": 1400})
        tab = context.new_page()
        tab.goto(f"{base}/{page.name}", wait_until="load", timeout=120_000)
        tab.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise", timeout=60_000)
        tab.evaluate("() => MathJax.startup.promise")
        tab.evaluate("() => document.querySelectorAll('details').forEach(d => d.open = true)")
        tab.emulate_media(media="print")
        tab.pdf(path=str(out), format="A4", print_background=True,
                margin={"top": "16mm", "bottom": "16mm", "left": "14mm", "right": "14mm"})
        context.close()
    if blocked:
        print(f"note: {len(blocked)} requests to other hosts were blocked, e.g. {blocked[0]}")
    print(f"wrote {out.relative_to(ROOT)} ({out.stat().st_size / 2**20:.1f} MiB)")
    return out


def _chapters() -> list[tuple[str, int]]:
    """(title, number of figures) of every chapter; a figure is a PNG output of a code cell. A page listed under
    a chapter's ``sections:`` in ``_toc.yml`` (e.g. ``09_wan_video_encoder``) is part of that chapter."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    sections = {Path(page["file"]).name for part in toc.get("parts", []) for chapter in part.get("chapters", [])
                for page in chapter.get("sections", [])}
    chapters = []
    for path in sorted(CHAPTERS.glob("[0-9][0-9]_*.ipynb")):
        cells = json.loads(path.read_text())["cells"]
        first = next("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
        title = re.sub(r"[`*]", "", first.splitlines()[0].lstrip("# ").strip())
        figures = sum("image/png" in out.get("data", {}) for c in cells for out in c.get("outputs", []))
        if path.stem in sections and chapters:  # a sub-page: its figures are in its chapter's pages
            chapters[-1] = (chapters[-1][0], chapters[-1][1] + figures)
        else:
            chapters.append((title, figures))
    return chapters


def _squash(text: str) -> str:
    return re.sub(r"\s+", " ", text.replace("\u2011", "-")).lower()


def check(pdf: Path = PDF) -> list[str]:
    """Every chapter title in the PDF, and each chapter's pages holding at least as many images as it has figures.

    The pages of a chapter run from the page where its numbered title stands as a line of its own (``1. GroupNorm``)
    to the page before the next chapter's.
    """
    if not pdf.exists():
        return [f"{pdf.relative_to(ROOT)} does not exist: run `make pdf`"]
    pages = subprocess.run(["pdftotext", str(pdf), "-"], check=True, capture_output=True, text=True).stdout
    pages = pages.split("\f")
    lines = [{_squash(line).strip() for line in page.splitlines()} for page in pages]
    listing = subprocess.run(["pdfimages", "-list", str(pdf)], check=True, capture_output=True, text=True).stdout
    image_pages = [int(row.split()[0]) for row in listing.splitlines()[2:] if row.split()[2:3] == ["image"]]
    problems, starts = [], []
    for number, (title, _) in enumerate(_chapters(), start=1):
        heading = _squash(f"{number}. {title}")
        # The heading: a line of its own (or its first line, when a long title wraps).
        found = [i + 1 for i, page in enumerate(lines)
                 if any(line == heading or (len(line) > 24 and heading.startswith(line)) for line in page)]
        if not found:
            problems.append(f"chapter title {heading!r} is not in the PDF")
        starts.append(found[0] if found else None)
    bounds = [s for s in starts if s is not None] + [len(pages) + 1]
    for (title, figures), start in zip(_chapters(), starts, strict=True):
        if start is None:
            continue
        end = min(b for b in bounds if b > start)
        images = sum(start <= p < end for p in image_pages)
        if images < figures:
            problems.append(f"{title!r} shows {figures} figures; its pages {start}-{end - 1} hold {images} images")
    text = _squash(" ".join(pages))
    if "\\frac" in text or "\\begin{" in text:
        problems.append("raw TeX in the PDF: MathJax did not typeset every formula")
    print(f"{pdf.relative_to(ROOT)}: {len(pages)} pages; {len(starts)} chapters found by title, each with "
          f"at least as many images as it has figures ({sum(f for _, f in _chapters())} figures in all)")
    return problems


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["build", "check"])
    args = parser.parse_args(argv)
    if args.command == "build":
        build()
        return 0
    problems = check()
    for p in problems:
        print(p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
