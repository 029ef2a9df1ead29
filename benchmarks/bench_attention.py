"""Benchmark for Chapter 4: which attention backend is the default, what attention costs against a 3x3 conv as the
resolution grows, and our AttnBlock against diffusers' VAE attention with the same weights.

    .venv/bin/python benchmarks/bench_attention.py            # CPU (and CUDA when present)
    .venv/bin/python benchmarks/bench_attention.py --quick    # fewer sizes

Prints Markdown tables of times (ms, fastest of several runs) and peak activation memory (MiB). Timings depend on the machine and
its load; run it on an idle machine and compare ratios, not absolute numbers.
"""

from __future__ import annotations

import argparse

import torch
from torch import nn

from encoderlab import AttnBlock, LinAttnBlock
from encoderlab.attention import attention
from encoderlab.cost import peak_memory, time_call

MiB = 2**20


def backend_table(device: torch.device, dtype: torch.dtype, sizes, dims, repeats: int) -> None:
    print(f"\n### attention backends on {device.type}, {str(dtype).replace('torch.', '')}, one head\n")
    print("| tokens N | dim d | sdpa ms | explicit ms | explicit / sdpa | sdpa MiB | explicit MiB | max abs diff |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for n in sizes:
        for d in dims:
            gen = torch.Generator(device=device).manual_seed(0)
            q, k, v = (torch.randn(1, 1, n, d, generator=gen, device=device, dtype=dtype) for _ in range(3))
            t_s = time_call(attention, q, k, v, backend="sdpa", repeats=repeats)
            t_e = time_call(attention, q, k, v, backend="explicit", repeats=repeats)
            m_s = peak_memory(attention, q, k, v, backend="sdpa")
            m_e = peak_memory(attention, q, k, v, backend="explicit")
            with torch.no_grad():
                diff = (attention(q, k, v, backend="sdpa").float() - attention(q, k, v, backend="explicit").float())
            print(f"| {n} | {d} | {t_s * 1e3:.2f} | {t_e * 1e3:.2f} | {t_e / t_s:.2f} | {m_s / MiB:.2f} | "
                  f"{m_e / MiB:.2f} | {diff.abs().max().item():.1e} |")


def resolution_table(device: torch.device, channels: int, sides, repeats: int) -> None:
    print(f"\n### cost vs resolution on {device.type}, C = {channels}, batch 1\n")
    print("| H = W | tokens | conv3x3 ms | AttnBlock sdpa ms | AttnBlock explicit ms | LinAttnBlock ms | "
          "conv MiB | sdpa MiB | explicit MiB | linear MiB |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    conv = nn.Conv2d(channels, channels, 3, padding=1).to(device)
    blocks = {b: AttnBlock(channels, backend=b).to(device).eval() for b in ("sdpa", "explicit")}
    lin = LinAttnBlock(channels).to(device).eval()
    for side in sides:
        x = torch.randn(1, channels, side, side, device=device)
        mods = [conv, blocks["sdpa"], blocks["explicit"], lin]
        times = [time_call(m, x, repeats=repeats) for m in mods]
        mems = [peak_memory(m, x) for m in mods]
        print(f"| {side} | {side * side} | " + " | ".join(f"{t * 1e3:.2f}" for t in times) + " | "
              + " | ".join(f"{m / MiB:.2f}" for m in mems) + " |")


def diffusers_table(device: torch.device, channels: int, sides, repeats: int) -> None:
    try:
        import diffusers
    except ImportError:
        print("\n(diffusers is not installed: skipping the comparison with diffusers)")
        return
    vae = diffusers.AutoencoderKL(block_out_channels=(channels,), down_block_types=("DownEncoderBlock2D",),
                                  up_block_types=("UpDecoderBlock2D",), latent_channels=4, layers_per_block=1)
    ref = vae.encoder.mid_block.attentions[0].to(device).eval()
    ours = AttnBlock(channels).to(device).eval()
    sd = ref.state_dict()
    pairs = (("q", "to_q"), ("k", "to_k"), ("v", "to_v"), ("proj_out", "to_out.0"))
    ours.load_state_dict({"norm.weight": sd["group_norm.weight"], "norm.bias": sd["group_norm.bias"],
                          **{f"{a}.weight": sd[f"{b}.weight"][:, :, None, None] for a, b in pairs},
                          **{f"{a}.bias": sd[f"{b}.bias"] for a, b in pairs}})
    print(f"\n### AttnBlock vs diffusers' VAE mid-block Attention on {device.type}, C = {channels}\n")
    print("| H = W | ours ms | diffusers ms | ours MiB | diffusers MiB | max abs diff |")
    print("|---:|---:|---:|---:|---:|---:|")
    for side in sides:
        x = torch.randn(1, channels, side, side, device=device)
        with torch.no_grad():
            diff = (ours(x) - ref(x)).abs().max().item()
        print(f"| {side} | {time_call(ours, x, repeats=repeats) * 1e3:.2f} | {time_call(ref, x, repeats=repeats) * 1e3:.2f}"
              f" | {peak_memory(ours, x) / MiB:.2f} | {peak_memory(ref, x) / MiB:.2f} | {diff:.1e} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer sizes and repeats")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    repeats = 3 if args.quick else 7
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    print(f"torch {torch.__version__}, CPU threads {torch.get_num_threads()}")
    for device in devices:
        big = device.type == "cuda"
        sizes = (256, 1024, 4096) if args.quick else (64, 256, 1024, 4096) + ((16384,) if big else ())
        backend_table(device, torch.float32, sizes, (64, 512), repeats)
        if big:
            backend_table(device, torch.bfloat16, sizes, (64, 512), repeats)
        sides = (8, 16, 32) if args.quick else (8, 16, 32, 64) + ((128,) if big else ())
        resolution_table(device, 128, sides, repeats)
        diffusers_table(device, 128, (16, 32) if args.quick else (16, 32, 64), repeats)


if __name__ == "__main__":
    main()
