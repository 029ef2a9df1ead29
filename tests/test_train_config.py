"""TrainConfig: presets, validation, and the dict / JSON form a checkpoint stores."""

import pytest
from train_helpers import MICRO

from encoderlab.train import MODEL_PRESETS, TrainConfig
from encoderlab.vae import SEED003_CONFIG


def test_config_validation():
    with pytest.raises(ValueError, match="dataset must be one of"):
        TrainConfig(dataset="cifar")
    with pytest.raises(ValueError, match="model must be one of"):
        TrainConfig(model="huge")
    with pytest.raises(TypeError, match="model must be a preset name or a dict"):
        TrainConfig(model=3)
    with pytest.raises(ValueError, match=r"unknown training config keys \['epochs'\]; expected some of \["):
        TrainConfig.from_dict({"epochs": 3})
    with pytest.raises(TypeError, match="a training config must be a dict"):
        TrainConfig.from_dict([("steps", 3)])
    with pytest.raises(ValueError, match="amp must be one of"):
        TrainConfig(amp="int8")
    with pytest.raises(ValueError, match="adam_betas must be two numbers in"):
        TrainConfig(adam_betas=(0.9, 1.0))
    assert TrainConfig.from_dict(TrainConfig(model=MICRO).to_dict()) == TrainConfig(model=MICRO)


def test_presets_and_model_arguments():
    seed = dict(SEED003_CONFIG)
    seed.pop("im_channels")
    assert {k: tuple(v) if isinstance(v, list) else v for k, v in MODEL_PRESETS["seed"].items()} == seed
    assert TrainConfig(model="tiny").model_kwargs(3) == {"im_channels": 3, **MODEL_PRESETS["tiny"]}
    assert TrainConfig(model={**MICRO, "im_channels": 5}).model_kwargs(1)["im_channels"] == 1
