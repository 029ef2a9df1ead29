"""Chapter 6 benchmark: ResNet blocks vs ConvNeXt-style blocks in the same small encoder (CPU).

The notebook's experiment with more seeds and steps: autoencode scikit-learn's 8x8 digits with
SmallEncoder(block_type) + the same SmallDecoder (same initial weights, same batches, same Adam steps), and
report parameters, multiply-adds, held-out reconstruction MSE per seed, and milliseconds per training step,
both wall-clock and CPU time of this process (with one thread the CPU time is the steadier of the two on a
shared machine). Timings depend on the machine and its load; run it on an idle machine before quoting them.

    .venv/bin/python benchmarks/convnext_bridge.py --steps 300 --seeds 0 1 2 --threads 1
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits

import encoderlab
from encoderlab import SmallDecoder, SmallEncoder, count_multiply_adds, count_parameters

KINDS = ("resnet", "convnext")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--ch", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--convnext-ch", type=int, default=None,
                        help="encoder width of the ConvNeXt encoder only (default: --ch), e.g. to match parameters")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cfg = dict(ch=args.ch, ch_mult=(1, 2, 2), num_blocks=1, z_channels=2)
    cnx_ch = args.convnext_ch or args.ch
    enc_cfg = {"resnet": cfg, "convnext": dict(cfg, ch=cnx_ch, num_groups=8 if cnx_ch % 8 == 0 else 4)}

    digits = torch.tensor(load_digits().images, dtype=torch.float32).unsqueeze(1) / 8 - 1
    order = torch.randperm(len(digits), generator=torch.Generator().manual_seed(0))
    train_x, test_x = digits[order[:1500]], digits[order[1500:]]

    def train(kind: str, seed: int) -> tuple[float, float, float]:
        encoderlab.seed_everything(seed)
        enc = SmallEncoder(1, block_type=kind, **enc_cfg[kind])
        encoderlab.seed_everything(seed)
        dec = SmallDecoder(1, **cfg)
        opt = torch.optim.Adam([*enc.parameters(), *dec.parameters()], lr=args.lr)
        batches = torch.Generator().manual_seed(seed)
        start, start_cpu = time.perf_counter(), time.process_time()
        for _ in range(args.steps):
            xb = train_x[torch.randint(len(train_x), (args.batch,), generator=batches)]
            loss = F.mse_loss(dec(enc(xb)), xb)
            opt.zero_grad()
            loss.backward()
            opt.step()
        seconds = (time.perf_counter() - start) / args.steps
        cpu_seconds = (time.process_time() - start_cpu) / args.steps
        enc.eval()
        dec.eval()
        with torch.no_grad():
            return F.mse_loss(dec(enc(test_x)), test_x).item(), seconds, cpu_seconds

    results: dict[str, list[tuple[float, float, float]]] = {k: [] for k in KINDS}
    for seed in args.seeds:  # interleaved, so that a change in machine load hits both kinds alike
        for kind in KINDS:
            results[kind].append(train(kind, seed))

    baseline = ((test_x - train_x.mean(0)) ** 2).mean().item()
    print(f"steps {args.steps}, batch {args.batch}, lr {args.lr}, ch {args.ch} (ConvNeXt encoder {cnx_ch}), "
          f"threads {args.threads}; "
          f"baseline test MSE (mean image) {baseline:.4f}")
    x = torch.empty(1, 1, 8, 8, device="meta")
    for kind in KINDS:
        with torch.device("meta"):
            enc = SmallEncoder(1, block_type=kind, **enc_cfg[kind])
        mse = [r[0] for r in results[kind]]
        wall = [r[1] for r in results[kind]]
        cpu = [r[2] for r in results[kind]]
        print(f"{kind:<9} params {count_parameters(enc):>7,}  MACs/image {count_multiply_adds(enc, x):>8,}  "
              f"test MSE {' '.join(f'{m:.4f}' for m in mse)}  mean {statistics.mean(mse):.4f}  "
              f"ms/step wall {' '.join(f'{1000 * s:.1f}' for s in wall)}  cpu {' '.join(f'{1000 * s:.1f}' for s in cpu)}")


if __name__ == "__main__":
    main()
