"""Faults a checkpoint or a weights file must survive: changed bytes, an edited header, a full disk, a read-only
folder. Each is detected with an error that names the file, and the previous file stays as it was.

As root (CI containers) ``chmod`` does not stop writes, so the read-only cases also make the writer raise the
``PermissionError`` a read-only folder gives; as another user the chmod alone does it.
"""

import errno
import json
import os

import pytest
import safetensors.torch
import torch
from train_helpers import flip_data_byte, header_length, micro_trainer
from weights_helpers import SMALL_ATTN, same_state, tiny_autoencoder

from encoderlab._files import CHECKSUM_KEY, StorageError, read_safetensors, verify_checksum
from encoderlab.ldm import AutoencoderKL
from encoderlab.train import CheckpointError, Trainer, load_checkpoint, read_checkpoint, save_checkpoint
from encoderlab.weights import WeightsError, export_weights, load_file, load_weights, save_file


def edit_header(path, old: str, new: str):
    """Replace text of the same length in the JSON header (a flipped digit)."""
    assert len(old) == len(new)
    data = path.read_bytes()
    n = header_length(path)
    header = data[8:8 + n].decode()
    assert header.count(old) == 1, (old, header[:300])
    path.write_bytes(data[:8] + header.replace(old, new).encode() + data[8 + n:])


def without_checksum(path):
    """Rewrite a file as one saved before checksums existed (or by another tool)."""
    tensors, meta = read_safetensors(path)
    meta.pop(CHECKSUM_KEY)
    safetensors.torch.save_file(tensors, str(path), metadata=meta)


@pytest.fixture(scope="module")
def trained():
    t = micro_trainer(steps=5)
    t.train()
    return t


def test_changed_data_bytes_are_detected_in_checkpoints(tmp_path, trained):
    path = trained.save(tmp_path / "run.safetensors")
    assert read_checkpoint(path)[1][CHECKSUM_KEY].startswith("sha256:")
    for where in (0.01, 0.5, 0.99):  # model weights, optimizer moments, the last tensor
        damaged = tmp_path / f"damaged_{where}.safetensors"
        damaged.write_bytes(path.read_bytes())
        flip_data_byte(damaged, where)
        with pytest.raises(CheckpointError, match=rf"{damaged.name} was changed or damaged after it was saved"):
            load_checkpoint(damaged, trained.model)
        with pytest.raises(CheckpointError, match="checksum"):
            Trainer.resume(damaged)


def test_a_flipped_digit_in_the_header_is_refused(tmp_path, trained):
    path = trained.save(tmp_path / "run.safetensors")
    edited = tmp_path / "edited.safetensors"
    edited.write_bytes(path.read_bytes())
    edit_header(edited, '"step":"5"', '"step":"6"')
    with pytest.raises(CheckpointError, match="changed or damaged after it was saved"):
        read_checkpoint(edited)
    # the same edit in a file without a checksum: the step no longer agrees with the history
    old = tmp_path / "old.safetensors"
    old.write_bytes(path.read_bytes())
    without_checksum(old)
    assert read_checkpoint(old)[1]["step"] == 5  # files without a checksum still load (unverified)
    edit_header(old, '"step":"5"', '"step":"6"')
    with pytest.raises(CheckpointError, match=r"inconsistent: its step is 6 but its history has 5 records"):
        Trainer.resume(old)
    tensors, meta = read_safetensors(path)
    meta.pop(CHECKSUM_KEY)
    history = json.loads(meta["history"])
    history[2]["step"] = 9
    meta["history"] = json.dumps(history)
    safetensors.torch.save_file(tensors, str(old), metadata=meta)
    with pytest.raises(CheckpointError, match=r"history's steps are not 1, 2, \.\.\., 5"):
        read_checkpoint(old)
    with pytest.raises(ValueError, match=r"history does not fit step=3: its step is 3 but its history has 5"):
        save_checkpoint(tmp_path / "x.safetensors", trained.model, step=3, history=trained.history)


def test_changed_bytes_are_detected_in_weights_files(tmp_path):
    model = tiny_autoencoder(SMALL_ATTN, seed=3)
    for suffix in (".safetensors", ".ckpt"):
        path = save_file(export_weights(model), tmp_path / f"vae{suffix}")
        assert same_state(load_file(path), model.state_dict())
        if suffix == ".safetensors":
            flip_data_byte(path)
        else:  # torch.load itself checks nothing: flip a byte inside the stored tensor data
            data = bytearray(path.read_bytes())
            value = model.state_dict()["decoder.conv_out.weight"].flatten()[:4].numpy().tobytes()
            data[data.index(value)] ^= 0x01
            path.write_bytes(bytes(data))
        with pytest.raises(WeightsError, match=rf"vae{suffix} was changed or damaged after it was saved"):
            load_weights(AutoencoderKL(SMALL_ATTN), path)
    third_party = tmp_path / "diffusion_pytorch_model.safetensors"
    safetensors.torch.save_file(export_weights(model), str(third_party))  # what diffusers writes: no checksum
    tensors, meta = read_safetensors(third_party)
    assert verify_checksum(third_party, tensors, meta, WeightsError) is False  # cannot be verified
    assert same_state(load_weights(AutoencoderKL(SMALL_ATTN), third_party).state_dict(), model.state_dict())


def _raise(err):
    def writer(*args, **kwargs):
        target = args[1] if len(args) > 1 else kwargs.get("filename") or kwargs.get("f")
        with open(target, "wb") as handle:  # a partial file, as a full disk leaves it
            handle.write(b"partial")
        raise err
    return writer


@pytest.mark.parametrize("kind", ["disk full", "read-only folder"])
def test_storage_errors_name_the_file_and_keep_the_previous_one(tmp_path, monkeypatch, trained, kind):
    ckpt = trained.save(tmp_path / "last.safetensors")
    weights = save_file(export_weights(tiny_autoencoder()), tmp_path / "vae.safetensors")
    torch_weights = save_file(export_weights(tiny_autoencoder()), tmp_path / "vae.pt")
    before = {p: p.read_bytes() for p in (ckpt, weights, torch_weights)}
    if kind == "disk full":
        err, hint = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)), "the disk is full"
        monkeypatch.setattr(safetensors.torch, "save_file", _raise(err))
        monkeypatch.setattr(torch, "save", _raise(err))
    else:
        err, hint = PermissionError(errno.EACCES, os.strerror(errno.EACCES)), "the folder is not writable"
        os.chmod(tmp_path, 0o500)
        if os.geteuid() == 0:  # root writes through chmod: make the writer fail as the folder would
            monkeypatch.setattr(safetensors.torch, "save_file", _raise(err))
            monkeypatch.setattr(torch, "save", _raise(err))
    try:
        for path, save in ((ckpt, lambda p: trained.save(p)),
                           (weights, lambda p: save_file(export_weights(tiny_autoencoder(seed=1)), p)),
                           (torch_weights, lambda p: save_file(export_weights(tiny_autoencoder(seed=1)), p))):
            with pytest.raises(StorageError, match=rf"could not write {path}: .*{hint}") as info:
                save(path)
            assert info.value.errno == err.errno
            assert path.read_bytes() == before[path]
    finally:
        os.chmod(tmp_path, 0o700)
    assert sorted(os.listdir(tmp_path)) == ["last.safetensors", "vae.pt", "vae.safetensors"]  # no temporary file
    assert read_checkpoint(ckpt)[1]["step"] == 5


def test_a_folder_that_cannot_be_created_names_the_path(tmp_path, trained):
    (tmp_path / "file").write_text("x")
    with pytest.raises(StorageError, match=r"could not write .*file/sub/last.safetensors"):
        trained.save(tmp_path / "file" / "sub" / "last.safetensors")


def test_reading_a_file_that_cannot_be_read(tmp_path, trained, monkeypatch):
    path = trained.save(tmp_path / "last.safetensors")

    def broken(*args, **kwargs):
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    monkeypatch.setattr(safetensors.torch, "load_file", broken)
    with pytest.raises(CheckpointError, match=r"last.safetensors is not a readable safetensors checkpoint"):
        read_checkpoint(path)
