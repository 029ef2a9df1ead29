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
}
