"""encoderlab vs diffusers: the latent-diffusion Encoder and Decoder, same weights, same input, on the CPU.

Run from the repository root (after ``make install``)::

    .venv/bin/python benchmarks/ldm_vs_diffusers.py                  # SD kl-f8 structure at half width, 128x128
    .venv/bin/python benchmarks/ldm_vs_diffusers.py --preset seed    # seed 001: attention at 16x16 too
    .venv/bin/python benchmarks/ldm_vs_diffusers.py --preset sd --size 256 --repeats 5   # full SD VAE (slow)
    .venv/bin/python benchmarks/ldm_vs_diffusers.py --preset sd --memory-only   # peak memory only, no timing

Both models are built from one config with random weights; encoderlab's weights are transplanted into
diffusers through :func:`encoderlab.weights.export_weights`, and the outputs are checked equal first. Then, under
``torch.inference_mode()``, the forward passes run **interleaved** (encoderlab, diffusers, encoderlab, ...
with the order flipped every round), so that a change in machine load hits both alike; the script prints the
median wall-clock time, the best wall-clock time and the median CPU time (``time.process_time``: the work
done, less sensitive to other processes on a shared machine) of each, and the ratios encoderlab / diffusers
(< 1: encoderlab is faster). Each timed sample averages several forward passes (``--inner``).

Peak memory is measured with the PyTorch profiler: every CPU allocation and free made during one forward
pass is recorded in order, and the peak of the running total (above what was allocated before the pass) is
the pass's peak memory. The ratio encoderlab / diffusers is printed (< 1: encoderlab needs less).

This is a benchmark, not a test: its numbers depend on the machine and on what else runs on it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import torch

PRESETS = {
    "sd-half": dict(ch=64, ch_mult="1,2,4,4", num_res_blocks=2, attn_resolutions=""),
    "sd": dict(ch=128, ch_mult="1,2,4,4", num_res_blocks=2, attn_resolutions=""),
    "seed": dict(ch=64, ch_mult="1,1,2,2,4", num_res_blocks=2, attn_resolutions="16"),
}


def build(args):
    from diffusers.models.autoencoders.vae import Decoder as DDecoder
    from diffusers.models.autoencoders.vae import Encoder as DEncoder

    from encoderlab.ldm import Decoder, Encoder
    from encoderlab.weights import diffusers_config, export_weights

    ch_mult = tuple(int(m) for m in args.ch_mult.split(","))
    attn = [int(r) for r in args.attn_resolutions.split(",") if r]
    ddconfig = dict(ch=args.ch, out_ch=3, ch_mult=ch_mult, num_res_blocks=args.num_res_blocks, attn_resolutions=attn,
                    in_channels=3, resolution=args.size, z_channels=4, double_z=True)
    gen = torch.Generator().manual_seed(0)
    pairs = {}
    for name, ours, ref_cls in (("Encoder", Encoder(**ddconfig), DEncoder), ("Decoder", Decoder(**ddconfig), DDecoder)):
        with torch.no_grad():
            for p in ours.parameters():
                p.copy_(torch.randn(p.shape, generator=gen) * 0.05)
        ref = ref_cls(**diffusers_config(ours))
        ref.load_state_dict(export_weights(ours, "diffusers"), strict=True)
        pairs[name] = (ours.eval(), ref.eval())
    f = 2 ** (len(ch_mult) - 1)
    inputs = {"Encoder": torch.randn(args.batch, 3, args.size, args.size, generator=gen),
              "Decoder": torch.randn(args.batch, 4, args.size // f, args.size // f, generator=gen)}
    return pairs, inputs


def peak_bytes(fn) -> int:
    """Peak of the running total of CPU allocations during ``fn()``, above the level before it: the book's one
    peak-memory probe, :func:`encoderlab.cost.peak_memory` with ``method="allocator"``."""
    from encoderlab.cost import peak_memory

    return peak_memory(fn, device="cpu", method="allocator")


def time_interleaved(ours, ref, x, inner: int, repeats: int):
    """``repeats`` interleaved timings of the two models, the order flipped every round: ``(wall, cpu, inner)``,
    ``wall`` and ``cpu`` dicts of per-forward-pass seconds; ``inner`` passes per sample (0: about 0.3 s each)."""
    ours(x), ref(x)  # warm-up (one-time allocations, oneDNN primitive caches)
    if inner <= 0:
        one = []
        for _ in range(3):
            start = time.perf_counter()
            ref(x)
            one.append(time.perf_counter() - start)
        inner = max(1, round(0.3 / min(one)))
    times = {"encoderlab": [], "diffusers": []}
    cpu = {"encoderlab": [], "diffusers": []}
    for r in range(repeats):
        order = (("encoderlab", ours), ("diffusers", ref))
        for name, model in (order if r % 2 == 0 else order[::-1]):
            start, start_cpu = time.perf_counter(), time.process_time()
            for _ in range(inner):
                model(x)
            cpu[name].append((time.process_time() - start_cpu) / inner)
            times[name].append((time.perf_counter() - start) / inner)
    return times, cpu, inner


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", choices=sorted(PRESETS), default="sd-half",
                        help="sd: Stable Diffusion's kl-f8 VAE; sd-half: the same at half width; seed: seed 001 "
                             "(ch 64, ch_mult 1,1,2,2,4, attention at 16x16)")
    parser.add_argument("--ch", type=int, help="override the preset's base channels")
    parser.add_argument("--ch-mult", help="override the preset's channel multipliers, e.g. 1,2,4,4")
    parser.add_argument("--num-res-blocks", type=int)
    parser.add_argument("--attn-resolutions", help="override, e.g. 16 (empty: only the middle attention)")
    parser.add_argument("--size", type=int, default=128, help="input height and width of the encoder")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=11, help="timed samples per model and part")
    parser.add_argument("--inner", type=int, default=0,
                        help="forward passes per timed sample (0: enough for about 0.3 s per sample)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: leave torch's default)")
    parser.add_argument("--parts", default="Encoder,Decoder")
    parser.add_argument("--memory-only", action="store_true",
                        help="skip the timing: check the outputs and measure peak memory only (deterministic, so "
                             "meaningful on a busy machine)")
    args = parser.parse_args(argv)
    os.environ.setdefault("KINETO_LOG_LEVEL", "6")  # keep the profiler's own start/stop lines quiet
    for key, value in PRESETS[args.preset].items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.threads:
        torch.set_num_threads(args.threads)

    pairs, inputs = build(args)
    print(f"preset {args.preset}: ch={args.ch} ch_mult=({args.ch_mult}) num_res_blocks={args.num_res_blocks} "
          f"attn_resolutions=[{args.attn_resolutions}] input {args.batch}x3x{args.size}x{args.size}; "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    ok = True
    for part in args.parts.split(","):
        ours, ref = pairs[part]
        x = inputs[part]
        with torch.inference_mode():
            diff = (ours(x) - ref(x)).abs().max().item()
            print(f"\n{part}: input {tuple(x.shape)}, max |encoderlab - diffusers| = {diff:.2e}")
            if not args.memory_only:
                times, cpu, inner = time_interleaved(ours, ref, x, args.inner, args.repeats)
            peaks = {"encoderlab": [], "diffusers": []}
            for _ in range(2):
                for name, model in (("encoderlab", ours), ("diffusers", ref)):
                    peaks[name].append(peak_bytes(lambda m=model, x=x: m(x)))
        mem = {k: min(v) for k, v in peaks.items()}
        if args.memory_only:
            for name in ("encoderlab", "diffusers"):
                print(f"  {name:10s} peak {mem[name] / 2**20:8.2f} MiB")
        else:
            med = {k: statistics.median(v) for k, v in times.items()}
            med_cpu = {k: statistics.median(v) for k, v in cpu.items()}
            for name in ("encoderlab", "diffusers"):
                print(f"  {name:10s} wall median {med[name] * 1e3:8.1f} ms (min {min(times[name]) * 1e3:8.1f})  "
                      f"CPU median {med_cpu[name] * 1e3:8.1f} ms  peak {mem[name] / 2**20:8.2f} MiB")
            print(f"  ({args.repeats} interleaved samples of {inner} forward pass(es) each)")
            print(f"  time ratio encoderlab/diffusers, median wall: {med['encoderlab'] / med['diffusers']:.3f}")
            print(f"  time ratio encoderlab/diffusers, best wall:   "
                  f"{min(times['encoderlab']) / min(times['diffusers']):.3f}")
            print(f"  time ratio encoderlab/diffusers, median CPU:  {med_cpu['encoderlab'] / med_cpu['diffusers']:.3f}")
        print(f"  peak-memory ratio encoderlab/diffusers:       {mem['encoderlab'] / mem['diffusers']:.3f}")
        ok = ok and diff < 1e-4
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
