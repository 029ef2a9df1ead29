"""Chapter 7, *Loading real checkpoints*: weights for the latent-diffusion autoencoder, in LDM's, diffusers' and
encoderlab's names.

encoderlab's :mod:`~encoderlab.ldm` models use CompVis LDM's module paths, so an LDM / Stable Diffusion
state dict loads as it is (after removing the ``first_stage_model.`` prefix of a full checkpoint). diffusers
names the same tensors differently and stores the attention projections as ``Linear`` weights ``(C, C)``
instead of 1x1-conv weights ``(C, C, 1, 1)``:

=======================================  ===============================================================
LDM / encoderlab                         diffusers
=======================================  ===============================================================
``encoder.down.{i}.block.{j}``            ``encoder.down_blocks.{i}.resnets.{j}``
``....nin_shortcut``                      ``....conv_shortcut``
``encoder.down.{i}.attn.{j}``             ``encoder.down_blocks.{i}.attentions.{j}`` (AttnDownEncoderBlock2D)
``encoder.down.{i}.downsample.conv``      ``encoder.down_blocks.{i}.downsamplers.0.conv``
``{enc,dec}oder.mid.block_1 / block_2``   ``{enc,dec}oder.mid_block.resnets.0 / 1``
``{enc,dec}oder.mid.attn_1``              ``{enc,dec}oder.mid_block.attentions.0``
``attn: norm, q, k, v, proj_out``         ``group_norm, to_q, to_k, to_v, to_out.0`` (older files: query,
                                          key, value, proj_attn)
``{enc,dec}oder.norm_out``                ``{enc,dec}oder.conv_norm_out``
``decoder.up.{i}.block.{j}``              ``decoder.up_blocks.{L-1-i}.resnets.{j}`` (the order is reversed)
``decoder.up.{i}.upsample.conv``          ``decoder.up_blocks.{L-1-i}.upsamplers.0.conv``
=======================================  ===============================================================

``conv_in``, ``conv_out``, ``quant_conv`` and ``post_quant_conv`` keep their names. LDM's linear attention
(``to_qkv``, ``to_out``) has no diffusers equivalent.

The modules, one job each:

- :mod:`~encoderlab.weights.keys`: the table above as code (one list of template pairs read both ways),
  :func:`ldm_to_diffusers` / :func:`diffusers_to_ldm` and :func:`detect_format`;
- :mod:`~encoderlab.weights.load`: :func:`load_weights` (a state dict or a file into a model, any of the
  formats, with a clear error listing unknown, missing and mis-shaped keys) and :func:`export_weights`;
- :mod:`~encoderlab.weights.files`: :func:`load_file` / :func:`save_file` (safetensors, or
  ``torch.load(weights_only=True)``; written atomically);
- :mod:`~encoderlab.weights.configs`: :func:`diffusers_config` and :func:`autoencoder_from_diffusers_config`.
"""

from .configs import autoencoder_from_diffusers_config, diffusers_config
from .files import load_file, save_file
from .keys import WeightsError, detect_format, diffusers_to_ldm, ldm_to_diffusers
from .load import export_weights, load_weights

__all__ = [
    "WeightsError",
    "autoencoder_from_diffusers_config",
    "detect_format",
    "diffusers_config",
    "diffusers_to_ldm",
    "export_weights",
    "ldm_to_diffusers",
    "load_file",
    "load_weights",
    "save_file",
]
