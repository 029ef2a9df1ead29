"""Turn the assignment masters in this folder into student notebooks and autograders, and prove they work.

    python assignments/make_assignments.py build   # -> _build/assignments/<name>/{student,autograder}/
    python assignments/make_assignments.py sync    # build, then copy the public tests into assignments/tests/
    python assignments/make_assignments.py check   # build, then the round trip (what `make test` runs)

A master is an otter-grader (7.x) notebook, ``NN_name.ipynb``. ``build`` runs ``otter assign`` on each master.
``build`` writes the release the assignments belong to (``v{encoderlab.__version__}``) into every student
notebook, public-tests URL and autograder requirement, and pins otter (the version ``requirements.txt``
installs) in the one Colab install cell. ``check`` grades, offline and without Docker (``otter run``):

- the unsolved student notebook, which must score 0 on every question;
- the solutions, submitted as a student would (the notebook executed with its export cell, giving a zip with
  the check log), which must score full marks with the log verified;
- for every question, each submission in ``gaming_attempts.py`` (the solutions with the question's answer
  replaced by the package's implementation, imported, subclassed or wrapped), which must score 0 on it;

then that no solution line appears in any student notebook, that the student notebook and the autograder's
environment install the release (never ``main``) and the pinned otter, and that the public tests committed under ``assignments/tests/`` (which Colab fetches) equal the generated ones.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from concurrent.futures import ThreadPoolExecutor
from importlib.metadata import version
from pathlib import Path

import encoderlab

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OUT = ROOT / "_build" / "assignments"
PUBLIC_TESTS = HERE / "tests"
OTTER = str(Path(sys.executable).with_name("otter"))
JUPYTER = str(Path(sys.executable).with_name("jupyter"))
sys.path.insert(0, str(HERE))
from gaming_attempts import ATTEMPTS  # noqa: E402  (a data file next to this script)

# The one release every student notebook, public-tests URL and autograder environment refers to, and the
# otter that requirements.txt pins (the only place its version is written).
RELEASE = f"v{encoderlab.__version__}"
OTTER_PIN = f"otter-grader=={version('otter-grader')}"
PACKAGE_PIN = f"encoderlab @ git+https://github.com/encoderlab/encoderlab@{RELEASE}"
INSTALL_CELL = (
    "# Colab only: otter and the book's package, at the versions this assignment was released with\n"
    "import sys\n\n"
    'if "google.colab" in sys.modules:\n'
    f'    %pip install --quiet "{OTTER_PIN}" "{PACKAGE_PIN}"'
)


def masters() -> list[Path]:
    return sorted(HERE.glob("[0-9][0-9]_*.ipynb"))


def run(cmd: list[str], cwd: Path | None = None) -> str:
    env = dict(os.environ, PYDEVD_DISABLE_FILE_VALIDATION="1")
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc.stdout


def pin_install_cell(notebook: Path) -> None:
    """Replace otter's unpinned Colab install cell with the one pinned install of otter and the package."""
    nb = json.loads(notebook.read_text())
    cells = [c for c in nb["cells"] if c["cell_type"] == "code" and "".join(c["source"]).startswith("%pip install")]
    if len(cells) != 1:
        raise RuntimeError(f"{notebook}: expected otter's one install cell, found {len(cells)}")
    cells[0]["source"] = INSTALL_CELL.splitlines(keepends=True)
    notebook.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")


def build_one(master: Path) -> Path:
    """otter assign one master into _build/assignments/<name>, for RELEASE; returns that folder."""
    out = OUT / master.stem
    shutil.rmtree(out, ignore_errors=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        released = Path(tmp) / master.name
        released.write_text(master.read_text().replace("{release}", RELEASE))
        # The solutions are graded by `check`, so otter need not run the tests here as well.
        run([OTTER, "assign", "--no-run-tests", "--no-pdfs", str(released), str(out)])
    for notebook in (out / "student" / master.name, out / "autograder" / master.name):
        pin_install_cell(notebook)
    zips = sorted((out / "autograder").glob("*.zip"))
    if len(zips) != 1:
        raise RuntimeError(f"{master.name}: expected one autograder zip, found {[z.name for z in zips]}")
    shutil.copy(zips[0], out / f"{master.stem}-autograder.zip")
    return out


def write_rubrics(found: list[Path]) -> Path:
    """_build/assignments/written-questions.md: every written question, its model answer and its rubric."""
    parts = ["# Written questions: model answers and rubrics", ""]
    for master in found:
        cells = json.loads(master.read_text())["cells"]
        for i, cell in enumerate(cells):
            text = "".join(cell["source"])
            if cell["cell_type"] == "raw" and text.startswith("# BEGIN QUESTION") and "manual: true" in text:
                name = text.split("name:")[1].split()[0]
                points = text.split("points:")[1].split()[0]
                prompt, answer = "".join(cells[i + 1]["source"]), "".join(cells[i + 3]["source"])
                parts += [f"## {master.stem} {name} ({points} points)", "", prompt, "", "**Model answer.**", "",
                          answer, ""]
    path = OUT / "written-questions.md"
    path.write_text("\n".join(parts))
    return path


def grade(zip_path: Path, submission: Path) -> tuple[dict[str, tuple[float, float]], dict[str, str], str]:
    """Grade a notebook (or an exported zip) offline with the autograder zip.

    Returns ({question: (score, max_score)}, {question: what its failing tests printed}, otter's summary).
    """
    with tempfile.TemporaryDirectory() as tmp:
        summary = run([OTTER, "run", "-a", str(zip_path), "-o", tmp, str(submission)])
        results = json.loads((Path(tmp) / "results.json").read_text())
    scores: dict[str, tuple[float, float]] = {}
    outputs: dict[str, str] = {}
    for test in results["tests"]:
        name = test["name"].split(" - ")[0]
        score, best = scores.get(name, (0.0, 0.0))
        scores[name] = (score + float(test.get("score") or 0.0), best + float(test.get("max_score") or 0.0))
        outputs[name] = outputs.get(name, "") + str(test.get("output") or "")
    return scores, outputs, summary


def cells_of(notebook: Path) -> tuple[dict, list[dict]]:
    nb = json.loads(notebook.read_text())
    return nb, nb["cells"]


def code_cell(source: str) -> dict:
    return {"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [],
            "source": source.splitlines(keepends=True)}


def gamed(solutions: Path, question: str, code: str, dest: Path) -> Path:
    """The solutions notebook with `code` run just before `grader.check(question)`: the answer replaced."""
    nb, cells = cells_of(solutions)
    at = [i for i, c in enumerate(cells) if "".join(c["source"]).strip() == f'grader.check("{question}")']
    if len(at) != 1:
        raise RuntimeError(f"{solutions.name}: no single grader.check cell for {question}")
    cells.insert(at[0], code_cell(code))
    dest.write_text(json.dumps(nb, indent=1))
    return dest


def export_submission(out: Path, master: Path, tmp: Path) -> Path:
    """Execute the solutions notebook as a student would, export cell included; returns the zip it wrote.

    The public tests are read from a local copy instead of the release URL, so this works offline.
    """
    work = tmp / "student-run"
    shutil.copytree(out / "student" / "tests", work / "tests")
    nb, cells = cells_of(out / "autograder" / master.name)
    for cell in cells:
        text = "".join(cell["source"])
        if "otter.Notebook(" in text:
            start = text.index("otter.Notebook(")
            text = text[:start] + 'otter.Notebook(tests_dir="tests")' + text[text.index(")", start) + 1:]
            cell["source"] = text.splitlines(keepends=True)
    (work / master.name).write_text(json.dumps(nb, indent=1))
    run([JUPYTER, "execute", "--inplace", "--timeout=600", "--kernel_name=python3", master.name], cwd=work)
    zips = sorted(work.glob("*.zip"))
    if len(zips) != 1:
        raise RuntimeError(f"{master.name}: the export cell wrote {[z.name for z in zips]}, expected one zip")
    return zips[0]


def gaming_problems(master: Path, zip_path: Path, solutions: Path, questions: list[str], tmp: Path) -> list[str]:
    """Every attempt to submit the package's implementation must score 0 on its question, saying why."""
    problems = []
    attempts = ATTEMPTS.get(master.stem, [])
    for q in sorted(set(questions) - {q for q, _, _ in attempts}):
        problems.append(f"{master.name}: no gaming attempt in gaming_attempts.py for {q}")
    for i, (q, label, code) in enumerate(attempts):
        folder = tmp / f"gamed{i}"
        folder.mkdir()
        scores, outputs, _ = grade(zip_path, gamed(solutions, q, code, folder / master.name))
        score, best = scores.get(q, (None, None))
        if score != 0:
            problems.append(f"{master.name}: gaming attempt '{label}' scores {score}/{best} on {q}, expected 0")
        elif "write it yourself" not in outputs.get(q, ""):
            problems.append(f"{master.name}: gaming attempt '{label}' scores 0 on {q} without saying why")
        else:
            print(f"  {master.stem} {q}: '{label}' scores 0/{best:g}")
    return problems


def solution_lines(master: Path) -> set[str]:
    """Every non-trivial code line between '# BEGIN SOLUTION' and '# END SOLUTION' markers in a master,
    less the lines the master also shows students outside the markers (given code such as a helper class)."""
    lines: set[str] = set()
    shown: set[str] = set()
    for cell in json.loads(master.read_text())["cells"]:
        if cell["cell_type"] != "code":
            continue
        inside = False
        for line in "".join(cell["source"]).splitlines():
            stripped = line.strip()
            if stripped == "# BEGIN SOLUTION":
                inside = True
            elif stripped == "# END SOLUTION":
                inside = False
            elif inside and len(stripped) > 3 and stripped not in {"...", "pass", "return y", "return out"}:
                lines.add(stripped)
            elif not inside:
                shown.add(stripped)
    return lines - shown


def check_one(master: Path) -> list[str]:
    """The round trip for one master; returns a list of problems (empty when all is well)."""
    out = OUT / master.stem
    problems = []
    zip_path = out / f"{master.stem}-autograder.zip"
    student = out / "student" / master.name
    solution = out / "autograder" / master.name

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        student_scores, _, _ = grade(zip_path, student)
        solution_scores, _, summary = grade(zip_path, export_submission(out, master, tmp))
        if "No discrepancies found while verifying scores against the log" not in summary:
            problems.append(f"{master.name}: the exported submission's log does not verify its scores:\n{summary[-800:]}")
        questions = sorted(q for q in solution_scores if q != "Public Tests")
        problems += gaming_problems(master, zip_path, solution, questions, tmp)
    if not questions:
        problems.append(f"{master.name}: the autograder found no questions")
    for q in questions:
        score, best = solution_scores[q]
        if best <= 0 or score != best:
            problems.append(f"{master.name}: the solutions score {score}/{best} on {q}, expected full marks")
        s_score, _ = student_scores.get(q, (None, None))
        if s_score != 0:
            problems.append(f"{master.name}: the unsolved student notebook scores {s_score} on {q}, expected 0")

    student_text = student.read_text()
    student_code = "\n".join(
        "".join(c["source"]) for c in json.loads(student_text)["cells"] if c["cell_type"] == "code"
    )
    student_lines = {line.strip() for line in student_code.splitlines()}
    for line in sorted(solution_lines(master) & student_lines):
        problems.append(f"{master.name}: a solution line leaked into the student notebook: {line!r}")
    if "# BEGIN SOLUTION" in student_code or "# END SOLUTION" in student_code:
        problems.append(f"{master.name}: solution markers remain in the student notebook")
    with zipfile.ZipFile(zip_path) as archive:
        environment = archive.read("environment.yml").decode()
    for where, text in (("student notebook", student_text), ("autograder environment", environment)):
        if "/main/" in text or "@main" in text or PACKAGE_PIN not in text:
            problems.append(f"{master.name}: the {where} must install {PACKAGE_PIN}, never main")
    if not re.search(r"otter-grader(\[[\w,]*\])?==" + re.escape(version("otter-grader")) + r"\s", environment):
        problems.append(f"{master.name}: the autograder environment must install {OTTER_PIN}")
    if student_code.count("%pip install") != 1 or OTTER_PIN not in student_code:
        problems.append(f"{master.name}: the student notebook must install {OTTER_PIN} exactly once")

    generated = {p.name: p.read_text() for p in (out / "student" / "tests").glob("*.py")}
    committed = {p.name: p.read_text() for p in (PUBLIC_TESTS / master.stem).glob("*.py")}
    if generated != committed:
        problems.append(f"{master.name}: assignments/tests/{master.stem}/ differs from the generated public tests; "
                        "run `make assignments-sync` and commit the result")
    total = sum(best for q, (_, best) in solution_scores.items() if q != "Public Tests")
    print(f"{master.stem}: {len(questions)} auto-graded questions, {total:g} points; "
          f"solutions {sum(solution_scores[q][0] for q in questions):g}/{total:g}, "
          f"unsolved student notebook {sum((student_scores.get(q) or (0, 0))[0] for q in questions):g}/{total:g}")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["build", "sync", "check"])
    parser.add_argument("names", nargs="*", help="only these masters (e.g. 01_groupnorm); all by default")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    found = [m for m in masters() if not args.names or m.stem in args.names]
    if not found:
        print("no assignment masters found", file=sys.stderr)
        return 1
    with ThreadPoolExecutor(args.jobs) as pool:
        outs = list(pool.map(build_one, found))
    for out in outs:
        print(f"built {out.relative_to(ROOT)}")
    print(f"wrote {write_rubrics(found).relative_to(ROOT)}")
    if args.command == "sync":
        for master in found:
            dest = PUBLIC_TESTS / master.stem
            shutil.rmtree(dest, ignore_errors=True)
            shutil.copytree(OUT / master.stem / "student" / "tests", dest)
            print(f"synced {dest.relative_to(ROOT)}")
    if args.command == "check":
        with ThreadPoolExecutor(args.jobs) as pool:
            problems = [p for ps in pool.map(check_one, found) for p in ps]
        for p in problems:
            print(f"FAIL {p}")
        if problems:
            return 1
        print(f"assignments round trip: {len(found)} masters OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
