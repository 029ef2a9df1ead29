"""The Colab simulation: every chapter run from the install a Colab student gets, outside the repository.

    python tests/colab_sim/run.py [chapters/NN_name.ipynb ...]     (make colab-sim; part of make test)

1. A fresh virtual environment under ``_build/colab-sim/`` with only what Colab preinstalls
   (``tests/colab_sim/preinstalled.txt``; torch is the project's torch==2.13.0, never another build:
   ``TORCH_INDEX`` is honoured as in the Makefile).
2. The package built as a wheel and installed the way the chapters' first cell installs it on Colab:
   non-editable, with the dependencies of ``pyproject.toml`` and nothing from ``requirements.txt``.
3. Every chapter copied alone into an empty folder (Colab has the notebook, not the repository) and
   executed there by that environment's kernel. Any error fails the run, with the failing cell shown.

Afterwards it checks that torch is still the project's build and that ``encoderlab`` was imported from the
installed wheel, not from ``src/``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WORK = ROOT / "_build" / "colab-sim"
VENV = WORK / "venv"
PY = VENV / "bin" / "python"
PREINSTALLED = Path(__file__).with_name("preinstalled.txt")
TORCH = "torch==2.13.0"
CELL_TIMEOUT = 300  # seconds a cell may take; a chapter that times out is run once more (a stuck kernel, seen once)


def run(*cmd) -> None:
    """Run a set-up command quietly; on failure show what it printed and stop."""
    result = subprocess.run([str(c) for c in cmd], capture_output=True, text=True)
    if result.returncode != 0:
        print(result.stdout[-5000:], result.stderr[-5000:], sep="\n")
        raise SystemExit(f"Colab simulation: set-up step failed: {' '.join(str(c) for c in cmd)}")


def clean_env() -> dict:
    """The environment of a student's runtime: no PYTHONPATH, no virtual environment of ours."""
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME"}}
    env["PATH"] = f"{VENV / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    return env


def install() -> None:
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    run(sys.executable, "-m", "venv", VENV)
    pip = [PY, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    torch_index = os.environ.get("TORCH_INDEX")
    run(*pip, TORCH, *(["--index-url", torch_index] if torch_index else []))
    others = [line.split("#")[0].strip() for line in PREINSTALLED.read_text().splitlines()]
    run(*pip, *[p for p in others if p and not p.startswith("torch")], TORCH)
    run(PY, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", WORK / "dist", ROOT)
    shutil.rmtree(ROOT / "build", ignore_errors=True)  # setuptools' in-tree build folder, not part of the repository
    wheel = next((WORK / "dist").glob("encoderlab-*.whl"))
    run(*pip, wheel, TORCH)  # the first cell's install; torch pinned so that pip keeps Colab's


def first_error(path: Path) -> str:
    """The first error output of an executed notebook, as a short text."""
    for i, cell in enumerate(json.loads(path.read_text())["cells"]):
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                return f"cell {i}: {out['ename']}: {out['evalue']}"
    return "no error output found"


def execute(chapter: Path) -> tuple[bool, str, float]:
    folder = WORK / "run" / chapter.stem
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    target = folder / chapter.name
    shutil.copyfile(chapter, target)
    start = time.perf_counter()
    result = subprocess.run(
        [str(VENV / "bin" / "jupyter-execute"), "--inplace", f"--timeout={CELL_TIMEOUT}", "--kernel_name=python3",
         "--allow-errors", target.name],
        cwd=folder, env=clean_env(), capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        return False, result.stderr.strip().splitlines()[-1] if result.stderr.strip() else "failed", seconds
    errors = [c for c in json.loads(target.read_text())["cells"]
              for o in c.get("outputs", []) if o.get("output_type") == "error"
              and "raises-exception" not in c.get("metadata", {}).get("tags", [])]
    return (not errors), ("" if not errors else first_error(target)), seconds


def main(argv: list[str]) -> int:
    chapters = [Path(a).resolve() for a in argv] or sorted((ROOT / "chapters").glob("[0-9][0-9]_*.ipynb"))
    start = time.perf_counter()
    install()
    print(f"Colab simulation: fresh environment with the reader's install in {time.perf_counter() - start:.0f} s")
    failures = []
    for chapter in chapters:
        ok, why, seconds = execute(chapter)
        if not ok and "Timeout" in why:
            print(f"  {chapter.name}: a cell timed out ({why}); running it once more")
            ok, why, seconds = execute(chapter)
        print(f"  {chapter.name}: {'ok' if ok else 'FAILED, ' + why} ({seconds:.0f} s)", flush=True)
        if not ok:
            failures.append(chapter.name)
    probe = subprocess.run([str(PY), "-c", "import encoderlab, torch; print(torch.__version__, encoderlab.__file__)"],
                           cwd=WORK, env=clean_env(), capture_output=True, text=True, check=True).stdout.split()
    if not probe[0].startswith("2.13.0"):
        failures.append(f"torch was replaced: {probe[0]}")
    if str(ROOT / "src") in probe[1]:
        failures.append(f"encoderlab came from the repository, not the wheel: {probe[1]}")
    print(f"Colab simulation: {len(chapters) - len(failures)} of {len(chapters)} chapters ran without an error "
          f"(torch {probe[0]}), {time.perf_counter() - start:.0f} s in all")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
