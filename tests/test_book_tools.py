"""The book's own tools: the Colab copies of the chapters (book/_tools/colab_copies.py) and the browser test's
detection of boxes that scroll sideways (tests/browser/bookcheck.py)."""

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "book" / "_tools"))
sys.path.insert(0, str(ROOT / "tests" / "browser"))

import colab_copies  # noqa: E402


def _notebook(tmp_path, *markdown_and_code):
    cells = []
    for kind, text in markdown_and_code:
        cell = {"cell_type": kind, "metadata": {}, "source": text}
        if kind == "code":
            cell.update(execution_count=1, outputs=[{"output_type": "stream", "name": "stdout", "text": "ok\n"}])
        cells.append(cell)
    path = tmp_path / "03_example.ipynb"
    path.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    return path


def test_an_exercise_gets_a_heading_an_empty_cell_and_a_folded_solution(tmp_path):
    path = _notebook(
        tmp_path,
        ("markdown", "Intro {cite}`wu2018group`, code `{cite}` untouched.\n\n```{exercise-start}\n:label: ex-a\n```\n\n"
                     "Do it.\n\n```{exercise-end}\n```\n\n```{solution-start} ex-a\n:class: dropdown\n```"),
        ("code", "answer = 42"),
        ("markdown", "```{solution-end}\n```\n\nAfter."),
    )
    nb = colab_copies.convert(path)
    sources = ["".join(c["source"]) for c in nb["cells"]]
    assert "(Wu and He, 2018), code `{cite}` untouched." in sources[1]
    assert "### Exercise 3.1" in sources
    empty = sources.index("")
    assert nb["cells"][empty]["cell_type"] == "code"
    solution = nb["cells"][empty + 2]
    assert solution["source"].startswith("# @title Solution\nanswer = 42")
    assert solution["metadata"]["cellView"] == "form" and solution["outputs"] == []
    assert sources[-2] == "After."
    assert sources[-1].startswith("## References\n\n- Yuxin Wu, Kaiming He (2018). *Group Normalization*.")


def test_unknown_markup_is_refused_not_copied(tmp_path):
    with pytest.raises(ValueError, match="directive {note}"):
        colab_copies.convert(_notebook(tmp_path, ("markdown", "```{note}\nhi\n```")))
    with pytest.raises(ValueError, match="role {ref}"):
        colab_copies.convert(_notebook(tmp_path, ("markdown", "see {ref}`x`")))
    with pytest.raises(KeyError, match="unknown key"):
        colab_copies.convert(_notebook(tmp_path, ("markdown", "{cite}`nobody2000`")))


def test_the_check_finds_a_solution_without_an_empty_cell(tmp_path):
    source = _notebook(tmp_path, ("markdown", "```{exercise-start}\n:label: ex-a\n```\n\nDo it.\n\n```{exercise-end}\n"
                                              "```\n\n```{solution-start} ex-a\n```"),
                       ("code", "answer = 42"), ("markdown", "```{solution-end}\n```"))
    nb = colab_copies.convert(source)
    del nb["cells"][[c["metadata"].get("tags") == [colab_copies.EMPTY_CELL_NOTE] for c in nb["cells"]].index(True)]
    copy = tmp_path / "copy" / source.name
    copy.parent.mkdir()
    copy.write_text(json.dumps(nb))
    problems = colab_copies.problems_of(copy, source)
    assert any("no empty cell before it" in p for p in problems)
    assert any("1 solutions in the chapter" in p for p in problems)


def test_answers_fold_in_details_and_label_links_point_at_the_book(tmp_path):
    path = _notebook(
        tmp_path,
        ("markdown", "As [seed 003](#seed-003) says, `[x](#seed-003)` stays.\n\n**1.** Why?\n\n"
                     "```{admonition} Answer\n:class: dropdown\n\nBecause {cite}`wu2018group`.\n```\n\n"
                     "```{admonition} Remember\nThis.\n```"),
    )
    nb = colab_copies.convert(path)
    sources = ["".join(c["source"]) for c in nb["cells"]]
    url = colab_copies.book_url()
    assert sources[1].startswith(f"As [seed 003]({url}book/systems.html#seed-003) says, `[x](#seed-003)` stays.")
    assert "<details><summary>Answer</summary>\n\nBecause (Wu and He, 2018).\n\n</details>" in sources
    assert "**Remember**\n\nThis." in sources
    assert colab_copies.book_labels()["seed-000"] == "book/systems"

SIDEWAYS_PAGE = """<!doctype html><html><head><style>pre {{ overflow: auto; font: 14px monospace; }}</style></head>
<body><article class="bd-article" style="width: 400px">
<div class="cell_input"><pre>wide = "{code}"</pre></div>
<div class="cell_input"><pre>fits = 1</pre></div>
<div class="cell_output"><pre>{output}</pre></div>
<div class="cell_output"><pre>fits too</pre></div>
<div class="cell_output"><div class="output text_html"><div class="encoderlab-source">
  <pre style="white-space: pre-wrap; overflow-wrap: anywhere">wrapped = "{wrapped}"</pre></div></div></div>
<div class="math"><span style="display: inline-block; width: 900px">a wide formula</span></div>
<div class="math"><span style="display: inline-block; width: 100px">a narrow one</span></div>
<div class="pst-scrollable-table-container" style="overflow-x: auto"><table><tr><td style="white-space: nowrap">
  {table}</td></tr></table></div>
</article></body></html>""".format(code="x" * 120, output="z" * 200, wrapped="y" * 300, table="a wide table " * 20)


def test_the_browser_test_finds_the_boxes_that_scroll_sideways():
    """One code box, one output, one formula and one table too wide for a 400 px column; the rest fit."""
    pytest.importorskip("playwright.sync_api")
    import bookcheck

    if not Path(bookcheck.CHROMIUM).exists():
        pytest.skip(f"{bookcheck.CHROMIUM} not found (`make chromium`); set BOOK_CHROMIUM to another Chromium")
    with bookcheck.chromium() as browser:
        page = browser.new_page(viewport=bookcheck.DESKTOP)
        page.set_content(SIDEWAYS_PAGE)
        found = bookcheck.sideways(page, ("code", "output", "math", "table"))
    got = [(box["kind"], box["text"][:12]) for box in found]
    assert got == [("code", 'wide = "xxxx'), ("output", "zzzzzzzzzzzz"), ("math", "a wide formu"),
                   ("table", "a wide table")], found
    code = found[0]
    assert code["longest"] == 129 and code["box"] == 400 and code["excess"] == code["content"] - 400 > 0
    assert len(code["text"]) == 50
