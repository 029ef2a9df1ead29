"""Bad *inputs* to every public forward of the image models, refused with a ValueError/TypeError that names
the input, before any computation (issue 15, classes 2-4 and 7).

One table, generated from the entries of ``tests/_bad_input_models.py`` (every public forward and model method
of norm, conv, attention, mid_block, resnet, vae, ldm, convnext, encoder_nets and distributions):

- complex input (class 2): ``TypeError`` "must be a real tensor";
- an input dtype other than the parameters' (class 3; float64 and float16 into a float32 module, outside
  autocast): ``TypeError`` "has dtype ... but the ...'s parameters are torch.float32";
- an empty spatial axis, and a size too small for the entry (class 4): ``ValueError`` naming the spatial size;
- not a tensor at all (class 7): ``TypeError`` "must be a torch.Tensor".

Every entry also runs on its good input, so that no row passes only because the entry is broken.
"""

from __future__ import annotations

import pytest
import torch
from _bad_input_models import EMPTY_IN_EMPTY_OUT, ENTRIES, model
from hypothesis import given, settings
from hypothesis import strategies as st

_IDS = [f"{e.module}:{e.label}" for e in ENTRIES]


def _rows():
    rows = []
    for e in ENTRIES:
        rows.append(pytest.param(e, torch.zeros(e.shape, dtype=torch.complex64), TypeError, "must be a real tensor",
                                 id=f"{e.module}:{e.label}:complex"))
        rows.append(pytest.param(e, torch.zeros(e.shape).tolist(), TypeError, "must be a torch.Tensor",
                                 id=f"{e.module}:{e.label}:list"))
        if e.params:
            for dtype in (torch.float64, torch.float16):
                rows.append(pytest.param(e, torch.zeros(e.shape, dtype=dtype), TypeError,
                                         f"has dtype {dtype} but the", id=f"{e.module}:{e.label}:{dtype}"))
        if len(e.shape) > 2 and e.empty_fragment is not None:
            for axis in (-1, -2) if len(e.shape) > 3 else (-1,):
                shape = list(e.shape)
                shape[axis] = 0
                rows.append(pytest.param(e, torch.zeros(shape), ValueError, e.empty_fragment,
                                         id=f"{e.module}:{e.label}:empty{axis}"))
        if e.small is not None:
            shape = list(e.shape[:2]) + [e.small] * (len(e.shape) - 2)
            # every too-small refusal states the spatial size it got (or the map it reaches) and what it needs
            rows.append(pytest.param(e, torch.zeros(shape), ValueError,
                                     r"spatial size \(|single-element map \(",
                                     id=f"{e.module}:{e.label}:small{e.small}"))
    return rows


ROWS = _rows()


@pytest.mark.parametrize("entry", ENTRIES, ids=_IDS)
def test_every_entry_takes_its_good_input(entry):
    with torch.no_grad():
        entry.call(torch.randn(entry.shape))


@pytest.mark.parametrize("entry,x,error,fragment", ROWS)
def test_bad_input_is_refused_naming_the_input(entry, x, error, fragment):
    with pytest.raises(error, match=fragment) as info:
        entry.call(x)
    assert str(info.value).startswith(entry.arg) or f" {entry.arg} " in str(info.value), str(info.value)


@pytest.mark.parametrize("name", EMPTY_IN_EMPTY_OUT)
def test_norms_map_an_empty_map_to_an_empty_map(name):
    shape = (1, 4, 0, 3, 3) if name.startswith("PerFrame") else (1, 4, 3, 0)
    assert model(name)(torch.zeros(shape)).shape == shape


def test_the_dtype_rule_does_not_apply_under_autocast():
    """Under torch.autocast mixed dtypes are what autocast is for: a bfloat16 input runs, output bfloat16."""
    x = torch.randn(1, 4, 3, 3).bfloat16()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert model("GroupNorm")(x).dtype == torch.bfloat16
        assert model("ConvNeXtBlock")(x).shape == x.shape


@settings(max_examples=40, deadline=None)
@given(h=st.integers(0, 12), w=st.integers(0, 12))
def test_encoder_refuses_every_size_that_is_not_a_positive_multiple(h, w):
    """The LDM encoder and the ConvNeXt chapter's SmallEncoder (f = 2): exactly the positive multiples of f run
    (and the LDM encoder, whose level 1 starts with a GroupNorm of one channel per group, needs a 2-pixel latent)."""
    for name in ("Encoder", "SmallEncoder"):
        x = torch.randn(1, 3, h, w)
        if name == "Encoder" and h == w == 2:
            with pytest.raises(ValueError, match="too small: level 1 runs at"):
                model(name)(x)
        elif h > 0 and w > 0 and h % 2 == 0 and w % 2 == 0:
            with torch.no_grad():
                assert model(name)(x).shape[-2:] == (h // 2, w // 2)
        else:
            with pytest.raises(ValueError, match="positive multiple of 2"):
                model(name)(x)


@settings(max_examples=30, deadline=None)
@given(h=st.integers(0, 5), w=st.integers(0, 5), conv=st.booleans())
def test_downsample_refuses_every_map_it_cannot_halve(h, w, conv):
    """LDM's Downsample (conv or pooling) halves maps of at least 2x2 and refuses the rest clearly."""
    down = model("Downsample" if conv else "Downsample(with_conv=False)")
    x = torch.randn(1, 4, h, w)
    if min(h, w) >= 2:
        assert down(x).shape[-2:] == (h // 2, w // 2)
    else:
        with pytest.raises(ValueError, match="at least 2x2"):
            down(x)


@settings(max_examples=30, deadline=None)
@given(h=st.integers(0, 12), w=st.integers(0, 12))
def test_roadmap_net_refuses_maps_its_stem_and_downsamplers_empty(h, w):
    """Patchify stem (/4) then a 2x2 stride-2 downsampler: at least 8x8, refused below, computed above."""
    net = model("RoadmapNet")
    x = torch.randn(1, 3, h, w)
    if min(h, w) >= 8:
        with torch.no_grad():
            assert net(x).shape == (1, 3)
    else:
        with pytest.raises(ValueError, match="at least 8"):
            net(x)
