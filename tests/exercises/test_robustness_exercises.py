"""The exercise checks survive whatever a reader passes: something that is not a function, or a function that
returns garbage (None, a list, a number, an integer, complex or NaN tensor, a tensor on another device, a
tensor of the wrong shape or dtype, ...). Each ends in an :class:`ExerciseError` saying what is wrong, never a
traceback from inside the check or from PyTorch.

Every check is tried with every garbage answer (one sweep); the checks listed in ``USED_TO_CRASH`` are the
ones some garbage answer used to crash from inside.
"""

import contextlib
import importlib
import io

import pytest
import torch
from torch import nn

from encoderlab.exercises import ExerciseError

MODULES = ("attention", "causal", "conv", "convnext", "distributions", "encoder_nets", "ldm", "norm", "resnet",
           "vae", "video")
CHECKS = [(m, name) for m in MODULES for name in importlib.import_module(f"encoderlab.exercises.{m}").__all__]


def _first_tensor(args):
    return next((a for a in args if isinstance(a, torch.Tensor)), None)


def _like_first(convert):
    """An answer that returns its first tensor argument converted (a plausible slip: .long(), .double(), ...)."""
    def answer(*args):
        x = _first_tensor(args)
        return convert(x) if x is not None else args[0]
    return answer


GARBAGE = {
    "not a function": 3,
    "None": lambda *a: None,
    "a str": lambda *a: "abc",
    "a list": lambda *a: [1, 2],
    "a float": lambda *a: 1.5,
    "nan": lambda *a: float("nan"),
    "a huge int": lambda *a: 10**30,
    "a negative int": lambda *a: -1,
    "an int tensor": lambda *a: torch.zeros(2, dtype=torch.long),
    "a complex tensor": lambda *a: torch.zeros(2, 3, dtype=torch.complex64),
    "a 0-D tensor": lambda *a: torch.tensor(1.0),
    "a NaN tensor": lambda *a: torch.full((2, 3), float("nan")),
    "a tuple of ints": lambda *a: (1, 2, 3),
    "a tuple of str": lambda *a: ("a", "b"),
    "a tuple of None": lambda *a: (None, None, None),
    "a tuple of int tensors": lambda *a: (torch.zeros(3, 4, dtype=torch.long),) * 3,
    "a tuple of meta tensors": lambda *a: (torch.zeros(3, 4, device="meta"),) * 2,
    "a module": lambda *a: nn.Linear(2, 2),
    "a dict": lambda *a: {},
    "an error": lambda *a: 1 / 0,
    "no arguments": lambda: 0,
    "the input as float64": _like_first(lambda x: x.double()),
    "the input as int64": _like_first(lambda x: x.long()),
    "the input as complex": _like_first(lambda x: x.to(torch.complex64)),
    "the input on meta": _like_first(lambda x: x.to("meta")),
    "the input as a list": _like_first(lambda x: x.tolist()),
    "the input as NumPy": _like_first(lambda x: x.detach().numpy()),
    "NaN like the input": _like_first(lambda x: torch.full_like(x, float("nan"))),
}

# the checks that some of these answers used to crash from inside (an AttributeError, RuntimeError or IndexError)
USED_TO_CRASH = [("causal", "check_causal_conv1d"), ("conv", "check_same_padding"), ("convnext", "check_drop_path"),
                 ("convnext", "check_layer_norm_2d"), ("distributions", "check_reparameterize"),
                 ("norm", "check_group_stats"), ("norm", "check_per_frame"), ("resnet", "check_block_forward")]


def _run(module, name, answer):
    check = getattr(importlib.import_module(f"encoderlab.exercises.{module}"), name)
    with contextlib.redirect_stdout(io.StringIO()):
        check(answer)


def test_every_check_explains_every_garbage_answer():
    """The sweep: each of the 30 checks with each garbage answer ends in an ExerciseError, nothing else."""
    problems = []
    for module, name in CHECKS:
        for what, answer in GARBAGE.items():
            try:
                _run(module, name, answer)
            except ExerciseError:
                continue
            except Exception as err:  # noqa: BLE001 (the point: nothing else may escape)
                problems.append(f"{module}.{name} given {what}: {type(err).__name__}: {err}")
                continue
            problems.append(f"{module}.{name} accepted {what}")
    assert not problems, "\n".join(problems)
    assert set(USED_TO_CRASH) <= set(CHECKS)


def test_fix_norms_explains_a_model_that_cannot_run():
    """A returned model with the right norms but a broken layer fails in its own forward: the check says so."""
    from encoderlab.norm import GroupNorm, PerFrameGroupNorm

    def fix_and_break(model):
        for name, module in list(model.named_modules()):
            if type(module) is GroupNorm:
                parent, _, child = name.rpartition(".")
                new = PerFrameGroupNorm(module.num_groups, module.num_channels, eps=module.eps)
                new.load_state_dict(module.state_dict())
                setattr(model.get_submodule(parent), child, new)
        model.conv_in.conv = nn.Conv3d(5, 4, 3)  # expects 5 channels: the forward raises inside torch
        return model

    with pytest.raises(ExerciseError, match="the fixed model on one frame raised RuntimeError"):
        _run("video", "check_fix_norms", fix_and_break)


def test_count_of_garbage_answers():
    """The closing note's count: every check times every garbage answer, plus the broken model."""
    assert len(CHECKS) == 30 and len(GARBAGE) == 28 and len(USED_TO_CRASH) == 8
    assert len(CHECKS) * len(GARBAGE) + 1 == 841
