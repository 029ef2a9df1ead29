"""Every chapter, *The package's code*: the page shows the package's own source, never a copy.

After the reader has written a component in the notebook, the chapter calls :func:`show_source` on the
package's version of it. The output is the text of the package file at that moment, so when the package and
the page drift apart the executed notebook no longer matches its saved output and the notebook test fails.
"""

from __future__ import annotations

import html
import inspect
import textwrap
from pathlib import Path

__all__ = ["SourceListing", "show_source"]

_PACKAGE_ROOT = Path(__file__).resolve().parent


class SourceListing:
    """The source of one package object, shown as highlighted code in a notebook (plain text elsewhere).

    ``str(listing)`` (and the ``text/plain`` output nbval compares) is a header line naming the file and
    lines, then the code exactly as it stands in the file. Chapter 1, *The package's code*.
    """

    def __init__(self, qualname: str, path: str, first_line: int, code: str) -> None:
        self.qualname = qualname
        self.path = path
        self.first_line = first_line
        self.code = code

    @property
    def last_line(self) -> int:
        return self.first_line + self.code.count("\n") - (1 if self.code.endswith("\n") else 0)

    @property
    def header(self) -> str:
        return f"# {self.qualname}: src/encoderlab/{self.path}, lines {self.first_line}-{self.last_line}"

    def __str__(self) -> str:
        return f"{self.header}\n{self.code.rstrip()}"

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        # Inline styles only: the same output reads the same in the HTML book, in Jupyter and on Colab.
        # Long lines of the package (linted to 110 characters) wrap instead of scrolling sideways.
        background = "#ffffff"
        try:
            from pygments import highlight
            from pygments.formatters import HtmlFormatter
            from pygments.lexers import PythonLexer
            from pygments.styles import get_style_by_name
            from pygments.util import ClassNotFound

            try:  # colours that pass WCAG AA contrast (accessible-pygments, installed with the book's theme)
                colours = get_style_by_name("a11y-high-contrast-light")
            except ClassNotFound:
                colours = get_style_by_name("default")
            background = colours.background_color or background
            body = highlight(self.code.rstrip(), PythonLexer(), HtmlFormatter(noclasses=True, nowrap=True,
                                                                              style=colours))
        except ImportError:  # pragma: no cover - Pygments comes with Jupyter
            body = html.escape(self.code.rstrip())
        style = ("white-space: pre-wrap; overflow-wrap: anywhere; font-size: 0.8em; line-height: 1.35; "
                 f"margin: 0; padding: 0.5em; background: {background}; border-left: 3px solid #4a7fb0;")
        return (f'<div class="encoderlab-source"><div style="font-size: 0.8em; color: #555;">'
                f"{html.escape(self.header[2:])}</div><pre style=\"{style}\">{body}</pre></div>")


def show_source(obj) -> SourceListing:
    """The package's source of ``obj`` (a class, function or method of :mod:`encoderlab`), for display.

    >>> show_source(encoderlab.GroupNorm.forward)   # doctest: +SKIP

    Raises ``TypeError`` for anything that has no source of its own (an instance, a number, a built-in) and
    ``ValueError`` for an object that is not part of the encoderlab package (the page shows the package's
    code only). Chapter 1, *The package's code*.
    """
    target = inspect.unwrap(obj) if callable(obj) else obj
    if isinstance(target, (classmethod, staticmethod)):
        target = target.__func__
    if isinstance(target, property):
        target = target.fget
    if not (inspect.isclass(target) or inspect.isfunction(target) or inspect.ismethod(target)):
        raise TypeError(f"show_source takes a class, function or method of encoderlab, got "
                        f"{type(obj).__name__} {obj!r:.60}")
    if inspect.ismethod(target):
        target = target.__func__
    module = inspect.getmodule(target)
    name = getattr(module, "__name__", "")
    if name != "encoderlab" and not name.startswith("encoderlab."):
        raise ValueError(f"show_source shows the encoderlab package's code; {target.__qualname__} comes from "
                         f"{name or 'no module'!r} (a class written in the notebook is already on the page)")
    try:
        lines, first = inspect.getsourcelines(target)
    except (OSError, TypeError) as err:  # e.g. a class made by a factory has no ``class`` line of its own
        raise ValueError(f"{target.__qualname__} has no source text of its own ({err}); show the function or "
                         "class that makes it") from None
    path = Path(inspect.getsourcefile(target)).resolve()
    try:
        rel = path.relative_to(_PACKAGE_ROOT).as_posix()
    except ValueError:  # pragma: no cover - a module loaded from outside the package folder
        rel = path.name
    return SourceListing(target.__qualname__, rel, first, textwrap.dedent("".join(lines)))
