"""encoderlab vs diffusers: the latent-diffusion Encoder and Decoder, same weights, same input, on the CPU.

Run from the repository root (after ``make install``)::

    .venv/bin/python benchmarks/ldm_vs_diffusers.py                  # SD kl-f8 structure at half width, 128x128
    .venv/bin/python benchmarks/ldm_vs_diffusers.py --preset seed    # seed 001: attention at 16x16 too
    .venv/bin/python benchmarks/ldm_vs_diffusers.py --preset sd --size 256 --repeats 5   # full SD VAE (slow)
    .venv/bin/python benchmarks/ldm_vs_diffusers.py --preset sd --memory-only   # peak memory only, no timing
    .venv/bin/python benchmarks/ldm_vs_diffusers.py --preset sd --keep-memory   # time without page faults

Both models are built from one config with random weights; encoderlab's weights are transplanted into
diffusers through :func:`encoderlab.weights.export_weights`, and the outputs are checked equal first. Then, under
``torch.inference_mode()``, the forward passes run **interleaved** (encoderlab, diffusers, encoderlab, ...
with the order flipped every round), so that a change in machine load hits both alike; the script prints the
median wall-clock time, the best wall-clock time and the median CPU time (``time.process_time``: the work
done, less sensitive to other processes on a shared machine) of each, and the ratios encoderlab / diffusers
(< 1: encoderlab is faster). Each timed sample averages several forward passes (``--inner``). It also counts
the minor page faults of each pass (:func:`minor_faults`): part of the time, and the part that depends most
on how much a model allocates and that varies most between runs; ``--keep-memory`` times without them.

Peak memory is measured with the PyTorch profiler: every CPU allocation and free made during one forward
pass is recorded in order, and the peak of the running total (above what was allocated before the pass) is
the pass's peak memory. The ratio encoderlab / diffusers is printed (< 1: encoderlab needs less).

Besides float32 eager (the two libraries' plain code) it times, in the same interleaved rounds, the variants
of Chapter 7, *Faster than production* (``--variants``): ``fast`` (:func:`encoderlab.fast.speed_up`: the
decoder's resize-convolutions as transposed convolutions, the flat forward, Winograd's algorithm for the wide
3x3 convolutions where it pays; ``--winograd-min-channels`` overrides where), ``bf16`` (the fast model, and
diffusers, under ``torch.autocast("cpu", dtype=torch.bfloat16)``; GroupNorm statistics and softmax stay in
float32 in encoderlab) and ``compiled`` (``torch.compile`` of the fast model, and of diffusers). For each it
prints the time, the peak memory, the multiply-adds of one pass (:func:`encoderlab.cost.count_multiply_adds`),
the achieved G multiply-adds per second, the fraction of the machine's peak for the dtype
(:func:`machine_peak`) and of the best matrix product measured (:func:`gemm_rates`), and the largest
difference from the same library's float32 eager output.

This is a benchmark, not a test: its numbers depend on the machine and on what else runs on it.
"""

from __future__ import annotations

import argparse
import copy
import os
import re
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


#: bfloat16 multiply-adds per cycle and core of Intel's AMX matrix unit (TMUL): Intel gives 1,024 bfloat16
#: operations per cycle (against 64 float32 for two AVX-512 FMA units, which count a multiply-add as two), so
#: 512 multiply-adds: a 16x32 by 32x16 tile product (8,192) every 16 cycles.
AMX_BF16_PER_CYCLE = 512


def machine_peak(cores: int, clock_ghz: float | None = None, cpuinfo: str | None = None) -> dict:
    """The CPU's peak multiply-adds per second, float32 and bfloat16, from ``/proc/cpuinfo``.

    peak = cores x clock x FMA pipes x lanes per vector (x 2 for bfloat16). What is read and what is assumed:

    - lanes: 16 float32 per 512-bit vector with ``avx512f``, else 8 with ``avx2``/``fma`` (read from the flags);
    - FMA pipes: 2 vector FMA units per core, each a full vector wide: AMD Zen 5 (CPU family 26; this book's
      EPYC machine) and Intel server cores with two AVX-512 FMA units. Zen 4 (family 25) runs a 512-bit FMA as
      two 256-bit halves: counted as 1 pipe of 512 bits. (Assumed from the vendors' documentation, not measured.)
    - bfloat16: ``avx512_bf16``'s ``VDPBF16PS`` does 2 multiply-adds per float32 lane (a pair of bf16 products
      added into one float32), assumed at the FMA's throughput: twice the float32 peak. Without the flag
      bfloat16 is converted and computed in float32: the float32 peak. With ``amx_bf16`` (Intel Xeon from
      Sapphire Rapids on) the matrix unit (AMX's TMUL) does 512 bfloat16 multiply-adds per cycle and core
      (:data:`AMX_BF16_PER_CYCLE`), which is the bfloat16 peak there; oneDNN's bfloat16 convolutions and products use
      it, autocast's other work does not, so fractions of this peak are small.
    - clock: ``cpu MHz`` of ``/proc/cpuinfo`` (in a VM: the nominal/TSC frequency). Cores boost above it, so the
      true peak may be higher and the fractions printed optimistic; ``--clock-ghz`` overrides it. ``main``
      prints the clock a 2048x2048 matrix product implies when it beats this peak (on a 2-core AMD EPYC of
      family 25 with AVX2, reported at 2.45 GHz, it implied at least 2.8 GHz; on one of family 26 with AVX-512,
      reported at 2.60 GHz, the bfloat16 product implied 3.05 GHz), and the table gives each variant's rate as
      a fraction of the best product's too (:func:`gemm_rates`): a ceiling measured, not assumed.
    - cores: the torch threads (one per physical core here; SMT siblings share the FMA units).
    """
    if cpuinfo is None:  # the text of /proc/cpuinfo (given: for tests)
        cpuinfo = open("/proc/cpuinfo").read() if os.path.exists("/proc/cpuinfo") else ""
    text = cpuinfo
    flags = set(re.search(r"^flags\s*:(.*)$", text, re.M).group(1).split()) if "flags" in text else set()
    family = re.search(r"^cpu family\s*:\s*(\d+)", text, re.M)
    mhz = re.search(r"^cpu MHz\s*:\s*([\d.]+)", text, re.M)
    clock = clock_ghz or (float(mhz.group(1)) / 1e3 if mhz else 2.0)
    lanes = 16 if "avx512f" in flags else 8
    pipes = 1 if lanes == 16 and family and int(family.group(1)) == 25 else 2
    fp32 = cores * clock * 1e9 * pipes * lanes
    if "amx_bf16" in flags:
        bf16 = cores * clock * 1e9 * AMX_BF16_PER_CYCLE
    else:
        bf16 = 2 * fp32 if "avx512_bf16" in flags else fp32
    return {"float32": fp32, "bfloat16": bf16, "clock_ghz": clock, "pipes": pipes, "lanes": lanes,
            "amx": "amx_bf16" in flags}


def gemm_rates(dtype: torch.dtype, n: int = 2048, repeats: int = 5) -> dict:
    """Multiply-adds per second of the best of ``repeats`` ``n x n`` matrix products in ``dtype``, computed two
    ways: ``"matmul"`` (``a @ b``: MKL's GEMM on a CPU, for float32) and ``"conv1x1"`` (the same product as a
    1x1 convolution of a channels-last map: oneDNN's kernels, the ones the models' convolutions run on). The
    faster of the two is what the machine attains on the friendliest kernel there is: a check on
    :func:`machine_peak`'s assumptions (above 100% of it, the cores run faster than the assumed clock) and the
    ceiling the table's 'of best GEMM' column divides by. (On an AMD CPU with AVX-512, float32 ``a @ b`` runs
    at about half the 1x1 convolution's rate.) bfloat16 on a CPU without native bfloat16 is emulated (minutes
    at ``n = 2048``), so there 512x512 products are timed once."""
    import torch.nn.functional as F

    from encoderlab.fast import cpu_has_native_bfloat16

    if dtype == torch.bfloat16 and not cpu_has_native_bfloat16():
        n, repeats = 512, 1
    a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
    image = a.view(1, n, 1, n).permute(0, 3, 1, 2)  # (1, C = n, H = n, W = 1), channels-last: a's rows
    kernel = b.t().contiguous().view(n, n, 1, 1)
    rates = {}
    for name, fn in (("matmul", lambda: a @ b), ("conv1x1", lambda: F.conv2d(image, kernel))):
        fn()
        best = float("inf")
        for _ in range(repeats):
            start = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - start)
        rates[name] = n**3 / best
    return rates


def variants(ours, ref, x, names, winograd_min_channels=None):
    """``{label: (callable, dtype)}``: the variants of both libraries to time, for ``x``."""
    from encoderlab.fast import speed_up

    fast = speed_up(copy.deepcopy(ours), winograd_min_channels=winograd_min_channels)

    def bf16(model):
        def run():
            with torch.autocast("cpu", dtype=torch.bfloat16):
                return model(x)
        return run

    out = {"encoderlab eager": (lambda: ours(x), "float32"), "diffusers eager": (lambda: ref(x), "float32")}
    if "fast" in names:
        out["encoderlab fast"] = (lambda: fast(x), "float32")
    if "bf16" in names:
        out["encoderlab fast bf16"] = (bf16(fast), "bfloat16")
        out["diffusers bf16"] = (bf16(ref), "bfloat16")
    if "compiled" in names:
        fast_c, ref_c = torch.compile(copy.deepcopy(fast)), torch.compile(ref)
        out["encoderlab fast compiled"] = (lambda: fast_c(x), "float32")
        out["diffusers compiled"] = (lambda: ref_c(x), "float32")
    return out, fast


def minor_faults() -> int:
    """Minor page faults of this process so far (``getrusage``; 0 where the platform has no ``resource``).

    A forward pass that allocates a block the C allocator had handed back to the operating system touches
    fresh pages, and the kernel maps and zeroes each 4 KiB page on its first write: with glibc's default
    settings a large freed block at the top of the heap is returned at once, so every pass pays again, and a
    model that allocates more per pass pays more (a few microseconds per page, tens of milliseconds per pass
    at SD width). The table prints the median per pass, beside the time it is part of."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not POSIX
        return 0
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def keep_freed_memory() -> bool:
    """Tell glibc's allocator to keep every freed block in the process (``mallopt``: no trimming of the heap,
    no ``mmap`` for large blocks), so that after the warm-up no pass touches a fresh page. For ``--keep-memory``:
    the time of the computation alone, without the page faults (:func:`minor_faults`) whose number varies
    from run to run with where the allocator happened to place the blocks. Process-wide, for both libraries
    alike; False where the C library is not glibc."""
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    m_trim_threshold, m_mmap_max = -1, -4  # glibc's malloc.h
    return bool(mallopt(m_trim_threshold, 2**30)) and bool(mallopt(m_mmap_max, 0))


def time_interleaved(fns: dict, inner: int, repeats: int):
    """``repeats`` interleaved rounds over all variants (the order rotated every round): ``(wall, cpu, faults,
    inner)``, ``wall`` and ``cpu`` dicts of per-forward-pass seconds, ``faults`` of per-pass minor page faults
    (:func:`minor_faults`); ``inner`` passes per sample (0: about 0.3 s for diffusers' float32 eager pass)."""
    for fn in fns.values():
        fn(), fn()  # warm-up (one-time allocations, oneDNN primitive caches, compilation)
    if inner <= 0:
        one = []
        for _ in range(3):
            start = time.perf_counter()
            fns["diffusers eager"]()
            one.append(time.perf_counter() - start)
        inner = max(1, round(0.3 / min(one)))
    names = list(fns)
    wall = {k: [] for k in names}
    cpu = {k: [] for k in names}
    faults = {k: [] for k in names}
    for r in range(repeats):
        for name in names[r % len(names):] + names[:r % len(names)]:
            start_faults = minor_faults()
            start, start_cpu = time.perf_counter(), time.process_time()
            for _ in range(inner):
                fns[name]()
            cpu[name].append((time.process_time() - start_cpu) / inner)
            wall[name].append((time.perf_counter() - start) / inner)
            faults[name].append((minor_faults() - start_faults) / inner)
    return wall, cpu, faults, inner


def report_part(part, ours, ref, x, args, peak_rate, gemm) -> bool:
    """Check, measure and print one part (Encoder or Decoder); True when encoderlab equals diffusers."""
    from encoderlab.cost import count_multiply_adds
    from encoderlab.fast import speed_up

    names = [v for v in args.variants.split(",") if v]
    # the copies outside inference mode: ordinary parameters
    table, fast = variants(ours, ref, x, names, args.winograd_min_channels)
    with torch.inference_mode():
        fns = {k: fn for k, (fn, _) in table.items()}
        outputs = {k: fn().float() for k, fn in fns.items()}
        diff = (outputs["encoderlab eager"] - outputs["diffusers eager"]).abs().max().item()
        print(f"\n{part}: input {tuple(x.shape)}, max |encoderlab - diffusers| = {diff:.2e} (float32 eager)")
        if not args.memory_only:
            wall, cpu, faults, inner = time_interleaved(fns, args.inner, args.repeats)
        mem = {k: min(peak_bytes(fn) for _ in range(2)) for k, fn in fns.items() if "compiled" not in k}
    # Winograd's algorithm steps aside under autocast and torch.compile: those variants do the fast path's
    # other savings only (the folded upsamplers)
    aside = speed_up(copy.deepcopy(ours), winograd_min_channels=0)
    macs = {"encoderlab": count_multiply_adds(ours, x), "encoderlab fast": count_multiply_adds(fast, x),
            "aside": count_multiply_adds(aside, x), "diffusers": count_multiply_adds(ref, x)}
    winograd = sum(1 for m in fast.modules() if "_winograd" in vars(m))
    print(f"  multiply-adds per pass: encoderlab {macs['encoderlab'] / 1e9:.2f} G, encoderlab fast "
          f"{macs['encoderlab fast'] / 1e9:.2f} G ({winograd} convolutions by Winograd's algorithm; "
          f"{macs['aside'] / 1e9:.2f} G bfloat16 and compiled, where it steps aside), diffusers "
          f"{macs['diffusers'] / 1e9:.2f} G")
    kept = 0
    for m in fast.modules():
        if getattr(m, "_kept", None) is not None:  # a ResizeConvUpsample's transposed kernel
            kept += m._kept[2].nbytes
        if getattr(m, "_winograd", None) is not None:  # a convolution's Winograd transform
            kept += m._winograd[2].nbytes
    weights = sum(p.nbytes for p in ours.parameters())
    print(f"  encoderlab fast keeps {kept / 2**20:.1f} MiB of derived kernels beside its {weights / 2**20:.1f} MiB of "
          f"weights ({kept / weights:.0%}; made by the first pass, not in the peaks below)")
    head = f"  {'variant':26s} {'median ms':>9s} {'CPU ms':>8s} {'peak MiB':>8s} {'GMAC/s':>7s} {'of peak':>7s}"
    print(head + f" {'of best GEMM':>12s} {'faults':>7s} {'max |diff| vs fp32':>18s}")
    for name in fns:
        own = "encoderlab eager" if name.startswith("encoderlab") else "diffusers eager"
        err = (outputs[name] - outputs[own]).abs().max().item()
        n_macs = macs["diffusers" if name.startswith("diffusers") else "encoderlab" if "fast" not in name
                      else "encoderlab fast" if name == "encoderlab fast" else "aside"]
        peak = f"{mem[name] / 2**20:8.2f}" if name in mem else f"{'-':>8s}"
        if args.memory_only:
            print(f"  {name:26s} {'-':>9s} {'-':>8s} {peak} {'-':>7s} {'-':>7s} {'-':>12s} {'-':>7s} {err:18.2e}")
            continue
        med = statistics.median(wall[name])
        rate = n_macs / med
        dtype = table[name][1]
        print(f"  {name:26s} {med * 1e3:9.1f} {statistics.median(cpu[name]) * 1e3:8.1f} {peak} "
              f"{rate / 1e9:7.1f} {rate / peak_rate[dtype]:7.1%} {rate / gemm[dtype]:12.1%} "
              f"{statistics.median(faults[name]):7.0f} {err:18.2e}")
    if not args.memory_only:
        print(f"  ({args.repeats} interleaved rounds of {inner} forward pass(es) per variant; median wall time; "
              f"faults: minor page faults per pass, see minor_faults)")
        base = statistics.median(wall["diffusers eager"])
        for name in fns:
            if name.startswith("encoderlab"):
                print(f"  time ratio {name} / diffusers eager: {statistics.median(wall[name]) / base:.3f}")
    for name in ("encoderlab eager", "encoderlab fast"):
        if name in mem:
            print(f"  peak-memory ratio {name} / diffusers eager: {mem[name] / mem['diffusers eager']:.3f}")
    return diff < 1e-4


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
    parser.add_argument("--repeats", type=int, default=11, help="timed rounds per part")
    parser.add_argument("--inner", type=int, default=0,
                        help="forward passes per timed sample (0: enough for about 0.3 s per sample)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: leave torch's default)")
    parser.add_argument("--parts", default="Encoder,Decoder")
    parser.add_argument("--variants", default="fast,bf16,compiled",
                        help="besides float32 eager, any of fast,bf16,compiled (empty: eager only)")
    parser.add_argument("--winograd-min-channels", type=int, default=None,
                        help="speed_up's threshold for Winograd's algorithm (0: off; default: speed_up's, which "
                             "depends on the CPU)")
    parser.add_argument("--clock-ghz", type=float, help="the clock for the machine's peak (default: /proc/cpuinfo)")
    parser.add_argument("--keep-memory", action="store_true",
                        help="keep freed memory in the process (keep_freed_memory): time the computation without "
                             "page faults")
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
    if args.memory_only:
        args.variants = ",".join(v for v in args.variants.split(",") if v != "compiled")

    if args.keep_memory and not keep_freed_memory():
        print("--keep-memory: this C library has no glibc mallopt; freed memory is handled as usual")
    pairs, inputs = build(args)
    peak = machine_peak(torch.get_num_threads(), args.clock_ghz)
    print(f"preset {args.preset}: ch={args.ch} ch_mult=({args.ch_mult}) num_res_blocks={args.num_res_blocks} "
          f"attn_resolutions=[{args.attn_resolutions}] input {args.batch}x3x{args.size}x{args.size}; "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads"
          + ("; freed memory kept (--keep-memory)" if args.keep_memory else ""))
    bf16_how = f"; AMX: x {AMX_BF16_PER_CYCLE} bfloat16 per cycle" if peak["amx"] else ""
    print(f"machine peak ({torch.get_num_threads()} cores x {peak['clock_ghz']:.2f} GHz x {peak['pipes']} FMA pipes "
          f"x {peak['lanes']} float32 lanes{bf16_how}): {peak['float32'] / 1e9:.0f} G multiply-adds/s float32, "
          f"{peak['bfloat16'] / 1e9:.0f} bfloat16 (see machine_peak for what is assumed)")
    rates = {}
    if not args.memory_only:
        for name, dtype in (("float32", torch.float32), ("bfloat16", torch.bfloat16)):
            gemm = gemm_rates(dtype)
            rates[name] = max(gemm.values())
            print(f"a {name} 2048x2048 product attains " + ", ".join(
                f"{r / 1e9:.0f} G multiply-adds/s as {how} ({r / peak[name]:.0%} of that peak)"
                for how, r in gemm.items()))
            if rates[name] > peak[name]:
                per_cycle = peak[name] / (peak["clock_ghz"] * 1e9)
                print(f"  it beats the assumed peak: the cores run at {rates[name] / per_cycle / 1e9:.2f} GHz or "
                      f"faster, not {peak['clock_ghz']:.2f}; 'of best GEMM' below is the measured ceiling")
    ok = True
    for part in args.parts.split(","):
        ours, ref = pairs[part]
        ok = report_part(part, ours, ref, inputs[part], args, peak, rates) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
