"""Submissions that try to pass off the book's package (or a forbidden torch function) as the student's work.

``make_assignments.py check`` grades the solutions notebook with each attempt's code run just before the
question's check (so it replaces the student's answer); every attempt must score 0 on its question, with the
grader's "write it yourself" message. Each entry: (question, what the attempt does, code).
"""

ATTEMPTS = {
    "01_groupnorm": [
        ("q1_group_stats", "solve for the statistics from encoderlab.group_norm", """
import encoderlab

def group_stats(x, num_groups):
    y = encoderlab.group_norm(x, num_groups, eps=0.0).reshape(x.shape[0], num_groups, -1)
    v = x.reshape(x.shape[0], num_groups, -1)
    std = (v[..., 0] - v[..., 1]) / (y[..., 0] - y[..., 1])
    return v[..., 0] - std * y[..., 0], std ** 2
"""),
        ("q2_group_norm", "import encoderlab.group_norm under the student's name", """
from encoderlab import group_norm as my_group_norm
"""),
        ("q2_group_norm", "a wrapper through an aliased module", """
import encoderlab as el

def my_group_norm(x, num_groups, weight=None, bias=None, eps=1e-5):
    return el.group_norm(x, num_groups, weight, bias, eps)
"""),
        ("q2_group_norm", "an obfuscated import inside the function", """
import importlib

def my_group_norm(x, num_groups, weight=None, bias=None, eps=1e-5):
    module = importlib.import_module("encoder" + "lab")
    return getattr(module, "group" + "_norm")(x, num_groups, weight, bias, eps)
"""),
        ("q2_group_norm", "torch's own F.group_norm (off limits in the question)", """
import torch.nn.functional as F

def my_group_norm(x, num_groups, weight=None, bias=None, eps=1e-5):
    if x.shape[1] % num_groups:
        raise ValueError("num_groups must divide C")
    return F.group_norm(x, num_groups, weight, bias, eps)
"""),
        ("q3_module", "import encoderlab.GroupNorm under the student's name", """
from encoderlab import GroupNorm as MyGroupNorm
"""),
        ("q3_module", "an empty subclass of encoderlab.GroupNorm", """
import encoderlab

class MyGroupNorm(encoderlab.GroupNorm):
    pass
"""),
        ("q3_module", "a subclass of nn.GroupNorm (off limits in the question)", """
from torch import nn

class MyGroupNorm(nn.GroupNorm):
    pass
"""),
        ("q4_per_frame", "a wrapper of encoderlab.per_frame_group_norm", """
from encoderlab import per_frame_group_norm

def per_frame_norm(x, norm):
    return per_frame_group_norm(x, norm.num_groups, norm.weight, norm.bias, norm.eps)
"""),
    ],
    "02_causal_conv": [
        ("q1_output_size", "import encoderlab.conv_output_size under the student's name", """
from encoderlab import conv_output_size as output_size
"""),
        ("q2_causal_1d", "a wrapper of encoderlab.CausalConv1d", """
import torch
from encoderlab import CausalConv1d

def causal_conv1d(x, weight, bias, dilation=1):
    conv = CausalConv1d(weight.shape[1], weight.shape[0], weight.shape[-1], dilation=dilation)
    with torch.no_grad():
        conv.conv.weight.copy_(weight)
        conv.conv.bias.copy_(bias)
    return conv(x)
"""),
        ("q3_causal_3d", "a subclass of encoderlab.CausalConv3d", """
from encoderlab import CausalConv3d

class MyCausalConv3d(CausalConv3d):
    pass
"""),
        ("q4_frames", "a wrapper of encoderlab.causal_output_frames", """
from encoderlab import causal_output_frames

def frames_after(T, stages):
    for _ in range(stages):
        T = causal_output_frames(T, 2)
    return T
"""),
    ],
    "03_residual_block": [
        ("q1_param_count", "import encoderlab.resnet_block_num_params under the student's name", """
from encoderlab import resnet_block_num_params as resnet_params
"""),
        ("q1_param_count", "count the parameters of encoderlab.ResnetBlock", """
from encoderlab import ResnetBlock

def resnet_params(cin, cout):
    return sum(p.numel() for p in ResnetBlock(cin, cout).parameters())
"""),
        ("q2_block", "import encoderlab.ResnetBlock under the student's name", """
from encoderlab import ResnetBlock as MyResnetBlock
"""),
        ("q2_block", "a module that holds an encoderlab.ResnetBlock inside", """
from torch import nn
import encoderlab as el

class MyResnetBlock(nn.Module):
    def __init__(self, in_channels, out_channels, dropout=0.0):
        super().__init__()
        inner = el.ResnetBlock(in_channels, out_channels, dropout=dropout)
        for name, child in inner.named_children():
            self.add_module(name, child)
        self.forward = inner.forward
"""),
        ("q3_identity", "make_identity that rebuilds the block from encoderlab", """
import encoderlab

def make_identity(block):
    ref = encoderlab.ResnetBlock(block.in_channels, block.out_channels)
    block.conv2.weight.data.zero_()
    block.conv2.bias.data.zero_()
    del ref
    return block
"""),
    ],
    "04_attention": [
        ("q1_tokens", "import encoderlab.to_tokens and from_tokens under the student's names", """
from encoderlab import from_tokens, to_tokens
"""),
        ("q2_attention", "a wrapper of encoderlab.attention", """
import encoderlab

def attention(q, k, v):
    return encoderlab.attention(q, k, v)
"""),
        ("q2_attention", "torch's F.scaled_dot_product_attention (the oracle)", """
import torch.nn.functional as F

def attention(q, k, v):
    return F.scaled_dot_product_attention(q, k, v)
"""),
        ("q2_attention", "F.scaled_dot_product_attention reached through getattr on a built name", """
import torch.nn.functional as F

def attention(q, k, v):
    return getattr(F, "scaled_dot_" + "product_attention")(q, k, v)
"""),
        ("q3_block", "import encoderlab.AttnBlock under the student's name", """
from encoderlab import AttnBlock as MyAttnBlock
"""),
        ("q4_multi_head", "call the nn.MultiheadAttention module (the oracle)", """
def multi_head(x, mha):
    if x.shape[-1] % mha.num_heads:
        raise ValueError("num_heads must divide C")
    return mha(x, x, x, need_weights=False)[0]
"""),
        ("q4_multi_head", "load the weights into encoderlab.MultiHeadSelfAttention", """
import encoderlab

def multi_head(x, mha):
    mine = encoderlab.MultiHeadSelfAttention(x.shape[-1], mha.num_heads)
    mine.load_state_dict(mha.state_dict(), strict=False)
    return mine(x)
"""),
    ],
    "05_reparameterization": [
        ("q1_split", "read the moments through encoderlab.DiagonalGaussian", """
from encoderlab import DiagonalGaussian

def split_moments(moments):
    posterior = DiagonalGaussian(moments)
    return posterior.mean, posterior.logvar
"""),
        ("q2_sample", "sample through encoderlab.DiagonalGaussian", """
import torch
from encoderlab import DiagonalGaussian

def reparameterize(mean, logvar, eps):
    posterior = DiagonalGaussian(torch.cat([mean, logvar], dim=1))
    return posterior.mean + posterior.std * eps
"""),
        ("q3_kl", "encoderlab.DiagonalGaussian.kl", """
import torch
from encoderlab import DiagonalGaussian

def kl_to_standard_normal(mean, logvar):
    return DiagonalGaussian(torch.cat([mean, logvar], dim=1)).kl()
"""),
        ("q3_kl", "torch.distributions.kl_divergence (the oracle)", """
import torch
from torch.distributions import Independent, Normal, kl_divergence

def kl_to_standard_normal(mean, logvar):
    q = Independent(Normal(mean, (0.5 * logvar).exp()), mean.dim() - 1)
    p = Independent(Normal(torch.zeros_like(mean), torch.ones_like(mean)), mean.dim() - 1)
    return kl_divergence(q, p)
"""),
        ("q4_loss", "a wrapper of encoderlab.elbo_loss", """
import torch
import encoderlab

def vae_loss(x, recon, mean, logvar, beta):
    posterior = encoderlab.DiagonalGaussian(torch.cat([mean, logvar], dim=1))
    return encoderlab.elbo_loss(x, recon, posterior, beta=beta).loss
"""),
    ],
    "06_convnext": [
        ("q1_layer_norm", "a wrapper of encoderlab.layer_norm_2d", """
from encoderlab import layer_norm_2d

def layer_norm_channels_first(x, weight, bias, eps=1e-6):
    return layer_norm_2d(x, weight, bias, eps)
"""),
        ("q1_layer_norm", "torch's F.layer_norm after a permute (off limits in the question)", """
import torch.nn.functional as F

def layer_norm_channels_first(x, weight, bias, eps=1e-6):
    return F.layer_norm(x.permute(0, 2, 3, 1), x.shape[1:2], weight, bias, eps).permute(0, 3, 1, 2)
"""),
        ("q2_drop_path", "a wrapper of encoderlab.drop_path", """
from encoderlab import drop_path as book_drop_path

def drop_path(x, p, training):
    return book_drop_path(x, p, training)
"""),
        ("q3_block", "a subclass of encoderlab.ConvNeXtBlock", """
from encoderlab import ConvNeXtBlock

class MyConvNeXtBlock(ConvNeXtBlock):
    def __init__(self, dim, drop_path_p=0.0, layer_scale=1e-6):
        super().__init__(dim, drop_path_p, layer_scale)
"""),
    ],
    "08_training_a_vae": [
        ("q1_psnr", "import encoderlab.train.psnr under the student's name", """
from encoderlab.train import psnr
"""),
        ("q2_elbo_terms", "a wrapper of encoderlab.train.elbo_terms", """
import torch
from encoderlab import DiagonalGaussian
from encoderlab.train import elbo_terms as book_elbo_terms

def elbo_terms(x, x_hat, mean, logvar, beta=1.0):
    return book_elbo_terms(x, x_hat, DiagonalGaussian(torch.cat([mean, logvar], dim=1)), beta)
"""),
        ("q3_train_step", "a step whose loss comes from encoderlab.elbo_loss", """
import torch
import encoderlab

def train_step(model, optimizer, x, beta):
    optimizer.zero_grad()
    x_hat, mean, logvar = model(x)
    posterior = encoderlab.DiagonalGaussian(torch.cat([mean, logvar], dim=1))
    loss = encoderlab.elbo_loss(x, x_hat, posterior, beta=beta).loss.mean()
    loss.backward()
    optimizer.step()
    return loss.item()
"""),
    ],
    "07_latent_diffusion_autoencoder": [
        ("q1_downsample", "a wrapper of encoderlab.Downsample", """
import torch
from encoderlab import Downsample

def downsample(x, weight, bias):
    layer = Downsample(x.shape[1])
    with torch.no_grad():
        layer.conv.weight.copy_(weight)
        layer.conv.bias.copy_(bias)
    return layer(x)
"""),
        ("q2_level", "take a level out of encoderlab.Encoder", """
from torch import nn
import encoderlab

class MyDownLevel(nn.Module):
    def __init__(self, in_channels, out_channels, num_res_blocks, add_downsample):
        super().__init__()
        mult = (1, 1, 1) if add_downsample else (1,)
        enc = encoderlab.Encoder(ch=out_channels, ch_mult=mult, num_res_blocks=num_res_blocks,
                                 attn_resolutions=(), in_channels=in_channels, resolution=64, z_channels=4)
        self.block, self.attn = enc.down[0].block, enc.down[0].attn
        if add_downsample:
            self.downsample = enc.down[0].downsample

    def forward(self, x):
        for block in self.block:
            x = block(x)
        return self.downsample(x) if hasattr(self, "downsample") else x
"""),
        ("q3_key_mapping", "a wrapper of encoderlab.weights.ldm_to_diffusers", """
import torch
from encoderlab.weights import ldm_to_diffusers

def to_diffusers_key(key):
    (name,) = ldm_to_diffusers({key: torch.zeros(1)}, num_levels=2)
    return name
"""),
    ],
    "09_causal_video_encoder": [
        ("q1_causal_pad", "the front padding of encoderlab.CausalConv3d", """
import torch
import torch.nn.functional as F
from encoderlab import CausalConv3d

def causal_pad(x, kernel_t, kernel_s, dilation_t=1, mode="zeros"):
    conv = CausalConv3d(x.shape[1], 1, (kernel_t, kernel_s, kernel_s), dilation=(dilation_t, 1, 1),
                        padding_mode=mode)
    p = kernel_s // 2
    x = F.pad(x, (p, p, p, p, 0, 0))
    return torch.cat([conv._front(x), x], dim=2)
"""),
        ("q2_stream", "encoderlab.CausalConv1d inside encoderlab.streaming", """
import torch
from encoderlab import CausalConv1d, streaming

def stream_conv1d(chunks, weight, bias, stride):
    conv = CausalConv1d(weight.shape[1], weight.shape[0], weight.shape[-1], stride=stride).eval()
    with torch.no_grad():
        conv.conv.weight.copy_(weight)
        conv.conv.bias.copy_(bias)
        with streaming(conv):
            return torch.cat([conv(chunk) for chunk in chunks], dim=2)
"""),
        ("q3_per_frame", "a wrapper of encoderlab.per_frame_group_norm", """
import encoderlab

def frame_group_norm(x, num_groups, weight, bias, eps=1e-6):
    return encoderlab.per_frame_group_norm(x, num_groups, weight, bias, eps)
"""),
    ],
    "10_residual_encoder_networks": [
        ("q1_plain_params", "count the parameters of encoderlab.BlockPlain2d", """
import encoderlab

def plain_params(cin, cout, k, resamples):
    block = encoderlab.BlockPlain2d(cin, cout, k, stride=2 if resamples else 1, padding=k // 2)
    return encoderlab.count_parameters(block)
"""),
        ("q2_bottleneck_params", "count the parameters of encoderlab.BlockBottleneck2d", """
from encoderlab import BlockBottleneck2d

def bottleneck_params(cin, cout, k, resamples):
    block = BlockBottleneck2d(cin, cout, k, stride=2 if resamples else 1, padding=k // 2)
    return sum(p.numel() for p in block.parameters())
"""),
        ("q3_shapes", "a wrapper of encoderlab.encoder_nets.scaled_shapes", """
from encoderlab.encoder_nets import scaled_shapes

def stage_shapes(height, width, channel, stages, k=3):
    sizes = scaled_shapes((height, width), stages, (2, 2))
    return [(channel * 2**i, *size) for i, size in enumerate(sizes[1:])]
"""),
    ],
}
