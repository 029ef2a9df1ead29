"""Chapter 6, *A ConvNeXt block inside our encoder* (``encoderlab.convnext.bridge``): ConvNeXtResnetBlock against
ConvNeXtBlock and ResnetBlock's interface, SmallEncoder / SmallDecoder against diffusers' encoder down path."""

import pytest
import torch

from encoderlab import ConvNeXtBlock, Downsample, ResnetBlock, Upsample, count_multiply_adds, count_parameters
from encoderlab.convnext.bridge import ConvNeXtResnetBlock, SmallDecoder, SmallEncoder


def test_convnext_resnet_block_equals_convnext_block_when_channels_match():
    torch.manual_seed(0)
    a = ConvNeXtBlock(16, layer_scale_init_value=0.3).eval()
    b = ConvNeXtResnetBlock(16, 16, layer_scale_init_value=0.3).eval()
    b.load_state_dict(a.state_dict())  # same keys
    x = torch.randn(2, 16, 7, 7)
    torch.testing.assert_close(b(x), a(x), atol=1e-6, rtol=0)


def test_convnext_resnet_block_has_resnetblock_interface():
    torch.manual_seed(0)
    x = torch.randn(2, 32, 8, 8)
    ours, ldm = ConvNeXtResnetBlock(32, 64), ResnetBlock(32, 64, num_groups=8)
    assert ours(x).shape == ldm(x).shape == (2, 64, 8, 8)
    assert hasattr(ours, "nin_shortcut") and hasattr(ldm, "nin_shortcut")
    # at init the branch is scaled by 1e-6: the block is its shortcut
    torch.testing.assert_close(ours(x), ours.nin_shortcut(x), atol=1e-4, rtol=0)
    c_in, c_out = 32, 64
    expected = (49 * c_in + c_in) + 2 * c_in + (c_in * 4 * c_out + 4 * c_out) + (4 * c_out * c_out + c_out) + c_out
    assert count_parameters(ours) == expected + c_in * c_out + c_out


@pytest.mark.parametrize("block_type", ["resnet", "convnext"])
def test_small_encoder_and_decoder_shapes(block_type):
    enc = SmallEncoder(1, ch=16, ch_mult=(1, 2, 2), z_channels=3, block_type=block_type)
    dec = SmallDecoder(1, ch=16, ch_mult=(1, 2, 2), z_channels=3)
    x = torch.randn(2, 1, 8, 8)
    z = enc(x)
    assert z.shape == (2, 3, 2, 2) and dec(z).shape == (2, 1, 8, 8)
    kinds = {type(b) for level in enc.down for b in level.block}
    assert kinds == {ResnetBlock if block_type == "resnet" else ConvNeXtResnetBlock}
    assert all(isinstance(level.downsample, Downsample) for level in enc.down[:-1])
    assert all(isinstance(level.upsample, Upsample) for level in dec.up[:-1])
    assert not hasattr(enc.down[-1], "downsample") and not hasattr(dec.up[-1], "upsample")
    # a level runs its blocks, then its resampler: the forward is the loop over levels
    with torch.no_grad():
        h = enc.conv_in(x)
        for level in enc.down:
            for block in level.block:
                h = block(h)
            h = level.downsample(h) if hasattr(level, "downsample") else h
        torch.testing.assert_close(enc.conv_out(torch.nn.functional.silu(enc.norm_out(h))), z, atol=0, rtol=0)


def test_small_encoders_differ_only_in_their_blocks():
    res = SmallEncoder(3, ch=32, ch_mult=(1, 2), block_type="resnet")
    cnx = SmallEncoder(3, ch=32, ch_mult=(1, 2), block_type="convnext")
    def blocks(e):
        return sum(count_parameters(b) for level in e.down for b in level.block)
    assert count_parameters(res) - blocks(res) == count_parameters(cnx) - blocks(cnx)


def test_small_encoder_argument_checks():
    with pytest.raises(ValueError, match="block_type must be one of"):
        SmallEncoder(block_type="vit")
    with pytest.raises(ValueError, match=r"spatial size \(7, 7\); 2\*\*\(levels - 1\) = 2 for 2 levels"):
        SmallEncoder(1, ch_mult=(1, 2))(torch.randn(1, 1, 7, 7))
    with pytest.raises(ValueError, match="x has 3 channels"):
        SmallEncoder(1)(torch.randn(1, 3, 8, 8))
    with pytest.raises(TypeError, match="kernel_size must be an int"):
        SmallEncoder(1, block_type="convnext", kernel_size=7.0)
    with pytest.raises(ValueError, match="ch_mult must have at least 1 entry"):
        SmallDecoder(1, ch_mult=())
    with pytest.raises(ValueError, match=r"ch \* ch_mult\[i\]=12 must be divisible by num_groups=8"):
        SmallDecoder(1, ch=12, ch_mult=(1,))


def test_resnet_small_encoder_equals_the_diffusers_down_path():
    """Our SmallEncoder with ResnetBlocks is diffusers' VAE Encoder without its mid block (weights transplanted)."""
    from diffusers.models.autoencoders.vae import Encoder

    torch.manual_seed(0)
    ref = Encoder(in_channels=3, out_channels=4, down_block_types=("DownEncoderBlock2D",) * 3,
                  block_out_channels=(16, 32, 32), layers_per_block=2, norm_num_groups=8, double_z=True).eval()
    ours = SmallEncoder(3, ch=16, ch_mult=(1, 2, 2), num_blocks=2, z_channels=8, num_groups=8).eval()
    mapped = {}
    for key, value in ref.state_dict().items():
        if key.startswith("mid_block."):
            continue
        new = (key.replace("down_blocks.", "down.").replace(".resnets.", ".block.")
               .replace(".downsamplers.0.", ".downsample.").replace("conv_shortcut", "nin_shortcut")
               .replace("conv_norm_out", "norm_out"))
        mapped[new] = value
    ours.load_state_dict(mapped)  # strict: every key of ours is matched
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        h = ref.conv_in(x)
        for block in ref.down_blocks:
            h = block(h)
        want = ref.conv_out(ref.conv_act(ref.conv_norm_out(h)))
        torch.testing.assert_close(ours(x), want, atol=1e-5, rtol=0)
    # and at Stable Diffusion's size: 34,163,592 (the SD VAE encoder) minus its mid block
    with torch.device("meta"):
        sd = Encoder(in_channels=3, out_channels=4, down_block_types=("DownEncoderBlock2D",) * 4,
                     block_out_channels=(128, 256, 512, 512), layers_per_block=2, double_z=True)
        big = SmallEncoder(3, ch=128, ch_mult=(1, 2, 4, 4), num_blocks=2, z_channels=8, num_groups=32)
    assert count_parameters(sd) == 34_163_592
    assert count_parameters(big) == count_parameters(sd) - count_parameters(sd.mid_block) == 23_668_616


def test_count_multiply_adds_by_module():
    with torch.device("meta"):
        enc = SmallEncoder(3, ch=32, ch_mult=(1, 2), num_blocks=1, num_groups=8)
        x = torch.empty(2, 3, 16, 16)
    per = count_multiply_adds(enc, x, by_module=True)
    assert per[""] == count_multiply_adds(enc, x)
    assert per["down.0.block.0.conv1"] == 2 * 16 * 16 * 9 * 32 * 32
    parts = ("conv_in", "down.0.block.0", "down.0.downsample", "down.1.block.0", "conv_out")
    assert per[""] == sum(per[k] for k in parts)
    with pytest.raises(TypeError, match="by_module must be a bool"):
        count_multiply_adds(enc, x, by_module="yes")
