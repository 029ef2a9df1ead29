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


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_atomic_write_gives_the_permissions_of_a_plain_open_or_of_the_file_it_replaces(tmp_path):
    import torch
    from safetensors.torch import save_file

    umask = os.umask(0o022)
    try:
        plain = tmp_path / "plain.txt"
        plain.write_text("x")
        written = atomic_write(tmp_path / "w.safetensors", lambda tmp: save_file({"a": torch.zeros(2)}, tmp))
        assert os.stat(written).st_mode & 0o777 == os.stat(plain).st_mode & 0o777 == 0o644  # safetensors: 0o600
        os.chmod(written, 0o640)
        atomic_write(written, lambda tmp: save_file({"a": torch.ones(2)}, tmp))
        assert os.stat(written).st_mode & 0o777 == 0o640
    finally:
        os.umask(umask)
