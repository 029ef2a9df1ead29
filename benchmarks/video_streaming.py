"""Peak memory and time of whole-clip vs streaming encoding with the causal video encoder, as clips grow.

Usage (from the repository root, with the package installed):

    python benchmarks/video_streaming.py                        # CPU, 9/33/65/129 frames at 32x32
    python benchmarks/video_streaming.py --device cuda --size 128 --widths 32 64 128 128
    python benchmarks/video_streaming.py --json results.json

Every (length, mode) case runs in a **fresh subprocess**, so no case inherits the allocator state of another.
Inside it the model and the clip are built first; then the encoder runs once and we record

* ``rss``: the growth of the process's peak resident memory during that run, on CPU, after a warm-up on a
  1-frame clip (so that one-time set-up such as thread pools is not charged to the case). The kernel's high-water
  mark (``VmHWM``) is reset just before the run (``/proc/self/clear_refs``) and read after it, minus the
  resident memory before it. This sees everything: PyTorch's allocator, oneDNN scratch space, malloc overhead.
  (``tracemalloc`` would not: tensors are not Python objects.) By default the cases run with glibc's mmap
  threshold fixed at 128 KiB (``MALLOC_MMAP_THRESHOLD_``), so that a freed large block goes back to the system
  and the resident memory follows what the program holds. With ``--glibc-default`` the adaptive threshold stays
  on: freed blocks then stay in the heap, which adds a bounded, history-dependent amount (for streaming it
  grows over the first ten or so chunks and then stops).
* ``torch``: the peak of PyTorch's own allocator during a second run, from ``torch.profiler`` on CPU
  or ``torch.cuda.max_memory_allocated`` on CUDA (``encoderlab.peak_memory(..., method="allocator")``).
* ``time``: the best of ``--repeats`` further runs.

On CPU, PyTorch picks a convolution algorithm by input size: small inputs (every streaming chunk) use im2col,
whose scratch buffer grows with the input; large ones (long whole clips) switch to oneDNN, which needs far less
scratch. So the whole-clip peak can *drop* when a clip gets long enough to switch. ``--pin-conv-algorithm``
turns oneDNN off in every case (``encoderlab.one_conv_algorithm``) to compare like with like.

Streaming uses the chunk plan ``[1, chunk, chunk, ...]`` with the exact per-conv cache. The script checks the
claim of Chapter 9: the peak of streaming stays flat (longest / shortest <= 1.3) while whole-clip encoding grows,
and that streaming equals whole-clip encoding (max |diff| <= 1e-5). It exits with status 1 if a check fails.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys


def _status_kib(field: str) -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS counter of this process (Linux >= 4.0); False if not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _build(args):
    import torch

    from encoderlab import CausalVideoEncoder

    torch.manual_seed(0)
    groups = min(args.groups, *args.widths)
    model = CausalVideoEncoder(block_out_channels=tuple(args.widths), num_groups=groups, z_channels=args.z)
    return model.eval().to(args.device)


def child(args) -> dict:
    """One case in this (fresh) process; prints a JSON line."""
    import torch

    from encoderlab import one_conv_algorithm, peak_memory, streaming_plan, time_call

    pinned = one_conv_algorithm if args.pin_conv_algorithm else contextlib.nullcontext

    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    model = _build(args)
    clip = torch.randn(1, 3, args.frames, args.size, args.size, generator=torch.Generator().manual_seed(1)).to(device)
    plan = streaming_plan(args.frames, args.chunk)

    def run():
        with torch.no_grad(), pinned():
            if args.mode == "whole":
                return model(clip)
            return model.encode_stream(clip, plan)

    result = {"frames": args.frames, "mode": args.mode, "device": str(device)}
    # warm-up on a 1-frame 8x8 clip: one-time set-up (thread pools, kernel caches, CUDA context) is not the
    # case's memory; it leaves at most a few hundred KiB of freed heap behind
    with torch.no_grad():
        model(torch.zeros(1, 3, 1, 8, 8, device=device))
    if device.type == "cpu":
        before = _status_kib("VmRSS")
        if before is not None and _reset_peak_rss():
            run()
            result["rss_bytes"] = (_status_kib("VmHWM") - before) * 1024
        else:  # no /proc: the lifetime peak (includes import and setup, so only an upper bound)
            import resource

            run()
            result["rss_bytes_upper_bound"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    else:
        run()  # warm-up at full size: cuDNN chooses its algorithms
    result["torch_bytes"] = peak_memory(run, device=device, method="allocator")
    result["seconds"] = time_call(run, repeats=args.repeats, warmup=0) if args.repeats else None
    print(json.dumps(result))
    return result


def _equality(args) -> list[dict]:
    """max |streaming - whole| for every length (in this process)."""
    import torch

    from encoderlab import streaming_plan

    model = _build(args)
    rows = []
    for frames in args.lengths:
        clip = torch.randn(1, 3, frames, args.size, args.size, generator=torch.Generator().manual_seed(1))
        clip = clip.to(args.device)
        with torch.no_grad():
            whole = model(clip)
        streamed = model.encode_stream(clip, streaming_plan(frames, args.chunk))
        rows.append({"frames": frames, "latent_frames": whole.shape[2], "same_frames": streamed.shape == whole.shape,
                     "max_abs_diff": (streamed - whole).abs().max().item()})
    return rows


def _mib(n) -> str:
    return "-" if n is None else f"{n / 2**20:8.2f}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=[9, 33, 65, 129])
    parser.add_argument("--size", type=int, default=32, help="height and width of the clip")
    parser.add_argument("--widths", type=int, nargs="+", default=[8, 16, 32, 32], help="block_out_channels")
    parser.add_argument("--groups", type=int, default=4, help="GroupNorm groups")
    parser.add_argument("--z", type=int, default=4, help="latent channels")
    parser.add_argument("--chunk", type=int, default=8, help="frames per chunk after the first frame")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=2, help="timed runs per case (the best is reported)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads in each case (0: torch's default)")
    parser.add_argument("--glibc-default", action="store_true",
                        help="leave glibc's adaptive mmap threshold on in the cases (see the module docstring)")
    parser.add_argument("--pin-conv-algorithm", action="store_true",
                        help="run every case with oneDNN off (im2col convolutions only), see the module docstring")
    parser.add_argument("--json", help="write all results to this file")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--frames", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--mode", choices=["whole", "stream"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args)
        return 0

    common = ["--size", str(args.size), "--widths", *map(str, args.widths), "--groups", str(args.groups),
              "--z", str(args.z), "--chunk", str(args.chunk), "--device", args.device,
              "--repeats", str(args.repeats), "--threads", str(args.threads)]
    if args.pin_conv_algorithm:
        common.append("--pin-conv-algorithm")
    results = []
    for frames in args.lengths:
        for mode in ("whole", "stream"):
            cmd = [sys.executable, os.path.abspath(__file__), "--child", "--frames", str(frames), "--mode", mode,
                   *common]
            env = dict(os.environ)
            if not args.glibc_default:
                env.setdefault("MALLOC_MMAP_THRESHOLD_", "131072")
            out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env)
            results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    equality = _equality(args)

    def get(frames, mode, key):
        return next(r.get(key) for r in results if r["frames"] == frames and r["mode"] == mode)

    memory_key = "rss_bytes" if "rss_bytes" in results[0] else "torch_bytes"
    print(f"causal video encoder, widths {tuple(args.widths)}, z {args.z}, {args.size}x{args.size}, "
          f"chunks [1, {args.chunk}, {args.chunk}, ...], device {args.device}, "
          f"malloc {'glibc default' if args.glibc_default else 'mmap threshold 128 KiB'}"
          f"{', oneDNN off' if args.pin_conv_algorithm else ''}, torch threads {args.threads or 'default'}")
    print(f"{'frames':>6} | {'whole MiB':>9} {'(torch)':>9} {'s':>7} | {'stream MiB':>10} {'(torch)':>9} "
          f"{'s':>7} | max|diff|")
    for row in equality:
        t = row["frames"]
        print(f"{t:6d} | {_mib(get(t, 'whole', memory_key)):>9} {_mib(get(t, 'whole', 'torch_bytes')):>9} "
              f"{get(t, 'whole', 'seconds'):7.3f} | {_mib(get(t, 'stream', memory_key)):>10} "
              f"{_mib(get(t, 'stream', 'torch_bytes')):>9} {get(t, 'stream', 'seconds'):7.3f} | "
              f"{row['max_abs_diff']:.1e}")
    short, long = args.lengths[0], args.lengths[-1]
    checks = {}
    for key in dict.fromkeys([memory_key, "torch_bytes"]):
        stream_ratio = get(long, "stream", key) / get(short, "stream", key)
        whole_ratio = get(long, "whole", key) / get(short, "whole", key)
        checks[f"stream peak flat ({key}: {long}/{short} frames = {stream_ratio:.2f} <= 1.3)"] = stream_ratio <= 1.3
        checks[f"whole-clip peak grows ({key}: {long}/{short} frames = {whole_ratio:.2f} > 1.3)"] = whole_ratio > 1.3
    checks["streaming == whole clip (max |diff| <= 1e-5, same frames)"] = all(
        r["same_frames"] and r["max_abs_diff"] <= 1e-5 for r in equality)
    for name, ok in checks.items():
        print(("PASS " if ok else "FAIL ") + name)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": {k: v for k, v in vars(args).items() if k not in ("child", "frames", "mode")},
                       "cases": results, "equality": equality, "checks": checks}, f, indent=2)
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
