"""Turn the assignment masters in this folder into student notebooks and autograders, and prove they work.

    python assignments/make_assignments.py build   # -> _build/assignments/<name>/{student,autograder}/
    python assignments/make_assignments.py sync    # build, then copy the public tests into assignments/tests/
    python assignments/make_assignments.py check   # build, then the round trip (what `make test` runs)

A master is an otter-grader (7.x) notebook, ``NN_name.ipynb``. ``build`` runs ``otter assign`` on each master.
``check`` grades, offline and without Docker (``otter run``), the unsolved student notebook, which must score
0 on every question, and the solutions notebook, which must score full marks; it then checks that no
solution line appears in any student notebook and that the public tests committed under
``assignments/tests/`` (which Colab fetches) equal the generated ones.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OUT = ROOT / "_build" / "assignments"
PUBLIC_TESTS = HERE / "tests"
OTTER = str(Path(sys.executable).with_name("otter"))


def masters() -> list[Path]:
    return sorted(HERE.glob("[0-9][0-9]_*.ipynb"))


def run(cmd: list[str], cwd: Path | None = None) -> str:
    env = dict(os.environ, PYDEVD_DISABLE_FILE_VALIDATION="1")
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc.stdout


def build_one(master: Path) -> Path:
    """otter assign one master into _build/assignments/<name>; returns that folder."""
    out = OUT / master.stem
    shutil.rmtree(out, ignore_errors=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    # The solutions are graded by `check`, so otter need not run the tests here as well.
    run([OTTER, "assign", "--no-run-tests", "--no-pdfs", str(master), str(out)])
    zips = sorted((out / "autograder").glob("*.zip"))
    if len(zips) != 1:
        raise RuntimeError(f"{master.name}: expected one autograder zip, found {[z.name for z in zips]}")
    shutil.copy(zips[0], out / f"{master.stem}-autograder.zip")
    return out


def grade(zip_path: Path, notebook: Path) -> dict[str, tuple[float, float]]:
    """Grade a notebook offline with the autograder zip; returns {question: (score, max_score)}."""
    with tempfile.TemporaryDirectory() as tmp:
        run([OTTER, "run", "-a", str(zip_path), "-o", tmp, str(notebook)])
        results = json.loads((Path(tmp) / "results.json").read_text())
    scores = {}
    for test in results["tests"]:
        name = test["name"].split(" - ")[0]
        score, best = scores.get(name, (0.0, 0.0))
        scores[name] = (score + float(test.get("score") or 0.0), best + float(test.get("max_score") or 0.0))
    return scores


def solution_lines(master: Path) -> set[str]:
    """Every non-trivial code line between '# BEGIN SOLUTION' and '# END SOLUTION' markers in a master."""
    lines: set[str] = set()
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
    return lines


def check_one(master: Path) -> list[str]:
    """The round trip for one master; returns a list of problems (empty when all is well)."""
    out = OUT / master.stem
    problems = []
    zip_path = out / f"{master.stem}-autograder.zip"
    student = out / "student" / master.name
    solution = out / "autograder" / master.name

    student_scores = grade(zip_path, student)
    solution_scores = grade(zip_path, solution)
    questions = sorted(q for q in solution_scores if q != "Public Tests")
    if not questions:
        problems.append(f"{master.name}: the autograder found no questions")
    for q in questions:
        score, best = solution_scores[q]
        if best <= 0 or score != best:
            problems.append(f"{master.name}: the solutions score {score}/{best} on {q}, expected full marks")
        s_score, _ = student_scores.get(q, (None, None))
        if s_score != 0:
            problems.append(f"{master.name}: the unsolved student notebook scores {s_score} on {q}, expected 0")

    student_code = "\n".join(
        "".join(c["source"]) for c in json.loads(student.read_text())["cells"] if c["cell_type"] == "code"
    )
    student_lines = {line.strip() for line in student_code.splitlines()}
    for line in sorted(solution_lines(master) & student_lines):
        problems.append(f"{master.name}: a solution line leaked into the student notebook: {line!r}")
    if "# BEGIN SOLUTION" in student_code or "# END SOLUTION" in student_code:
        problems.append(f"{master.name}: solution markers remain in the student notebook")

    generated = {p.name: p.read_text() for p in (out / "student" / "tests").glob("*.py")}
    committed = {p.name: p.read_text() for p in (PUBLIC_TESTS / master.stem).glob("*.py")}
    if generated != committed:
        problems.append(f"{master.name}: assignments/tests/{master.stem}/ differs from the generated public tests; "
                        "run `make assignments-sync` and commit the result")
    total = sum(best for q, (_, best) in solution_scores.items() if q != "Public Tests")
    print(f"{master.stem}: {len(questions)} questions, {total:g} points; "
          f"solutions {sum(solution_scores[q][0] for q in questions):g}/{total:g}, "
          f"unsolved student notebook {sum((student_scores.get(q) or (0, 0))[0] for q in questions):g}/{total:g}")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["build", "sync", "check"])
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    found = masters()
    if not found:
        print("no assignment masters found", file=sys.stderr)
        return 1
    with ThreadPoolExecutor(args.jobs) as pool:
        outs = list(pool.map(build_one, found))
    for out in outs:
        print(f"built {out.relative_to(ROOT)}")
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
