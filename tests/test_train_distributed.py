"""`torchrun --nproc_per_node 2 -m encoderlab.train` (DistributedDataParallel, Gloo on CPU) computes what one
process computes on the combined batch.

Adam's first step moves every weight by about ``lr * g / (|g| + eps)``. Some gradients of this model are zero in
exact arithmetic (the key bias of attention: softmax ignores a constant added to every key score; a conv bias
followed by GroupNorm) and floating-point noise of ~1e-10 in practice; with the default ``eps=1e-8`` that noise
becomes an O(lr) step whose sign depends on the order of the summation (one process or two: we measured
3e-4 with ``lr=1e-2``). The test therefore uses ``adam_eps=1e-3``, which keeps the comparison about the
gradients that DistributedDataParallel averages, not about amplified round-off.
"""

import json
import os
import subprocess
import sys

import pytest
import torch
import torch.distributed as dist
from safetensors.torch import load_file
from train_helpers import MICRO

from encoderlab.train import main


@pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(), reason="needs torch.distributed + gloo")
def test_two_processes_equal_one_process_on_the_combined_batch(tmp_path):
    config = tmp_path / "micro.json"
    config.write_text(json.dumps({"dataset": "digits", "model": MICRO, "batch_size": 8, "steps": 1, "lr": 1e-3,
                                  "adam_eps": 1e-3, "log_every": 1}))
    common = ["--config", str(config), "--no-progress", "--no-samples", "--device", "cpu"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": "", "ENCODERLAB_DEVICE": "cpu"}
    env.pop("WORLD_SIZE", None)
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         "-m", "encoderlab.train", "--out", str(tmp_path / "ddp"), *common],
        env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads((tmp_path / "ddp" / "config.json").read_text())["world_size"] == 2

    main(["--out", str(tmp_path / "single"), *common])

    ddp = load_file(str(tmp_path / "ddp" / "checkpoints" / "last.safetensors"))
    single = load_file(str(tmp_path / "single" / "checkpoints" / "last.safetensors"))
    keys = [k for k in single if k.startswith("model.")]
    assert keys and sorted(keys) == sorted(k for k in ddp if k.startswith("model."))
    worst = max((ddp[k] - single[k]).abs().max().item() for k in keys)
    assert worst < 1e-6, f"max |difference| {worst}"
    # the step really moved the weights (the comparison is not between two untouched initialisations)
    torch.manual_seed(0)
    from encoderlab.vae import VAE

    init = VAE(im_channels=1, **MICRO).state_dict()
    assert max((single[f"model.{k}"] - v).abs().max().item() for k, v in init.items()) > 1e-4
    rows = (tmp_path / "ddp" / "metrics.csv").read_text().splitlines()
    assert len(rows) == 1 + 1 + 1  # header, the training step, the final evaluation
