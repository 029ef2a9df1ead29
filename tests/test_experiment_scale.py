"""The chapters' one scale flag (``encoderlab.experiment_scale``) and the trainer's CUDA determinism
(``encoderlab.train.determinism``), checked on the CPU."""

import os

import pytest
import torch

import encoderlab
from encoderlab import experiment_scale
from encoderlab.train.determinism import CUBLAS_WORKSPACE, make_deterministic, restore_determinism


def test_scale_by_device(monkeypatch):
    monkeypatch.delenv("ENCODERLAB_SCALE", raising=False)
    assert experiment_scale(torch.device("cuda")) == 4
    assert experiment_scale("cuda:1") == 4
    assert experiment_scale("mps") == 2
    assert experiment_scale("cpu") == 1
    assert experiment_scale() == experiment_scale(encoderlab.get_device())


def test_environment_variable_overrides_the_device(monkeypatch):
    monkeypatch.setenv("ENCODERLAB_SCALE", "4")
    assert experiment_scale("cpu") == 4
    monkeypatch.setenv("ENCODERLAB_SCALE", " 1 ")
    assert experiment_scale("cuda") == 1
    for bad in ("0", "-2", "two", "1.5"):
        monkeypatch.setenv("ENCODERLAB_SCALE", bad)
        with pytest.raises(ValueError, match=f"ENCODERLAB_SCALE must be a positive integer such as 4, got '{bad}'"):
            experiment_scale("cpu")


def test_bad_device_is_refused(monkeypatch):
    monkeypatch.delenv("ENCODERLAB_SCALE", raising=False)
    with pytest.raises(TypeError, match="device must be a torch.device or a str"):
        experiment_scale(4)


def _settings():
    return (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled(),
            torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic,
            os.environ.get("CUBLAS_WORKSPACE_CONFIG"))


def test_make_deterministic_on_cuda_sets_the_documented_flags_and_restore_puts_them_back(monkeypatch):
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    torch.backends.cudnn.benchmark = True  # as a script tuning for speed would have left it
    before = _settings()
    try:
        previous = make_deterministic("cuda")  # sets flags only: no CUDA device is needed
        assert torch.are_deterministic_algorithms_enabled()
        assert torch.is_deterministic_algorithms_warn_only_enabled()
        assert torch.backends.cudnn.benchmark is False and torch.backends.cudnn.deterministic is True
        assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == CUBLAS_WORKSPACE == ":4096:8"
        restore_determinism(previous)
        assert _settings() == before
    finally:
        torch.use_deterministic_algorithms(False)
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = False


def test_make_deterministic_keeps_a_workspace_set_by_the_reader(monkeypatch):
    monkeypatch.setenv("CUBLAS_WORKSPACE_CONFIG", ":16:8")
    previous = make_deterministic(torch.device("cuda"))
    try:
        assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":16:8"
    finally:
        restore_determinism(previous)
    assert not torch.are_deterministic_algorithms_enabled()


def test_make_deterministic_changes_nothing_off_cuda():
    before = _settings()
    make_deterministic("cpu")
    assert _settings() == before
    with pytest.raises(TypeError, match="device must be a str such as 'cpu'"):
        make_deterministic(0)


def test_trainer_asks_for_determinism_before_moving_the_model(monkeypatch):
    from encoderlab.train import TrainConfig, Trainer, trainer

    asked = []
    monkeypatch.setattr(trainer, "make_deterministic", lambda device: asked.append(device))
    monkeypatch.setattr(trainer, "VAE", lambda **kwargs: pytest.fail("the model came before make_deterministic")
                        if not asked else encoderlab.VAE(**kwargs))
    Trainer(TrainConfig(dataset="digits", model="tiny", batch_size=4, steps=1), device="cpu", progress=False)
    assert asked == [torch.device("cpu")]


def test_trainer_on_cpu_leaves_the_process_settings_alone():
    from encoderlab.train import TrainConfig, Trainer

    before = _settings()
    Trainer(TrainConfig(dataset="digits", model="tiny", batch_size=4, steps=1), device="cpu",
            progress=False)
    assert _settings() == before
