"""show_source: the page's listing is the package file's text, checked against the file itself."""

import inspect
from pathlib import Path

import pytest
import torch

import encoderlab
from encoderlab import show_source

PACKAGE = Path(encoderlab.__file__).resolve().parent


@pytest.mark.parametrize("obj", [encoderlab.GroupNorm, encoderlab.GroupNorm.forward, encoderlab.group_norm,
                                 encoderlab.ResnetBlock.forward, encoderlab.AutoencoderKL.encode])
def test_listing_is_the_files_lines(obj):
    listing = show_source(obj)
    path = PACKAGE / listing.path
    file_lines = path.read_text().splitlines()
    shown = listing.code.rstrip("\n").splitlines()
    assert listing.last_line - listing.first_line + 1 == len(shown)
    original = file_lines[listing.first_line - 1:listing.last_line]
    indent = len(original[0]) - len(original[0].lstrip())
    assert [line[indent:] for line in original] == shown
    assert str(listing).splitlines()[0] == (f"# {obj.__qualname__}: src/encoderlab/{listing.path}, lines "
                                            f"{listing.first_line}-{listing.last_line}")


def test_method_is_dedented_and_starts_with_def():
    listing = show_source(encoderlab.GroupNorm.forward)
    assert listing.code.startswith("def forward(")
    assert all(not line.startswith(" ") for line in listing.code.splitlines()[:1])
    assert inspect.getsource(encoderlab.GroupNorm.forward).startswith("    def forward(")


def test_html_is_highlighted_and_escaped():
    out = show_source(encoderlab.group_norm)._repr_html_()
    assert "encoderlab-source" in out and "pre-wrap" in out
    assert "<span" in out  # Pygments coloured it
    assert "->" not in out or "-&gt;" in out


@pytest.mark.parametrize("bad", [3, "GroupNorm", torch.zeros(1), len])
def test_refuses_what_has_no_source(bad):
    with pytest.raises(TypeError, match="show_source takes a class, function or method"):
        show_source(bad)


def test_refuses_code_outside_the_package():
    with pytest.raises(ValueError, match="comes from 'torch.nn.modules.normalization'"):
        show_source(torch.nn.GroupNorm)

    class Mine:
        pass

    with pytest.raises(ValueError, match="encoderlab package's code"):
        show_source(Mine)


def test_html_without_the_accessible_styles_falls_back(monkeypatch):
    import pygments.styles
    from pygments.util import ClassNotFound

    real = pygments.styles.get_style_by_name

    def without_a11y(name):
        if name.startswith("a11y"):
            raise ClassNotFound(name)
        return real(name)

    monkeypatch.setattr(pygments.styles, "get_style_by_name", without_a11y)
    out = show_source(encoderlab.group_norm)._repr_html_()
    assert "<span" in out and "background: #f8f8f8" in out  # Pygments' default style and its background
