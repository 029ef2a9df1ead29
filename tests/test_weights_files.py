"""Weights files: safetensors and torch checkpoints, written atomically, and clear errors for bad files."""

import os

import pytest
import torch
from weights_helpers import SMALL_ATTN, SMALL_SD, randomise, same_state, tiny_autoencoder

from encoderlab.ldm import AutoencoderKL
from encoderlab.weights import WeightsError, export_weights, load_file, load_weights, save_file
from encoderlab.weights.configs import autoencoder_from_diffusers_config, diffusers_config

diffusers = pytest.importorskip("diffusers")
from diffusers import AutoencoderKL as DiffusersAutoencoderKL  # noqa: E402


@pytest.mark.parametrize("suffix", [".safetensors", ".ckpt"])
def test_files_round_trip(tmp_path, suffix):
    ours = tiny_autoencoder(SMALL_ATTN, seed=8)
    path = save_file(export_weights(ours, "diffusers"), tmp_path / f"vae{suffix}")
    assert os.listdir(tmp_path) == [f"vae{suffix}"]  # the temporary file was renamed, nothing left behind
    fresh = load_weights(AutoencoderKL(SMALL_ATTN), path)
    assert same_state(fresh.state_dict(), ours.state_dict())
    save_file(export_weights(ours, "ldm", prefix="first_stage_model."), path)  # overwrite in place
    assert same_state(load_weights(AutoencoderKL(SMALL_ATTN), str(path)).state_dict(), ours.state_dict())


def test_safetensors_file_equals_diffusers_own_loading(tmp_path):
    """A diffusers checkpoint saved by diffusers' own save_pretrained (safetensors) loads into ours."""
    ref = randomise(DiffusersAutoencoderKL(**diffusers_config(AutoencoderKL(SMALL_SD))), seed=9)
    ref.save_pretrained(tmp_path)
    ours = load_weights(AutoencoderKL(SMALL_SD), tmp_path / "diffusion_pytorch_model.safetensors")
    rebuilt = autoencoder_from_diffusers_config(dict(ref.config))
    load_weights(rebuilt, tmp_path / "diffusion_pytorch_model.safetensors")
    assert same_state(ours.state_dict(), rebuilt.state_dict())
    x = torch.randn(1, 3, 16, 16)
    with torch.no_grad():
        assert (ours.encode(x).moments - ref.encode(x).latent_dist.parameters).abs().max() < 1e-5


def test_corrupt_and_wrong_files(tmp_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"this is not a safetensors file")
    with pytest.raises(WeightsError, match="could not read weights from bad.safetensors"):
        load_file(bad)
    torch.save([1, 2, 3], tmp_path / "list.pt")
    with pytest.raises(WeightsError, match="holds a list, not a state dict"):
        load_file(tmp_path / "list.pt")
    with pytest.raises(FileNotFoundError):
        load_file(tmp_path / "missing.safetensors")
