"""The one atomic writer, shared by weights files (Chapter 7) and training checkpoints (Chapter 8)."""

import os
from pathlib import Path

import pytest

from encoderlab._files import atomic_write


def test_atomic_write_replaces_the_file_only_when_the_write_succeeded(tmp_path):
    path = tmp_path / "file.bin"
    assert atomic_write(path, lambda tmp: Path(tmp).write_bytes(b"first")) == path
    assert path.read_bytes() == b"first"

    def fail(tmp):
        with open(tmp, "wb") as handle:
            handle.write(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(path, fail)
    assert path.read_bytes() == b"first" and os.listdir(tmp_path) == ["file.bin"]  # no temporary file left
    atomic_write(str(path), lambda tmp: Path(tmp).write_bytes(b"second"))
    assert path.read_bytes() == b"second" and os.listdir(tmp_path) == ["file.bin"]
