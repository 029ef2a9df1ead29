"""Bad inputs to every public entry of encoderlab.train, encoderlab.data and encoderlab.weights, by class of hole
(issue "every bad input refused clearly"): each raises TypeError or ValueError whose message names the argument,
before any work.

Classes: 1 non-finite floats, 2 complex tensors, 3 dtypes, 4 empty or too-small sizes, 5 sequences of the wrong
type or length, 6 booleans, 7 other types that would reach torch (a tensor for a dataset, an int for a path,
unknown devices, ...), 0 values out of range.
"""

import math
from collections import Counter
from types import SimpleNamespace

import pytest
import torch
from train_helpers import MICRO, digits, micro_trainer
from weights_helpers import SMALL_ATTN, tiny_autoencoder

from encoderlab.data import (
    ImageDataset,
    StepBatchSampler,
    dataset_image_shape,
    eval_loader,
    load_digits_images,
    load_photo_patches,
    make_dataset,
    make_loader,
    make_shapes,
    split_indices,
)
from encoderlab.distributions import DiagonalGaussian
from encoderlab.ldm import AutoencoderKL
from encoderlab.train import TrainConfig, Trainer, evaluate, image_grid, kl_weight, psnr
from encoderlab.train import checkpoint as ckpt
from encoderlab.train.distributed import DistributedContext, resolve_device
from encoderlab.train.grids import write_sample_grid
from encoderlab.train.objective import ELBOModel, elbo_terms
from encoderlab.vae import VAE
from encoderlab.weights import (
    autoencoder_from_diffusers_config,
    detect_format,
    diffusers_config,
    diffusers_to_ldm,
    export_weights,
    ldm_to_diffusers,
    load_file,
    load_weights,
    save_file,
)

NAN, INF = math.nan, math.inf
IMG = torch.zeros(2, 1, 8, 8)
CPLX = torch.zeros(2, 1, 8, 8, dtype=torch.complex64)


@pytest.fixture(scope="module")
def c(tmp_path_factory):
    """What the cases share: a micro trainer (with a saved checkpoint), a small autoencoder, a folder."""
    t = micro_trainer(steps=1)
    tmp = tmp_path_factory.mktemp("bad")
    path = t.save(tmp / "ckpt.safetensors")
    return SimpleNamespace(t=t, vae=t.model, path=path, tmp=tmp, ae=tiny_autoencoder(SMALL_ATTN),
                           enc=tiny_autoencoder(SMALL_ATTN).encoder, val=digits()[1],
                           post=DiagonalGaussian(torch.zeros(2, 4, 4, 4)))


def cfg(**kw):
    return lambda c: TrainConfig(**{"model": MICRO, **kw})


# (module, class, call, exception, regex of the message)
CASES = [
    # ---- train.config: TrainConfig --------------------------------------------------------------------
    ("train.config", 1, cfg(lr=INF), ValueError, "lr must be a finite number, got inf"),
    ("train.config", 1, cfg(lr=NAN), ValueError, "lr must be a finite number, got nan"),
    ("train.config", 1, cfg(beta=NAN), ValueError, "beta must be a finite number, got nan"),
    ("train.config", 1, cfg(val_fraction=NAN), ValueError, "val_fraction must be a finite number"),
    ("train.config", 1, cfg(grad_clip=NAN), ValueError, "grad_clip must be a finite number, got nan"),
    ("train.config", 1, cfg(grad_clip=INF), ValueError, "grad_clip must be a finite number, got inf"),
    ("train.config", 1, cfg(weight_decay=NAN), ValueError, "weight_decay must be a finite number"),
    ("train.config", 1, cfg(adam_eps=INF), ValueError, "adam_eps must be a finite number"),
    ("train.config", 1, cfg(adam_betas=(0.9, NAN)), ValueError, r"adam_betas\[1\] must be a finite number"),
    ("train.config", 5, cfg(adam_betas="ab"), TypeError, "adam_betas must be a pair of numbers .* got str 'ab'"),
    ("train.config", 5, cfg(adam_betas=0.9), TypeError, "adam_betas must be a pair of numbers .* got float 0.9"),
    ("train.config", 5, cfg(adam_betas=None), TypeError, "adam_betas must be a pair of numbers"),
    ("train.config", 5, cfg(adam_betas=(0.9,)), ValueError, r"adam_betas must be two numbers in \[0, 1\), got 1"),
    ("train.config", 5, cfg(adam_betas=(0.9, 0.99, 0.999)), ValueError, "adam_betas must be two numbers.*got 3"),
    ("train.config", 5, cfg(adam_betas=("a", "b")), TypeError, r"adam_betas\[0\] must be a number, got str 'a'"),
    ("train.config", 6, cfg(adam_betas=(True, 0.9)), TypeError, r"adam_betas\[0\] must be a number, got bool"),
    ("train.config", 6, cfg(steps=True), TypeError, "steps must be an int, got bool True"),
    ("train.config", 6, cfg(lr=True), TypeError, "lr must be a number, got bool True"),
    ("train.config", 6, cfg(image_size=False), TypeError, "image_size must be an int, got bool False"),
    ("train.config", 7, cfg(lr="0.1"), TypeError, "lr must be a number, got str '0.1'"),
    ("train.config", 7, cfg(lr=torch.tensor(0.1)), TypeError, "lr must be a number, got Tensor"),
    ("train.config", 7, cfg(seed=2.0), TypeError, "seed must be an int, got float 2.0"),
    ("train.config", 7, cfg(model=3), TypeError, "model must be a preset name or a dict"),
    ("train.config", 7, cfg(dataset=["digits"]), ValueError, "dataset must be one of"),
    ("train.config", 0, cfg(steps=-5), ValueError, "steps must be >= 0, got -5"),
    ("train.config", 0, cfg(batch_size=0), ValueError, "batch_size must be >= 1, got 0"),
    ("train.config", 0, cfg(keep_checkpoints=0), ValueError, "keep_checkpoints must be >= 1, got 0"),
    ("train.config", 0, cfg(image_size=4), ValueError, "image_size must be >= 8, got 4"),
    ("train.config", 0, cfg(val_fraction=0.0), ValueError, "val_fraction must be >= 0.05"),
    ("train.config", 0, cfg(recon="l2"), ValueError, "recon must be one of"),
    ("train.config", 4, lambda c: TrainConfig(model=MICRO, image_size=9).check_model(), ValueError,
     "image_size=9 does not fit the model: height=9 must be divisible by the downsampling factor=2"),
    ("train.config", 4, lambda c: TrainConfig(model="tiny", image_size=10).check_model(), ValueError,
     "image_size=10 does not fit the model"),
    ("train.config", 7, lambda c: TrainConfig(model={**MICRO, "depth": 3}).check_model(), ValueError,
     r"unknown model arguments \(VAE keyword arguments\) \['depth'\]"),
    ("train.config", 5, lambda c: TrainConfig(model={**MICRO, "down_sample": True}).check_model(), TypeError,
     "down_sample"),
    ("train.config", 7, lambda c: TrainConfig.from_dict("steps=3"), TypeError, "a training config must be a dict"),
    ("train.config", 0, lambda c: TrainConfig.from_dict({"epochs": 1}), ValueError, r"unknown training config keys"),
    # ---- train.objective ------------------------------------------------------------------------------
    ("train.objective", 1, lambda c: kl_weight(3, NAN), ValueError, "beta must be a finite number"),
    ("train.objective", 1, lambda c: kl_weight(3, INF), ValueError, "beta must be a finite number"),
    ("train.objective", 6, lambda c: kl_weight(True, 1.0), TypeError, "step must be an int, got bool"),
    ("train.objective", 0, lambda c: kl_weight(-1, 1.0), ValueError, "step must be >= 0"),
    ("train.objective", 7, lambda c: kl_weight(1, 1.0, "4"), TypeError, "warmup_steps must be an int"),
    ("train.objective", 1, lambda c: psnr(IMG, IMG, data_range=NAN), ValueError, "data_range must be a finite"),
    ("train.objective", 1, lambda c: psnr(IMG, IMG, data_range=INF), ValueError, "data_range must be a finite"),
    ("train.objective", 2, lambda c: psnr(CPLX, CPLX), TypeError, "x must be a real tensor, got dtype torch.complex64"),
    ("train.objective", 4, lambda c: psnr(IMG, IMG[:, :, :4]), ValueError, "y has shape"),
    ("train.objective", 7, lambda c: psnr(IMG.numpy(), IMG), TypeError, "x must be a torch.Tensor, got ndarray"),
    ("train.objective", 7, lambda c: psnr(IMG.long(), IMG), TypeError, "x must be a floating-point tensor"),
    ("train.objective", 1, lambda c: elbo_terms(IMG, IMG, c.post, beta=NAN), ValueError, "beta must be a finite"),
    ("train.objective", 0, lambda c: ELBOModel(c.vae, "l2"), ValueError, "recon must be one of"),
    ("train.objective", 7, lambda c: ELBOModel(torch.nn.Linear(2, 2), "mse"), TypeError, "vae must be an encoderlab VAE"),
    # ---- train.grids ----------------------------------------------------------------------------------
    ("train.grids", 2, lambda c: image_grid(CPLX), TypeError, "images must be a real tensor"),
    ("train.grids", 4, lambda c: image_grid(torch.zeros(0, 1, 8, 8)), ValueError, "images must hold at least one"),
    ("train.grids", 4, lambda c: image_grid(torch.zeros(2, 1, 0, 8)), ValueError, "images has spatial size"),
    ("train.grids", 6, lambda c: image_grid(IMG, nrow=True), TypeError, "nrow must be an int, got bool"),
    ("train.grids", 7, lambda c: image_grid([IMG]), TypeError, "images must be a torch.Tensor, got list"),
    ("train.grids", 0, lambda c: image_grid(IMG, padding=-1), ValueError, "padding must be >= 0"),
    ("train.grids", 7, lambda c: write_sample_grid(c.vae, IMG, 3), TypeError, "path must be a path"),
    ("train.grids", 7, lambda c: write_sample_grid(c.enc, IMG, c.tmp / "g.png"), TypeError,
     "model must be an encoderlab VAE or AutoencoderKL, got Encoder"),
    ("train.grids", 6, lambda c: write_sample_grid(c.vae, IMG, c.tmp / "g.png", seed=True), TypeError,
     "seed must be an int, got bool"),
    # ---- train.trainer: Trainer and evaluate ----------------------------------------------------------
    ("train.trainer", 7, lambda c: Trainer(TrainConfig(model=MICRO), device="tpu", train_data=c.val,
                                           val_data=c.val), ValueError, "device='tpu' is not a device PyTorch knows"),
    ("train.trainer", 7, lambda c: Trainer(TrainConfig(model=MICRO), device="meta", train_data=c.val,
                                           val_data=c.val), ValueError, "encoderlab trains on 'cpu', 'cuda' or 'mps'"),
    ("train.trainer", 7, lambda c: Trainer(TrainConfig(model=MICRO), device=0, train_data=c.val,
                                           val_data=c.val), TypeError, "device must be a str such as 'cpu'"),
    ("train.trainer", 7, lambda c: Trainer(TrainConfig(model=MICRO), device="cpu", train_data=c.val.images,
                                           val_data=c.val), TypeError, "train_data must be a Dataset, got a Tensor"),
    ("train.trainer", 7, lambda c: Trainer(TrainConfig(model=MICRO), device="cpu", train_data=c.val,
                                           val_data=[1, 2]), TypeError, "val_data must be a Dataset"),
    ("train.trainer", 7, lambda c: Trainer({"model": MICRO}), TypeError, "config must be a TrainConfig, got dict"),
    ("train.trainer", 6, lambda c: Trainer(TrainConfig(model=MICRO), device="cpu", train_data=c.val,
                                           val_data=c.val, progress="no"), TypeError, "progress must be a bool"),
    ("train.trainer", 7, lambda c: Trainer(TrainConfig(model=MICRO), device="cpu", train_data=c.val,
                                           val_data=c.val, distributed=2), TypeError,
     "distributed must be a DistributedContext"),
    ("train.trainer", 4, lambda c: Trainer(TrainConfig(model=MICRO), device="cpu",
                                           train_data=ImageDataset(torch.zeros(20, 1, 9, 9)),
                                           val_data=ImageDataset(torch.zeros(20, 1, 9, 9))), ValueError,
     "image_size=9 does not fit the model"),
    ("train.trainer", 4, lambda c: Trainer(TrainConfig(model=MICRO), device="cpu", train_data=c.val,
                                           val_data=ImageDataset(torch.zeros(4, 1, 16, 16))), ValueError,
     "val_data has images of shape"),
    ("train.trainer", 0, lambda c: Trainer(TrainConfig(model=MICRO, batch_size=500), device="cpu",
                                           train_data=c.val, val_data=c.val), ValueError,
     "batch_size=500 is larger than the training data"),
    ("train.trainer", 0, lambda c: Trainer(TrainConfig(model=MICRO, batch_size=9), device="cpu", train_data=c.val,
                                           val_data=c.val, distributed=DistributedContext(0, 2, 0)), ValueError,
     "must be divisible by the 2 processes"),
    ("train.trainer", 6, lambda c: c.t.train(True), TypeError, "steps must be an int, got bool"),
    ("train.trainer", 0, lambda c: c.t.train(-1), ValueError, "steps must be >= 0"),
    ("train.trainer", 7, lambda c: c.t.train(1, callback="print"), TypeError, "callback must be a function"),
    ("train.trainer", 7, lambda c: c.t.evaluate(c.val.images), TypeError, "dataset must be a Dataset, got a Tensor"),
    ("train.trainer", 0, lambda c: c.t.evaluate(batch_size=0), ValueError, "batch_size must be >= 1"),
    ("train.trainer", 7, lambda c: evaluate(c.vae, c.val.images), TypeError, "dataset must be a Dataset"),
    ("train.trainer", 7, lambda c: evaluate(c.enc, c.val), TypeError, "model must be an encoderlab VAE or Autoenc"),
    ("train.trainer", 0, lambda c: evaluate(c.vae, c.val, recon="l2"), ValueError, "recon must be one of"),
    ("train.trainer", 6, lambda c: evaluate(c.vae, c.val, seed=False), TypeError, "seed must be an int, got bool"),
    ("train.trainer", 3, lambda c: evaluate(c.vae, c.val, amp_dtype=torch.float64), ValueError,
     "amp_dtype must be None, torch.float16 or torch.bfloat16"),
    ("train.trainer", 4, lambda c: evaluate(c.vae, torch.utils.data.TensorDataset(torch.zeros(0))), ValueError,
     r"dataset is empty \(0 items\)"),
    ("train.trainer", 7, lambda c: c.t.save(3), TypeError, "path must be a path"),
    ("train.trainer", 7, lambda c: c.t.load(None), TypeError, "path must be a path"),
    ("train.trainer", 7, lambda c: Trainer.resume(b"ckpt"), TypeError, "path must be a path"),
    ("train.trainer", 0, lambda c: Trainer.resume(c.path, steps=-1), ValueError, "steps must be >= 0, got -1"),
    ("train.trainer", 6, lambda c: Trainer.resume(c.path, steps=True), TypeError, "steps must be an int, got bool"),
    # ---- train.checkpoint -----------------------------------------------------------------------------
    ("train.checkpoint", 7, lambda c: ckpt.save_checkpoint(7, c.vae), TypeError, "path must be a path"),
    ("train.checkpoint", 7, lambda c: ckpt.save_checkpoint(c.tmp / "x.safetensors", c.enc), TypeError,
     "model must be an encoderlab VAE or AutoencoderKL, got Encoder"),
    ("train.checkpoint", 7, lambda c: ckpt.save_checkpoint(c.tmp / "x.safetensors", c.vae, "adam"), TypeError,
     "optimizer must be a torch.optim.Optimizer"),
    ("train.checkpoint", 6, lambda c: ckpt.save_checkpoint(c.tmp / "x.safetensors", c.vae, step=True), TypeError,
     "step must be an int, got bool"),
    ("train.checkpoint", 0, lambda c: ckpt.save_checkpoint(c.tmp / "x.safetensors", c.vae, step=-1), ValueError,
     "step must be >= 0"),
    ("train.checkpoint", 7, lambda c: ckpt.save_checkpoint(c.tmp / "x.safetensors", c.vae, config={}), TypeError,
     "config must be a TrainConfig or None"),
    ("train.checkpoint", 5, lambda c: ckpt.save_checkpoint(c.tmp / "x.safetensors", c.vae, history="abc"), TypeError,
     "history must be a sequence of records"),
    ("train.checkpoint", 5, lambda c: ckpt.save_checkpoint(c.tmp / "x.safetensors", c.vae, step=2,
                                                           history=[{"step": 1}]), ValueError,
     "history does not fit step=2"),
    ("train.checkpoint", 7, lambda c: ckpt.save_checkpoint(c.tmp / "x.safetensors", c.vae, scaler_state=[1]),
     TypeError, "scaler_state must be a dict"),
    ("train.checkpoint", 7, lambda c: ckpt.read_checkpoint(3), TypeError, "path must be a path"),
    ("train.checkpoint", 7, lambda c: ckpt.load_checkpoint(c.path, c.enc), TypeError, "model must be an encoderlab VAE"),
    ("train.checkpoint", 0, lambda c: ckpt.load_checkpoint(c.path, c.ae), ckpt.CheckpointError,
     "was saved from a VAE; the model is an AutoencoderKL"),
    ("train.checkpoint", 7, lambda c: ckpt.load_checkpoint(c.path, c.vae, optimizer=1), TypeError,
     "optimizer must be a torch.optim.Optimizer"),
    # ---- train.distributed ----------------------------------------------------------------------------
    ("train.distributed", 7, lambda c: resolve_device("tpu"), ValueError, "device='tpu' is not a device"),
    ("train.distributed", 7, lambda c: resolve_device(["cpu"]), TypeError, "device must be a str such as 'cpu'"),
    # ---- data.datasets --------------------------------------------------------------------------------
    ("data.datasets", 1, lambda c: make_dataset("digits", "val", val_fraction=NAN), ValueError,
     "val_fraction must be a finite number, got nan"),
    ("data.datasets", 1, lambda c: make_dataset("photos", "val", val_fraction=INF), ValueError,
     "val_fraction must be a finite number, got inf"),
    ("data.datasets", 1, lambda c: split_indices(10, NAN), ValueError, "val_fraction must be a finite number"),
    ("data.datasets", 1, lambda c: load_photo_patches(scale=NAN), ValueError, "scale must be a finite number"),
    ("data.datasets", 1, lambda c: load_photo_patches(val_fraction=NAN), ValueError, "val_fraction must be a finite"),
    ("data.datasets", 2, lambda c: ImageDataset(CPLX), TypeError, "images must be a real tensor"),
    ("data.datasets", 4, lambda c: ImageDataset(torch.zeros(3, 1, 0, 0)), ValueError,
     r"images has spatial size \(0, 0\); an image cannot be empty"),
    ("data.datasets", 4, lambda c: ImageDataset(torch.zeros(3, 1, 8, 0)), ValueError, "images has spatial size"),
    ("data.datasets", 4, lambda c: ImageDataset(torch.zeros(3, 0, 8, 8)), ValueError, "at least one channel"),
    ("data.datasets", 4, lambda c: ImageDataset(torch.zeros(0, 1, 8, 8)), ValueError, "at least one image"),
    ("data.datasets", 4, lambda c: ImageDataset(torch.zeros(3, 8, 8)), ValueError, "images must be a 4-D tensor"),
    ("data.datasets", 7, lambda c: ImageDataset(torch.zeros(3, 1, 8, 8, dtype=torch.uint8)), TypeError,
     "images must be a floating-point tensor"),
    ("data.datasets", 7, lambda c: ImageDataset(IMG.numpy()), TypeError, "images must be a torch.Tensor"),
    ("data.datasets", 7, lambda c: ImageDataset(IMG, name=3), TypeError, "name must be a str, got int 3"),
    ("data.datasets", 4, lambda c: load_digits_images(0), ValueError, "image_size must be >= 8, got 0"),
    ("data.datasets", 4, lambda c: make_shapes(4, image_size=1), ValueError, "image_size must be >= 8"),
    ("data.datasets", 4, lambda c: make_dataset("shapes", image_size=0), ValueError, "image_size must be >= 8"),
    ("data.datasets", 4, lambda c: load_photo_patches(patch_size=0), ValueError, "patch_size must be >= 4"),
    ("data.datasets", 4, lambda c: load_photo_patches(patch_size=400), ValueError, "patch_size=400 is larger than"),
    ("data.datasets", 6, lambda c: make_shapes(True), TypeError, "n must be an int, got bool"),
    ("data.datasets", 6, lambda c: make_dataset("digits", seed=True), TypeError, "seed must be an int, got bool"),
    ("data.datasets", 6, lambda c: load_photo_patches(stride=False), TypeError, "stride must be an int, got bool"),
    ("data.datasets", 7, lambda c: make_dataset(3), ValueError, "name must be one of"),
    ("data.datasets", 7, lambda c: make_dataset("digits", image_size="8"), TypeError, "image_size must be an int"),
    ("data.datasets", 7, lambda c: make_dataset("photos", seed=1.5), TypeError, "seed must be an int, got float"),
    ("data.datasets", 7, lambda c: dataset_image_shape("cifar"), ValueError, "name must be one of"),
    ("data.datasets", 0, lambda c: make_dataset("digits", "test"), ValueError, "split must be one of"),
    ("data.datasets", 0, lambda c: split_indices(1, 0.2), ValueError, "n must be >= 2"),
    ("data.datasets", 0, lambda c: make_shapes(0), ValueError, "n must be >= 1"),
    # ---- data.batches ---------------------------------------------------------------------------------
    ("data.batches", 7, lambda c: make_loader(c.val.images, 8), TypeError, "dataset must be a Dataset, got a Tensor"),
    ("data.batches", 7, lambda c: make_loader([IMG] * 10, 8), TypeError, "dataset must be a Dataset"),
    ("data.batches", 7, lambda c: eval_loader(c.val.images), TypeError, "dataset must be a Dataset, got a Tensor"),
    ("data.batches", 4, lambda c: eval_loader(torch.utils.data.TensorDataset(torch.zeros(0))), ValueError,
     "dataset is empty"),
    ("data.batches", 6, lambda c: make_loader(c.val, 8, shuffle="no"), TypeError, "shuffle must be a bool"),
    ("data.batches", 6, lambda c: StepBatchSampler(50, 8, shuffle=1), TypeError, "shuffle must be a bool"),
    ("data.batches", 6, lambda c: StepBatchSampler(50, True), TypeError, "batch_size must be an int, got bool"),
    ("data.batches", 7, lambda c: StepBatchSampler(50.0, 8), TypeError, "num_items must be an int"),
    ("data.batches", 7, lambda c: StepBatchSampler(50, 8, num_steps="5"), TypeError, "num_steps must be an int"),
    ("data.batches", 0, lambda c: StepBatchSampler(50, 0), ValueError, "batch_size must be >= 1"),
    ("data.batches", 0, lambda c: StepBatchSampler(50, 8, start_step=-1), ValueError, "start_step must be >= 0"),
    ("data.batches", 0, lambda c: StepBatchSampler(50, 8).global_batch(-1), ValueError, "step must be >= 0"),
    ("data.batches", 0, lambda c: make_loader(c.val, 1000), ValueError, "larger than the dataset"),
    # ---- weights --------------------------------------------------------------------------------------
    ("weights.files", 7, lambda c: load_file(3), TypeError, "path must be a path .*got int 3"),
    ("weights.files", 7, lambda c: load_file(None), TypeError, "path must be a path .*got NoneType"),
    ("weights.files", 7, lambda c: save_file(export_weights(c.ae), 3), TypeError, "path must be a path"),
    ("weights.files", 7, lambda c: save_file({"w": 1.0}, c.tmp / "w.safetensors"), TypeError,
     r"state_dict\['w'\] must be a tensor, got float"),
    ("weights.files", 7, lambda c: save_file([1], c.tmp / "w.safetensors"), TypeError, "state_dict must be a mapping"),
    ("weights.load", 6, lambda c: load_weights(c.ae, export_weights(c.ae), assign="no"), TypeError,
     "assign must be a bool"),
    ("weights.load", 7, lambda c: load_weights(c.ae, 3), TypeError, "source must be a state dict or a path"),
    ("weights.load", 7, lambda c: load_weights(c.ae, [export_weights(c.ae)]), TypeError,
     "source must be a state dict or a path"),
    ("weights.load", 7, lambda c: load_weights(c.vae, {}), TypeError, "model must be an encoderlab Encoder"),
    ("weights.load", 0, lambda c: load_weights(c.ae, {}, format="sd"), ValueError, "format must be one of"),
    ("weights.load", 7, lambda c: export_weights(c.ae, prefix=3), TypeError, "prefix must be a str"),
    ("weights.load", 0, lambda c: export_weights(c.ae, "ckpt"), ValueError, "format must be one of"),
    ("weights.keys", 7, lambda c: detect_format(["encoder.conv_in.weight"]), TypeError, "state_dict must be a mapping"),
    ("weights.keys", 6, lambda c: ldm_to_diffusers(export_weights(c.ae), num_levels=True), TypeError,
     "num_levels must be an int, got bool"),
    ("weights.keys", 0, lambda c: diffusers_to_ldm({}, num_levels=0), ValueError, "num_levels must be >= 1"),
    ("weights.keys", 7, lambda c: diffusers_to_ldm({"a": [1]}), TypeError, r"state_dict\['a'\] must be a tensor"),
    ("weights.configs", 7, lambda c: diffusers_config(c.vae), TypeError, "model must be an encoderlab Encoder"),
    ("weights.configs", 7, lambda c: autoencoder_from_diffusers_config([1]), TypeError, "config must be a dict"),
    ("weights.configs", 5, lambda c: autoencoder_from_diffusers_config({"block_out_channels": 64}), TypeError,
     r"config\['block_out_channels'\] must be a sequence of ints"),
    ("weights.configs", 5, lambda c: autoencoder_from_diffusers_config(
        {"block_out_channels": [64], "down_block_types": "DownEncoderBlock2D"}), TypeError,
     r"config\['down_block_types'\] must be a list of block type names"),
    ("weights.configs", 5, lambda c: autoencoder_from_diffusers_config({"block_out_channels": []}), ValueError,
     "must have at least 1 entry"),
    ("weights.configs", 7, lambda c: autoencoder_from_diffusers_config({"layers_per_block": "2"}), TypeError,
     r"config\['layers_per_block'\] must be an int, got str"),
    ("weights.configs", 6, lambda c: autoencoder_from_diffusers_config({"latent_channels": True}), TypeError,
     r"config\['latent_channels'\] must be an int, got bool"),
    ("weights.configs", 4, lambda c: autoencoder_from_diffusers_config({"sample_size": 0}), ValueError,
     r"config\['sample_size'\] must be >= 1"),
    ("weights.configs", 1, lambda c: autoencoder_from_diffusers_config({"scaling_factor": NAN}), ValueError,
     r"config\['scaling_factor'\] must be a finite number"),
    ("weights.configs", 7, lambda c: autoencoder_from_diffusers_config({}, device="tpu"), ValueError,
     "device='tpu' is not a device PyTorch knows"),
]


def _id(case):
    module, cls, _, exc, regex = case
    return f"{module}-{cls}-{regex[:40]}"


@pytest.mark.parametrize("case", CASES, ids=[_id(case) for case in CASES])
def test_bad_input_is_refused_clearly(c, case):
    _, _, call, exc, regex = case
    with pytest.raises(exc, match=regex):
        call(c)


def test_every_module_is_tried_with_each_class_that_applies():
    counts = Counter((module, cls) for module, cls, *_ in CASES)
    for module in ("train.config", "train.objective", "train.trainer", "data.datasets", "data.batches"):
        assert {cls for m, cls in counts if m == module} >= {6, 7}, module
    for cls in range(8):
        assert any(k == cls for _, k in counts), cls
    assert sum(counts.values()) == len(CASES) >= 150


def test_the_good_inputs_next_to_the_bad_ones_still_work(c):
    """The checks refuse only what is wrong: the nearest valid values pass."""
    assert TrainConfig(model=MICRO, adam_betas=[0.5, 0.9]).adam_betas == (0.5, 0.9)  # a list, as from JSON
    assert TrainConfig(model=MICRO, image_size=16).check_model() == (2, 8, 8)
    assert ImageDataset(torch.zeros(1, 1, 1, 1)).image_shape == (1, 1, 1)
    assert resolve_device("cpu") == torch.device("cpu") == resolve_device(torch.device("cpu"))
    assert len(make_dataset("digits", "val", val_fraction=0.1)) == 180
    assert autoencoder_from_diffusers_config({"block_out_channels": [32, 64], "down_block_types": [
        "DownEncoderBlock2D"] * 2, "up_block_types": ["UpDecoderBlock2D"] * 2}, device="cpu").encoder.ch == 32
    assert isinstance(VAE(**c.t.config.model_kwargs(1)), VAE) and isinstance(c.ae, AutoencoderKL)
