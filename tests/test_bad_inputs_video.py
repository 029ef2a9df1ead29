"""Bad inputs to the video, causal-convolution, measurement and utility modules: each is refused with a
``ValueError``/``TypeError`` that names the argument, raised by encoderlab itself before any work (never a
``RuntimeError`` from inside PyTorch, never a silent result).

Each row of ``CASES`` is (module, class of hole, call, exception, message fragment); the classes are those of
the issue: 3 input dtype differing from the parameters', 4 empty or too small sizes, 5 sequences used before
their type is checked, 6 booleans, 7 other types that reach torch (devices, seeds, modules that cannot
stream). ``test_counts`` keeps the count of bad inputs per module and class that the closing note reports.
"""

import os
import random
from collections import Counter

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

from encoderlab import (
    CausalConv1d,
    CausalConv3d,
    CausalDownEncoder3d,
    CausalEncoder3D,
    CausalMidBlock3d,
    CausalVideoEncoder,
    FrameAttention,
    count_parameters,
    encode_stream,
    get_device,
    latent_frames,
    memory_vs_length,
    moving_shapes,
    per_frame_change,
    seed_everything,
    stage_shapes,
    streaming,
    temporal_receptive_field,
)
from encoderlab.cost import count_macs, count_multiply_adds, peak_memory, time_call

TINY = {"block_out_channels": (4, 8), "num_groups": 2, "z_channels": 2}
NO_CUDA = not torch.cuda.is_available()


def _encoder():
    return CausalVideoEncoder(**TINY).eval()


def _seed_encoder():
    return CausalEncoder3D(block_out_channels=(4, 8), num_groups=2).eval()


def _clip(t=5, h=8, w=8, c=3, dtype=torch.float32):
    return torch.randn(1, c, t, h, w, dtype=dtype)


def _maps(c=4, h=3, w=3):
    return torch.randn(1, c, 2, h, w)


def _frame_attention():
    return FrameAttention(4, num_groups=2)


def _mid_block():
    return CausalMidBlock3d(4, num_groups=2).eval()


def _down_block(**kwargs):
    return CausalDownEncoder3d(3, 4, num_groups=1, **kwargs).eval()


DTYPE = "x has dtype torch.{} but the {}'s parameters are torch.float32"
EMPTY = r"x has spatial size \({}\); an empty frame"

CASES = [
    # -- causal: CausalConv1d / CausalConv3d / encode_stream / streaming / temporal_receptive_field ---------------
    ("causal", 3, lambda: CausalConv3d(3, 4, 3)(_clip(dtype=torch.float64)), TypeError,
     DTYPE.format("float64", "CausalConv3d")),
    ("causal", 3, lambda: CausalConv3d(3, 4, 3)(_clip(dtype=torch.float16)), TypeError,
     DTYPE.format("float16", "CausalConv3d")),
    ("causal", 3, lambda: CausalConv3d(3, 4, 3)(_clip(dtype=torch.bfloat16)), TypeError,
     DTYPE.format("bfloat16", "CausalConv3d")),
    ("causal", 3, lambda: CausalConv1d(3, 4, 3)(torch.randn(1, 3, 5, dtype=torch.float64)), TypeError,
     DTYPE.format("float64", "CausalConv1d")),
    ("causal", 3, lambda: encode_stream(CausalConv3d(3, 4, 3).eval(), _clip(dtype=torch.float64), [2, 3]),
     TypeError, "video has dtype torch.float64 but the CausalConv3d's parameters are torch.float32"),
    ("causal", 4, lambda: CausalConv3d(3, 4, 3)(_clip(h=0)), ValueError, EMPTY.format("0, 8")),
    ("causal", 4, lambda: CausalConv3d(3, 4, 3)(_clip(w=0)), ValueError, EMPTY.format("8, 0")),
    ("causal", 4, lambda: CausalConv3d(3, 4, (1, 4, 4))(_clip(h=0, w=0)), ValueError, EMPTY.format("0, 0")),
    ("causal", 4, lambda: CausalConv3d(3, 4, 1)(_clip(h=0)), ValueError, EMPTY.format("0, 8")),
    ("causal", 4, lambda: CausalConv1d(3, 4, 3).output_frames(-3), ValueError, "padded_frames must be >= 0, got -3"),
    ("causal", 4, lambda: CausalConv1d(3, 4, 3).next_window_start(5, -1), ValueError, "n_out must be >= 0, got -1"),
    ("causal", 5, lambda: temporal_receptive_field(3), TypeError,
     r"kernel_sizes must be a sequence of ints such as \[3, 3, 3\], got int 3"),
    ("causal", 5, lambda: temporal_receptive_field(None), TypeError,
     "kernel_sizes must be a sequence of ints such as .*, got NoneType None"),
    ("causal", 5, lambda: temporal_receptive_field([3, 3], 2), TypeError,
     "strides must be a sequence of ints such as .*, got int 2"),
    ("causal", 5, lambda: temporal_receptive_field([3, 3], None, 1), TypeError,
     "dilations must be a sequence of ints such as .*, got int 1"),
    ("causal", 5, lambda: temporal_receptive_field("", None), TypeError,
     "kernel_sizes must be a sequence of ints such as .*, got str ''"),
    ("causal", 6, lambda: CausalConv1d(3, 4, 3).output_frames(True), TypeError,
     "padded_frames must be an int, got bool True"),
    ("causal", 7, lambda: CausalConv1d(3, 4, 3).output_frames("5"), TypeError,
     "padded_frames must be an int, got str '5'"),
    ("causal", 7, lambda: CausalConv1d(3, 4, 3).next_window_start("5", 1), TypeError,
     "padded_frames must be an int, got str '5'"),
    ("causal", 7, lambda: encode_stream(nn.Conv3d(3, 3, 3, padding=1).eval(), _clip(), [2, 3]), TypeError,
     r"module \(Conv3d\) has no streaming layers"),
    ("causal", 7, lambda: streaming(nn.Sequential(nn.Conv1d(3, 3, 3))).__enter__(), TypeError,
     r"module \(Sequential\) has no streaming layers"),
    # -- video: CausalEncoder3D / CausalVideoEncoder / FrameAttention / CausalMidBlock3d / CausalDownEncoder3d ----
    ("video", 3, lambda: _seed_encoder()(_clip(dtype=torch.float64)), TypeError,
     DTYPE.format("float64", "CausalEncoder3D")),
    ("video", 3, lambda: _seed_encoder()(_clip(dtype=torch.float16)), TypeError,
     DTYPE.format("float16", "CausalEncoder3D")),
    ("video", 3, lambda: _encoder()(_clip(dtype=torch.float64)), TypeError,
     DTYPE.format("float64", "CausalVideoEncoder")),
    ("video", 3, lambda: _encoder()(_clip(dtype=torch.bfloat16)), TypeError,
     DTYPE.format("bfloat16", "CausalVideoEncoder")),
    ("video", 3, lambda: _encoder().encode(_clip(dtype=torch.float16)), TypeError,
     DTYPE.format("float16", "CausalVideoEncoder")),
    ("video", 3, lambda: _encoder().encode_stream(_clip(dtype=torch.float64), [1, 4]), TypeError,
     "video has dtype torch.float64 but the CausalVideoEncoder's parameters are torch.float32"),
    ("video", 3, lambda: _frame_attention()(_maps().double()), TypeError, DTYPE.format("float64", "FrameAttention")),
    ("video", 3, lambda: _mid_block()(_maps().double()), TypeError, DTYPE.format("float64", "CausalMidBlock3d")),
    ("video", 3, lambda: _down_block()(_clip().double()), TypeError, DTYPE.format("float64", "CausalDownEncoder3d")),
    ("video", 5, lambda: CausalDownEncoder3d(4, None, num_groups=2), TypeError,
     "out_channels must be an int, got NoneType None"),
    ("video", 4, lambda: _seed_encoder()(_clip(h=0)), ValueError, EMPTY.format("0, 8")),
    ("video", 4, lambda: _encoder()(_clip(h=0)), ValueError, EMPTY.format("0, 8")),
    ("video", 4, lambda: _encoder()(_clip(w=0)), ValueError, EMPTY.format("8, 0")),
    ("video", 4, lambda: _encoder().encode_stream(_clip(h=0), [5]), ValueError,
     r"video has spatial size \(0, 8\); an empty frame"),
    ("video", 4, lambda: _frame_attention()(_maps(h=0)), ValueError, EMPTY.format("0, 3")),
    ("video", 4, lambda: _mid_block()(_maps(w=0)), ValueError, EMPTY.format("3, 0")),
    ("video", 4, lambda: _down_block()(_clip(h=0)), ValueError, EMPTY.format("0, 8")),
    # -- video_measure: per_frame_change / stage_shapes / memory_vs_length --------------------------------------
    ("video_measure", 3, lambda: per_frame_change(_clip(), _clip().double()), TypeError,
     "a and b must have the same dtype and device, got torch.float32 on cpu and torch.float64 on cpu"),
    ("video_measure", 3, lambda: stage_shapes(_encoder(), _clip(dtype=torch.float64)), TypeError,
     DTYPE.format("float64", "CausalVideoEncoder")),
    ("video_measure", 4, lambda: per_frame_change(_clip()[:0], _clip()[:0]), ValueError,
     r"a and b have no values in a frame \(shape \(0, 3, 5, 8, 8\)\)"),
    ("video_measure", 4, lambda: per_frame_change(_clip(c=0), _clip(c=0)), ValueError, "B, C, H and W must be >= 1"),
    ("video_measure", 4, lambda: per_frame_change(_clip(h=0), _clip(h=0)), ValueError, "B, C, H and W must be >= 1"),
    ("video_measure", 4, lambda: stage_shapes(_encoder(), _clip(h=0)), ValueError, EMPTY.format("0, 8")),
    ("video_measure", 4, lambda: memory_vs_length(_encoder(), [3], height=0), ValueError,
     "height must be >= 1, got 0"),
    ("video_measure", 4, lambda: memory_vs_length(_encoder(), [3], width=-1), ValueError,
     "width must be >= 1, got -1"),
    ("video_measure", 6, lambda: memory_vs_length(_encoder(), [3], height=True), TypeError,
     "height must be an int, got bool True"),
    ("video_measure", 7, lambda: memory_vs_length(_encoder(), [3], width=2.0), TypeError,
     "width must be an int, got float 2.0"),
    ("video_measure", 7, lambda: memory_vs_length(_encoder(), [3], device="tpu"), ValueError,
     "device='tpu' is not a device PyTorch knows"),
    ("video_measure", 7, lambda: memory_vs_length(_encoder(), [3], device=0), TypeError,
     "device must be a str such as 'cpu' or 'cuda' or a torch.device, got int 0"),
    ("video_measure", 7, lambda: memory_vs_length(_encoder(), [3], device="meta"), ValueError,
     "device=meta but the model is on cpu"),
    ("video_measure", 7, lambda: per_frame_change(_clip(), _clip().to("meta")), TypeError,
     "a and b must have the same dtype and device, got torch.float32 on cpu and torch.float32 on meta"),
    # -- cost: count_multiply_adds / peak_memory ----------------------------------------------------------------
    ("cost", 3, lambda: count_multiply_adds(CausalConv3d(3, 4, 3), _clip(dtype=torch.float64)), TypeError,
     r"inputs\[0\] has dtype torch.float64 but the CausalConv3d's parameters are torch.float32"),
    ("cost", 3, lambda: count_multiply_adds(nn.Linear(4, 2), torch.randn(3, 4, dtype=torch.float16)), TypeError,
     r"inputs\[0\] has dtype torch.float16 but the Linear's parameters are torch.float32"),
    ("cost", 3, lambda: count_macs(nn.Conv2d(3, 4, 3), torch.randn(1, 3, 8, 8, dtype=torch.float64)), TypeError,
     r"args\[0\] has dtype torch.float64 but the Conv2d's parameters are torch.float32"),
    ("cost", 3, lambda: time_call(nn.Linear(4, 2), torch.randn(3, 4, dtype=torch.float16), repeats=1), TypeError,
     r"args\[0\] has dtype torch.float16 but the Linear's parameters are torch.float32"),
    ("cost", 3, lambda: peak_memory(nn.Linear(4, 2), torch.randn(3, 4, dtype=torch.float64)), TypeError,
     r"args\[0\] has dtype torch.float64 but the Linear's parameters are torch.float32"),
    ("cost", 7, lambda: peak_memory(lambda: None, device="tpu"), ValueError,
     "device='tpu' is not a device PyTorch knows"),
    ("cost", 7, lambda: peak_memory(lambda: None, device=0), TypeError,
     "device must be a str such as 'cpu' or 'cuda' or a torch.device, got int 0"),
    ("cost", 7, lambda: peak_memory(lambda: None, device=True), TypeError, "device must be a str .*, got bool True"),
    ("cost", 7, lambda: peak_memory(lambda: None, device=["cpu"]), TypeError,
     r"device must be a str .*, got list \['cpu'\]"),
    # -- utils: seed_everything / get_device / count_parameters --------------------------------------------------
    ("utils", 6, lambda: count_parameters(nn.Linear(2, 2), trainable_only="no"), TypeError,
     "trainable_only must be a bool, got str 'no'"),
    ("utils", 7, lambda: seed_everything(2**64), ValueError, "seed must be <= 18446744073709551615, got 18446744073709551616"),
    ("utils", 7, lambda: seed_everything(2**70 + 1), ValueError, "seed must be <= "),
    ("utils", 7, lambda: get_device("tpu"), ValueError, "prefer='tpu' is not a device PyTorch knows"),
    ("utils", 7, lambda: get_device("cuda:x"), ValueError, "prefer='cuda:x' is not a device PyTorch knows"),
    ("utils", 7, lambda: get_device(""), ValueError, "prefer='' is not a device PyTorch knows"),
    ("utils", 7, lambda: get_device("meta"), ValueError,
     "prefer='meta': encoderlab runs on 'cpu', 'cuda' or 'mps', got device type 'meta'"),
    ("utils", 7, lambda: get_device("xpu"), ValueError, "prefer='xpu': encoderlab runs on 'cpu', 'cuda' or 'mps'"),
    ("utils", 6, lambda: get_device(False), TypeError, "prefer must be a str such as 'cpu' or 'cuda'.*, got bool"),
    # -- video_data: moving_shapes ------------------------------------------------------------------------------
    ("video_data", 7, lambda: moving_shapes(3, seed=2**64), ValueError, "seed must be <= 18446744073709551615"),
    ("video_data", 7, lambda: moving_shapes(3, device="tpu"), ValueError,
     "device='tpu' is not a device PyTorch knows"),
    ("video_data", 7, lambda: moving_shapes(3, device=0), TypeError, "device must be a str .*, got int 0"),
    ("video_data", 7, lambda: moving_shapes(3, device="meta"), ValueError,
     "device='meta': encoderlab runs on 'cpu', 'cuda' or 'mps'"),
]

# where this machine has no CUDA device, asking for one is a bad input too (refused before any work)
CUDA_CASES = [
    ("video_measure", 7, lambda: memory_vs_length(_encoder(), [3], device="cuda"), ValueError,
     "device=cuda but the model is on cpu"),
    ("cost", 7, lambda: peak_memory(lambda: None, device="cuda"), ValueError,
     "device='cuda' but no CUDA device is available"),
    ("utils", 7, lambda: get_device(torch.device("cuda", 0)), ValueError, "prefer='cuda:0' but no CUDA device"),
    ("video_data", 7, lambda: moving_shapes(3, device="cuda"), ValueError,
     "device='cuda' but no CUDA device is available"),
]


def _rows(cases):
    return [pytest.param(call, error, fragment, id=f"{module}-class{cls}-{i}")
            for i, (module, cls, call, error, fragment) in enumerate(cases)]


def _raised_by_encoderlab(excinfo) -> bool:
    """The error comes from encoderlab's own checks, not from inside PyTorch, NumPy or Python's random."""
    last = str(excinfo.traceback[-1].path)
    return f"{os.sep}encoderlab{os.sep}" in last


@pytest.mark.parametrize(("call", "error", "fragment"), _rows(CASES))
def test_bad_input_is_refused_clearly(call, error, fragment):
    with pytest.raises(error, match=fragment) as excinfo:
        call()
    assert _raised_by_encoderlab(excinfo), excinfo.traceback[-1]


@pytest.mark.skipif(not NO_CUDA, reason="this machine has a CUDA device")
@pytest.mark.parametrize(("call", "error", "fragment"), _rows(CUDA_CASES))
def test_a_missing_cuda_device_is_refused_clearly(call, error, fragment):
    with pytest.raises(error, match=fragment) as excinfo:
        call()
    assert _raised_by_encoderlab(excinfo)


def test_counts():
    """The closing note's count of bad inputs, by module and class (the rows above + the properties below)."""
    counts = Counter((module, cls) for module, cls, *_ in CASES + CUDA_CASES)
    assert sum(counts.values()) == len(CASES) + len(CUDA_CASES) == 78
    assert counts["video", 3] == 9 and counts["video", 4] == 7 and counts["causal", 7] == 4


def test_an_unknown_device_in_the_environment_variable_is_named(monkeypatch):
    monkeypatch.setenv("ENCODERLAB_DEVICE", "tpu")
    with pytest.raises(ValueError, match="ENCODERLAB_DEVICE='tpu' is not a device PyTorch knows"):
        get_device()


def test_latent_frames_of_a_huge_number_of_stages_answers_at_once():
    """Once a clip is down to 1 frame it stays 1 frame: 10**12 stages must not mean 10**12 iterations."""
    assert latent_frames(9, 10**12) == 1 == latent_frames(10**30, 10**12)
    assert latent_frames(10**30, 3) == 1 + (10**30 - 1) // 8


def test_memory_vs_length_makes_its_clips_in_the_models_dtype():
    """The function makes its own input, so it casts deliberately: a float64 model is measured, not refused."""
    model = CausalVideoEncoder(**TINY).double().eval()
    rows = memory_vs_length(model, [2], height=4, width=4, chunk=1)
    assert [row["frames"] for row in rows] == [2] and rows[0]["whole_bytes"] > 0


def test_a_matching_dtype_and_autocast_are_accepted():
    """The other side of the one dtype rule: the same dtype on both sides, or autocast, runs."""
    model = _encoder()
    with torch.no_grad():
        assert model.double()(_clip(dtype=torch.float64)).dtype == torch.float64
        model.float()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            assert model.encode_stream(_clip(), [2, 3]).dtype == torch.bfloat16


# -- properties --------------------------------------------------------------------------------------------------
FEW = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FEW
@given(seed=st.integers(min_value=2**64, max_value=2**80))
def test_a_seed_out_of_range_fails_before_anything_is_reseeded(seed):
    random.seed(11)
    np.random.seed(11)
    python_state, numpy_state = random.getstate(), np.random.get_state()[1].copy()
    with pytest.raises(ValueError, match="seed must be <= 18446744073709551615"):
        seed_everything(seed)
    assert random.getstate() == python_state
    assert np.array_equal(np.random.get_state()[1], numpy_state)


@FEW
@given(value=st.one_of(st.integers(), st.none(), st.floats(allow_nan=True), st.text(max_size=3)))
def test_temporal_receptive_field_names_a_kernel_list_that_is_not_a_sequence(value):
    with pytest.raises(TypeError, match="kernel_sizes must be a sequence of ints such as"):
        temporal_receptive_field(value)


@FEW
@given(h=st.integers(0, 3), w=st.integers(0, 3), k=st.integers(1, 5), d=st.integers(1, 2))
def test_an_empty_frame_is_refused_by_every_causal_conv(h, w, k, d):
    if h and w:
        return  # only empty frames here
    conv = CausalConv3d(2, 2, (1, k, k), dilation=(1, d, d))
    with pytest.raises(ValueError, match=rf"x has spatial size \({h}, {w}\)"):
        conv(torch.randn(1, 2, 2, h, w))


@FEW
@given(dtype=st.sampled_from([torch.float16, torch.bfloat16, torch.float64]),
       entry=st.sampled_from(["conv", "encoder", "seed", "attention", "stream"]))
def test_an_input_of_another_dtype_is_refused_at_every_model_entry(dtype, entry):
    calls = {
        "conv": lambda x: CausalConv3d(3, 4, 3)(x),
        "encoder": lambda x: _encoder()(x),
        "seed": lambda x: _seed_encoder()(x),
        "attention": lambda x: FrameAttention(3, num_groups=1)(x),
        "stream": lambda x: _encoder().encode_stream(x, [2, 3]),
    }
    with pytest.raises(TypeError, match=f"has dtype {dtype} but the .*'s parameters are torch.float32"):
        calls[entry](_clip(dtype=dtype))


@FEW
@given(plan=st.lists(st.integers(1, 4), min_size=1, max_size=5))
def test_a_module_without_causal_convs_cannot_be_streamed_with_any_plan(plan):
    """Chunk by chunk a plain conv sees every chunk as a clip of its own: the result would be silently wrong."""
    plain = nn.Sequential(nn.Conv3d(3, 3, (3, 1, 1), padding=(1, 0, 0))).eval()
    with pytest.raises(TypeError, match="has no streaming layers"):
        encode_stream(plain, _clip(t=sum(plan), h=2, w=2), plan)
