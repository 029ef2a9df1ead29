"""nbval settings for the notebooks (chapters and assignment masters), used by `make test`.

stderr is not compared: warnings print the kernel's temporary file path, which differs on every run.
Everything a chapter wants checked is printed to stdout or returned as a value.
"""


def pytest_collectstart(collector):
    if collector.fspath and collector.fspath.ext == ".ipynb":
        collector.skip_compare += ("stderr",)
