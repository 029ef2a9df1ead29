"""bfloat16 and compilation for the fast path (Chapter 7, *Faster than production*).

- :func:`encoderlab.fast.bfloat16_autocast`: GroupNorm statistics and the attention softmax stay in float32,
  and the encoder's and decoder's bfloat16 outputs are as close to float32 as diffusers' are (the oracle);
- ``torch.compile``: the sped-up encoder and decoder compile without a graph break and equal eager.
"""

import pytest
import torch
import torch.nn.functional as F
from test_ldm import SMALL_ATTN, randomise

from encoderlab import GroupNorm
from encoderlab.fast import bfloat16_autocast, low_precision_group_norm, speed_up
from encoderlab.ldm import Decoder, Encoder
from encoderlab.weights import diffusers_config, export_weights

diffusers = pytest.importorskip("diffusers")
from diffusers.models.autoencoders.vae import Decoder as DiffusersDecoder  # noqa: E402
from diffusers.models.autoencoders.vae import Encoder as DiffusersEncoder  # noqa: E402


@pytest.mark.parametrize("path", ["plain", "fast"])
def test_group_norm_statistics_stay_float32_under_bfloat16_autocast(path):
    """On a bfloat16 input with a large offset the only error left is the rounding of the bfloat16 output (at most
    half a unit in the last place, 2**-8 relative): the statistics were not taken in 8 bits. Summing the 2048 values
    of a group in bfloat16 instead would be off by whole units."""
    torch.manual_seed(0)
    norm = GroupNorm(4, 32)
    x = (100 + torch.randn(2, 32, 16, 16)).bfloat16()
    exact = F.group_norm(x.double(), 4, eps=1e-5)  # float64 statistics of the same bfloat16 values
    with bfloat16_autocast("cpu"):
        ours = norm(x) if path == "plain" else low_precision_group_norm(norm, x)
    assert ours.dtype == torch.bfloat16
    assert ((ours.double() - exact).abs() <= exact.abs() * 2**-8 + 1e-6).all()
    grouped = x.reshape(2, 4, -1)
    bf16_sum = torch.zeros(2, 4, dtype=torch.bfloat16)
    for i in range(grouped.shape[-1]):  # a running sum kept in bfloat16
        bf16_sum += grouped[..., i]
    assert (bf16_sum.double() / grouped.shape[-1] - grouped.double().mean(-1)).abs().max() > 1


@pytest.mark.parametrize("part", ["encoder", "decoder"])
def test_bfloat16_error_is_as_small_as_diffusers(part):
    ours_cls, ref_cls, x = ((Encoder, DiffusersEncoder, torch.randn(1, 3, 32, 32)) if part == "encoder" else
                            (Decoder, DiffusersDecoder, torch.randn(1, 4, 8, 8)))
    ours = speed_up(randomise(ours_cls(**SMALL_ATTN), 8))
    ref = ref_cls(**diffusers_config(ours)).eval()
    ref.load_state_dict(export_weights(ours, "diffusers"), strict=True)
    with torch.no_grad():
        full = ref(x)
        with bfloat16_autocast("cpu"):
            ours_bf16, ref_bf16 = ours(x), ref(x)
    ours_err = (ours_bf16.float() - full).abs().max().item()
    ref_err = (ref_bf16.float() - full).abs().max().item()
    assert ours_bf16.dtype == torch.bfloat16
    assert ours_err < 0.05 * full.abs().max().item() and ours_err <= 1.5 * ref_err


def test_fast_group_norm_is_the_plain_one_outside_bfloat16():
    norm = GroupNorm(4, 32)
    with torch.no_grad():
        norm.weight.normal_(1, 0.2), norm.bias.normal_(0, 0.1)
    x = torch.randn(2, 32, 8, 8)
    assert torch.equal(low_precision_group_norm(norm, x), norm(x))
    with pytest.raises(ValueError, match="expected 32"):
        low_precision_group_norm(norm, torch.randn(1, 8, 4, 4).bfloat16())


def test_bfloat16_autocast_bad_device():
    with pytest.raises(TypeError, match="device must be a str"):
        bfloat16_autocast(3)
    with pytest.raises(ValueError, match="CPU or CUDA"):
        bfloat16_autocast("meta")


TINY = dict(ch=32, out_ch=3, ch_mult=(1, 2), num_res_blocks=1, attn_resolutions=[8], in_channels=3,
            resolution=16, z_channels=4)


@pytest.mark.parametrize("part", ["encoder", "decoder"])
def test_fast_models_compile_without_graph_breaks(part):
    """``torch._dynamo.explain`` traces the whole forward pass as one graph; the compiled model equals eager
    (tiny configs: a few seconds each on 2 CPU cores)."""
    torch._dynamo.reset()
    cls, x = (Encoder, torch.randn(1, 3, 16, 16)) if part == "encoder" else (Decoder, torch.randn(1, 4, 8, 8))
    model = speed_up(randomise(cls(**TINY), 9))
    with torch.no_grad():
        # through a call, as torch.compile(model) traces it: the output hook is inlined into the one graph
        # (explaining the bare module would trace forward and the hook as two frames)
        explanation = torch._dynamo.explain(lambda t: model(t))(x)
        assert explanation.graph_break_count == 0, explanation.break_reasons
        assert explanation.graph_count == 1
        # aot_eager: Dynamo's graph through AOTAutograd's decompositions, run by eager kernels. Inductor's C++
        # code generation takes minutes on 2 cores; benchmarks/ldm_vs_diffusers.py runs it (and checks it).
        compiled = torch.compile(model, backend="aot_eager")
        torch.testing.assert_close(compiled(x), model(x), atol=1e-5, rtol=1e-5)


def test_native_bfloat16_is_read_from_the_cpu_flags(monkeypatch, tmp_path):
    import builtins

    from encoderlab.fast import cpu_has_native_bfloat16

    real_open = builtins.open
    for flags, want in (("fpu avx2 avx512f avx512_bf16", True), ("fpu avx2 amx_bf16", True), ("fpu avx2 fma", False)):
        info = tmp_path / "cpuinfo"
        info.write_text(f"processor\t: 0\nflags\t\t: {flags}\n")
        monkeypatch.setattr(builtins, "open", lambda p, *a, info=info, **k: real_open(
            info if p == "/proc/cpuinfo" else p, *a, **k))
        assert cpu_has_native_bfloat16() is want
        monkeypatch.setattr(builtins, "open", real_open)
