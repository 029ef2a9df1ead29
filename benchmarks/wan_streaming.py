"""Peak memory and time of Wan 2.1's encoder as clips grow: encoderlab's WanEncoder (whole clip, and streamed
with the exact cache) beside diffusers' AutoencoderKLWan.encode (its fixed plan: 1 frame, then 4), same weights.

Usage (from the repository root; timings only mean something on a quiet machine):

    python benchmarks/wan_streaming.py                                   # CPU, base_dim 16, 32x32
    python benchmarks/wan_streaming.py --base-dim 96 --size 256 --frames 17 33 65 --device cuda
    python benchmarks/wan_streaming.py --json results.json

For every clip length it records ``encoderlab.cost.peak_memory(..., method="allocator")`` (every byte PyTorch's
allocator hands out during the call: torch.profiler on CPU, the CUDA counter on CUDA) and the best of
``--repeats`` timed runs (``encoderlab.cost.time_call``) of

* ``ours_whole``: ``WanEncoder(clip)``, the whole clip at once (memory grows with the clip);
* ``ours_stream``: ``WanEncoder.encode_stream(clip, [1, chunk, chunk, ...])`` (``--chunk``, default 4);
* ``diffusers``: ``AutoencoderKLWan.encode(clip)``.

Checks (exit status 1 if one fails): the three results agree (max |diff| <= 1e-4 in float32), and the
streaming peak stays flat (longest / shortest clip <= 1.3).
"""

from __future__ import annotations

import argparse
import json
import sys

import torch


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, nargs="+", default=[9, 17, 33, 65])
    parser.add_argument("--size", type=int, default=32, help="height and width of the clip")
    parser.add_argument("--base-dim", type=int, default=16, help="Wan 2.1: 96")
    parser.add_argument("--chunk", type=int, default=4, help="frames per chunk after the first frame")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--no-time", action="store_true", help="memory only")
    parser.add_argument("--json", help="write the rows to this file")
    args = parser.parse_args(argv)

    from diffusers import AutoencoderKLWan

    from encoderlab.cost import peak_memory, time_call
    from encoderlab.video_measure import streaming_plan
    from encoderlab.video_weights import load_wan_encoder, wan_encoder_from_config

    device = torch.device(args.device)
    torch.manual_seed(0)
    vae = AutoencoderKLWan(base_dim=args.base_dim).eval()
    model = wan_encoder_from_config(dict(vae.config)).eval()
    load_wan_encoder(model, vae.state_dict())
    vae.to(device), model.to(device)

    runs = {
        "ours_whole": lambda clip: model(clip),
        "ours_stream": lambda clip: model.encode_stream(clip, streaming_plan(clip.shape[2], args.chunk)),
        "diffusers": lambda clip: vae.encode(clip).latent_dist.parameters,
    }
    rows, ok = [], True
    with torch.no_grad():
        for frames in args.frames:
            clip = torch.randn(1, 3, frames, args.size, args.size, device=device)
            results = {name: run(clip) for name, run in runs.items()}
            diff = max(float((results[n] - results["ours_whole"]).abs().max()) for n in ("ours_stream", "diffusers"))
            row = {"frames": frames, "max_diff": diff}
            for name, run in runs.items():
                row[f"{name}_bytes"] = peak_memory(run, clip, device=device, method="allocator")
                if not args.no_time:
                    row[f"{name}_s"] = time_call(run, clip, repeats=args.repeats, warmup=1)
            ok &= diff <= 1e-4
            rows.append(row)
            print(" ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()))
    growth = rows[-1]["ours_stream_bytes"] / max(rows[0]["ours_stream_bytes"], 1)
    print(f"streaming peak, longest / shortest clip: {growth:.2f}")
    ok &= growth <= 1.3
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    print("checks passed" if ok else "CHECK FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
