"""Colab-ready copies of the chapter notebooks.

The chapters are written in MyST for Jupyter Book: exercises and solutions are ``{exercise-start}`` /
``{solution-start}`` directives, citations are ``{cite}`` roles. Opened in Jupyter or Colab those show as raw
text, and every solution is an ordinary cell right below its exercise. This script writes a copy of every
chapter in which

- each exercise becomes a heading (``Exercise 3.2``) followed by its text, a "your turn" note and an
  **empty code cell**; the solution follows under its own heading, its code cells folded on Colab (a
  ``# @title`` line and ``cellView: form``) and their outputs cleared;
- each ``{cite}`` becomes an author-year reference, listed in full in a *References* cell at the end;
- each ``{doc}`` link, and each ``[text](#label)`` link to a label of the book (``(seed-003)=``), points at
  the published book;
- a collapsed ``{admonition}`` (``:class: dropdown``: the answers of *Check your understanding*) becomes an
  HTML ``<details>`` block, which Colab shows folded; any other admonition a bold title over its text.

Everything else (the Colab install cell, outputs, widget state, cell tags) is kept as it is.

    python book/_tools/colab_copies.py build [--out _build/colab]   # write _build/colab/chapters/*.ipynb
    python book/_tools/colab_copies.py check [--out _build/colab]   # build, then verify the copies

``check`` fails if any MyST directive or role is left, if an exercise has no empty cell before its
solution, or if an exercise or solution of the chapter is missing from its copy. The deploy workflow
publishes the copies on the ``colab`` branch, which is where the book's Colab buttons point.
"""

from __future__ import annotations

import argparse
import codecs
import copy
import json
import re
import sys
from pathlib import Path

import latexcodec  # noqa: F401  (registers the 'ulatex' codec; pybtex depends on it)
import yaml
from pybtex.database import parse_file

ROOT = Path(__file__).resolve().parents[2]
CHAPTERS = ROOT / "chapters"
BIB = ROOT / "book" / "references.bib"

# A MyST directive: ```{name} argument, then ":option: value" lines, then its body, then the closing fence.
DIRECTIVE = re.compile(r"^```\{(?P<name>[a-z-]+)\}[ \t]*(?P<arg>[^\n]*)\n(?P<body>.*?)^```[ \t]*$\n?", re.M | re.S)
ROLE = re.compile(r"\{(?P<name>[a-z-]+)\}`(?P<text>[^`]*)`")
KNOWN_ROLES = ("cite", "doc", "term")
YOUR_TURN = ("*Your turn:* write your answer in the empty cell below and run it. The solution follows; on "
             "Colab its code is folded (click *Show code* to open it).")
EMPTY_CELL_NOTE = "colab-your-turn"  # a tag on the empty cell, so the check finds it
SOLUTION_TAG = "colab-solution"


def book_url() -> str:
    """The published book: GitHub Pages of the repository named in ``_config.yml``."""
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    owner, repo = config["repository"]["url"].rstrip("/").split("/")[-2:]
    return f"https://{owner}.github.io/{repo}/"


def _plain(latex: str) -> str:
    """BibTeX text as plain text: accents decoded (``Bj{\\"o}rn`` -> ``Björn``), braces and ``--`` resolved."""
    return codecs.decode(latex, "ulatex").replace("{", "").replace("}", "")


def _names(persons) -> str:
    last = [_plain(p.last_names[0]) if p.last_names else _plain(str(p)) for p in persons]
    if len(last) == 1:
        return last[0]
    if len(last) == 2:
        return f"{last[0]} and {last[1]}"
    return f"{last[0]} et al."


class References:
    """Author-year labels and full entries for the keys of ``book/references.bib``."""

    def __init__(self, path: Path = BIB) -> None:
        self.entries = parse_file(str(path)).entries
        self.cited: list[str] = []

    def label(self, key: str) -> str:
        if key not in self.entries:
            raise KeyError(f"{{cite}} of an unknown key {key!r} (not in {BIB.relative_to(ROOT)})")
        if key not in self.cited:
            self.cited.append(key)
        entry = self.entries[key]
        return f"{_names(entry.persons.get('author', []))}, {entry.fields.get('year', 'n.d.')}"

    def full(self, key: str) -> str:
        entry = self.entries[key]
        authors = ", ".join(" ".join(p.first_names + p.middle_names + p.last_names)
                            for p in entry.persons.get("author", []))
        authors = _plain(authors)
        f = {k: _plain(v) for k, v in entry.fields.items()}
        where = f.get("booktitle") or f.get("journal") or f.get("publisher") or f.get("howpublished", "")
        link = f"https://doi.org/{f['doi']}" if "doi" in f else f.get("url", "")
        parts = [f"{authors} ({f.get('year', 'n.d.')}). *{f.get('title', key)}*.", f"{where}." if where else "",
                 f"<{link}>" if link else ""]
        return " ".join(p for p in parts if p)


def book_labels() -> dict[str, str]:
    """``{label: page}`` for every ``(label)=`` target of the book's pages and chapters (page without suffix,
    relative to the repository root)."""
    labels = {}
    target = re.compile(r"^\((?P<label>[\w-]+)\)=[ \t]*$", re.M)
    for path in sorted((ROOT / "book").glob("*.md")):
        for m in target.finditer(path.read_text()):
            labels[m["label"]] = path.relative_to(ROOT).with_suffix("").as_posix()
    for path in sorted(CHAPTERS.glob("*.ipynb")):
        cells = json.loads(path.read_text())["cells"]
        for cell in cells:
            if cell["cell_type"] == "markdown":
                for m in target.finditer("".join(cell["source"])):
                    labels[m["label"]] = path.relative_to(ROOT).with_suffix("").as_posix()
    return labels


def convert_label_links(text: str, labels: dict[str, str]) -> str:
    """``[text](#label)`` for a label of the book -> a link to it in the published book."""
    def replace(m: re.Match) -> str:  # inline code is matched too, and left as it is
        page = labels.get(m["label"]) if m["label"] else None
        return f"]({book_url()}{page}.html#{m['label']})" if page else m[0]

    return re.sub(r"\]\(#(?P<label>[\w-]+)\)|`[^`\n]*`", replace, text)


def _doc_link(text: str, page: Path) -> str:
    """``{doc}`title <target>``` or ``{doc}`target``` as a link into the published book."""
    m = re.fullmatch(r"(?P<title>.*?)\s*<(?P<target>[^>]+)>", text.strip())
    target = m["target"] if m else text.strip()
    resolved = (page.parent / target).resolve().relative_to(ROOT)
    title = m["title"] if m else _page_title(ROOT / f"{resolved}.md")
    return f"[{title}]({book_url()}{resolved.as_posix()}.html)"


def _page_title(path: Path) -> str:
    for line in path.read_text().splitlines():
        if line.startswith("# "):
            return line[2:].strip()
    return path.stem


def convert_roles(text: str, page: Path, refs: References) -> str:
    def replace(m: re.Match) -> str:
        name, body = m["name"], m["text"]
        if name == "cite":
            return "(" + "; ".join(refs.label(k.strip()) for k in body.split(",")) + ")"
        if name == "doc":
            return _doc_link(body, page)
        if name == "term":  # a glossary term: its text, linked to the book's glossary
            text = re.sub(r"\s*<[^>]+>$", "", body)
            return f"[{text}]({book_url()}book/glossary.html)"
        raise ValueError(f"{page.name}: no plain-Markdown form for the role {{{name}}}")

    # Roles, but not role-like text inside inline code: match both, and replace only the roles.
    def visit(m: re.Match) -> str:
        return replace(m) if m["name"] else m[0]

    return re.sub(r"\{(?P<name>[a-z-]+)\}`(?P<text>[^`]*)`|`[^`\n]*`", visit, text)


def _markdown(text: str) -> dict:
    return {"cell_type": "markdown", "metadata": {}, "source": text.strip("\n")}


def _split_markdown(text: str):
    """Yield ("text", str) and ("directive", match) pieces of a markdown cell, in order."""
    pos = 0
    for m in DIRECTIVE.finditer(text):
        if text[pos:m.start()].strip():
            yield "text", text[pos:m.start()]
        yield "directive", m
        pos = m.end()
    if text[pos:].strip():
        yield "text", text[pos:]


def _fold(cell: dict) -> dict:
    """A solution code cell: folded on Colab, outputs cleared (the reader runs it)."""
    cell = copy.deepcopy(cell)
    source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
    cell["source"] = "# @title Solution\n" + source
    cell["metadata"]["cellView"] = "form"
    cell["metadata"].setdefault("tags", []).append(SOLUTION_TAG)
    cell["outputs"] = []
    cell["execution_count"] = None
    return cell


def convert(path: Path, refs: References | None = None) -> dict:
    """The Colab copy of the chapter notebook at ``path`` (a notebook dict)."""
    refs = refs or References()
    labels = book_labels()
    nb = json.loads(path.read_text())
    number = int(path.name.split("_")[0])
    cells, exercise, in_solution = [], 0, False
    for cell in nb["cells"]:
        if cell["cell_type"] != "markdown":
            cells.append(_fold(cell) if in_solution and cell["cell_type"] == "code" else cell)
            continue
        text = convert_label_links("".join(cell["source"]), labels)
        for kind, piece in _split_markdown(text):
            if kind == "text":
                cells.append(_markdown(convert_roles(piece, path, refs)))
                continue
            name = piece["name"]
            if name == "exercise-start":
                exercise += 1
                cells.append(_markdown(f"### Exercise {number}.{exercise}"))
            elif name == "exercise-end":
                pass
            elif name == "solution-start":
                cells.append(_markdown(YOUR_TURN))
                cells.append({"cell_type": "code", "execution_count": None, "metadata": {"tags": [EMPTY_CELL_NOTE]},
                              "outputs": [], "source": ""})
                cells.append(_markdown(f"#### Solution to exercise {number}.{exercise}"))
                in_solution = True
            elif name == "solution-end":
                in_solution = False
            elif name == "admonition":
                options = dict(re.findall(r"^:(\w+):[ \t]*(.*)$", piece["body"], re.M))
                body = convert_roles(re.sub(r"^:\w+:.*$\n?", "", piece["body"], flags=re.M).strip(), path, refs)
                title = convert_roles(piece["arg"].strip(), path, refs) or "Note"
                if "dropdown" in options.get("class", "").split():
                    cells.append(_markdown(f"<details><summary>{title}</summary>\n\n{body}\n\n</details>"))
                else:
                    cells.append(_markdown(f"**{title}**\n\n{body}"))
            elif name == "figure":
                options = dict(re.findall(r"^:(\w+):[ \t]*(.*)$", piece["body"], re.M))
                caption = re.sub(r"^:\w+:.*$\n?", "", piece["body"], flags=re.M).strip()
                cells.append(_markdown(f"![{options.get('alt', '')}]({piece['arg'].strip()})\n\n*{caption}*"))
            else:
                raise ValueError(f"{path.name}: no plain-Markdown form for the directive {{{name}}}")
    cells.insert(0, _markdown(
        f"*This is the Colab copy of Chapter {number} of* Encoders from Scratch. *The book, with figures, "
        f"solutions and references in place, is at <{book_url()}>.*"))
    if refs.cited:
        cells.append(_markdown("## References\n\n" + "\n".join(f"- {refs.full(k)}" for k in refs.cited)))
    nb["cells"] = cells
    return nb


def build(out: Path) -> list[Path]:
    written = []
    for path in sorted(CHAPTERS.glob("[0-9][0-9]_*.ipynb")):
        target = out / "chapters" / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(convert(path), indent=1, ensure_ascii=False) + "\n")
        written.append(target)
    return written


def problems_of(copy_path: Path, source_path: Path) -> list[str]:
    """What is wrong with one Colab copy (an empty list when nothing is)."""
    nb = json.loads(copy_path.read_text())
    source = json.loads(source_path.read_text())
    name, problems = copy_path.name, []
    for i, cell in enumerate(nb["cells"]):
        text = "".join(cell["source"])
        if cell["cell_type"] == "markdown":
            if re.search(r"^(```|:::)\s*\{", text, re.M):
                problems.append(f"{name} cell {i}: a MyST directive is left")
            roles = re.findall(r"\{([a-z-]+)\}`|`[^`\n]*`", text)
            if any(roles):
                problems.append(f"{name} cell {i}: a MyST role is left")
        tags = cell.get("metadata", {}).get("tags", [])
        if SOLUTION_TAG in tags:
            before = [c for c in nb["cells"][:i] if c["cell_type"] == "code"]
            previous = before[-1] if before else None
            ok = previous is not None and (not "".join(previous["source"]).strip()
                                           and EMPTY_CELL_NOTE in previous["metadata"].get("tags", [])
                                           or SOLUTION_TAG in previous["metadata"].get("tags", []))
            if not ok:
                problems.append(f"{name} cell {i}: a solution with no empty cell before it")
    text = "".join("".join(c["source"]) for c in source["cells"] if c["cell_type"] == "markdown")
    expected = text.count("{solution-start}")
    empty = sum(EMPTY_CELL_NOTE in c.get("metadata", {}).get("tags", []) for c in nb["cells"])
    headings = sum("".join(c["source"]).startswith("### Exercise ") for c in nb["cells"])
    if not (empty == headings == expected == text.count("{exercise-start}")):
        problems.append(f"{name}: {expected} solutions in the chapter, {headings} exercise headings and {empty} "
                        f"empty cells in the copy")
    if "{cite}" in text and not any("".join(c["source"]).startswith("## References") for c in nb["cells"]):
        problems.append(f"{name}: citations but no References cell")
    return problems


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["build", "check"])
    parser.add_argument("--out", type=Path, default=ROOT / "_build" / "colab")
    args = parser.parse_args(argv)
    written = build(args.out)
    print(f"wrote {len(written)} Colab copies to {args.out}")
    if args.command != "check":
        return 0
    problems = [p for path in written for p in problems_of(path, CHAPTERS / path.name)]
    print("\n".join(problems) or f"{len(written)} Colab copies: no MyST left, an empty cell before every solution")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
