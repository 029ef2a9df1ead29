"""The latent-diffusion building blocks against diffusers' own layers, with weights transplanted.

diffusers models are built locally with random weights; nothing is downloaded.
"""

import pytest
import torch

diffusers = pytest.importorskip("diffusers")
from diffusers.models.downsampling import Downsample2D  # noqa: E402
from diffusers.models.resnet import ResnetBlock2D  # noqa: E402
from diffusers.models.unets.unet_2d_blocks import UNetMidBlock2D  # noqa: E402
from diffusers.models.upsampling import Upsample2D  # noqa: E402
from weights_helpers import randomise  # noqa: E402

from encoderlab.attention import AttnBlock  # noqa: E402
from encoderlab.conv import Downsample, Upsample  # noqa: E402
from encoderlab.resnet import ResnetBlock  # noqa: E402


def _randomise(module, seed=0):
    return randomise(module, seed, scale=0.2)


@pytest.mark.parametrize("cin,cout", [(32, 32), (32, 64)])
def test_resnet_block_equals_diffusers(cin, cout):
    ref = _randomise(ResnetBlock2D(in_channels=cin, out_channels=cout, temb_channels=None, eps=1e-6, groups=32))
    ours = ResnetBlock(cin, cout).eval()
    state = {k.replace("conv_shortcut", "nin_shortcut"): v for k, v in ref.state_dict().items()}
    ours.load_state_dict(state, strict=True)
    x = torch.randn(2, cin, 9, 8)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), ref(x, None), atol=1e-5, rtol=0)


def test_attention_block_equals_diffusers_mid_block_attention():
    c = 64
    mid = UNetMidBlock2D(in_channels=c, temb_channels=None, resnet_eps=1e-6, resnet_groups=32,
                         attention_head_dim=c, add_attention=True)
    ref = _randomise(mid.attentions[0])
    for backend in ("sdpa", "explicit"):
        ours = AttnBlock(c, backend=backend).eval()
        sd = ref.state_dict()
        ours.load_state_dict({
            "norm.weight": sd["group_norm.weight"], "norm.bias": sd["group_norm.bias"],
            **{f"{a}.weight": sd[f"{b}.weight"][:, :, None, None] for a, b in
               (("q", "to_q"), ("k", "to_k"), ("v", "to_v"), ("proj_out", "to_out.0"))},
            **{f"{a}.bias": sd[f"{b}.bias"] for a, b in
               (("q", "to_q"), ("k", "to_k"), ("v", "to_v"), ("proj_out", "to_out.0"))},
        })
        x = torch.randn(2, c, 6, 5)
        with torch.no_grad():
            torch.testing.assert_close(ours(x), ref(x), atol=1e-5, rtol=0)


@pytest.mark.parametrize("size", [(8, 8), (9, 7)])
def test_downsample_equals_diffusers(size):
    ref = _randomise(Downsample2D(32, use_conv=True, out_channels=32, padding=0, name="op"))
    ours = Downsample(32).eval()
    ours.conv.load_state_dict(ref.conv.state_dict())
    x = torch.randn(1, 32, *size)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), ref(x), atol=1e-5, rtol=0)


def test_upsample_equals_diffusers():
    ref = _randomise(Upsample2D(32, use_conv=True, out_channels=32))
    ours = Upsample(32).eval()
    ours.conv.load_state_dict(ref.conv.state_dict())
    x = torch.randn(1, 32, 5, 6)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), ref(x), atol=1e-5, rtol=0)
