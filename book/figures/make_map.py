"""Draw book/figures/map.png: which components (Part I) make which encoders (Part II).

Run with the book's environment: `.venv/bin/python book/figures/make_map.py`.
"""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

COMPONENTS = [
    "Ch. 1  GroupNorm (and other norms)",
    "Ch. 2  Convolutions, causal convolution",
    "Ch. 3  Residual block",
    "Ch. 4  Attention mid-block",
    "Ch. 5  Reparameterization",
    "Ch. 6  ConvNeXt block",
]
SYSTEMS = [
    "Ch. 7\nlatent-diffusion\nautoencoder",
    "Ch. 8\ntrainable VAE\n(seed 003)",
    "Ch. 9\ncausal video\nencoder",
    "Ch. 10\nresidual encoder\nnetworks",
]
# USES[i][j]: how component i enters system j ("" = not used).
USES = [
    ["GroupNorm(32)", "GroupNorm(32)", "per-frame GN", "InstanceNorm"],
    ["asym. pad, nearest", "4x4 s2, transposed", "causal 3-D, stream", "strided k3"],
    ["LDM block", "1x1 skip always", "causal 3-D block", "bottleneck"],
    ["single head", "4-head MHA", "per-frame", ""],
    ["posterior", "ELBO, sampling", "posterior", ""],
    ["swapped in (Ch. 6)", "", "", ""],
]
COLOURS = ["#4c72b0", "#55a868", "#c44e52", "#8172b2", "#b08d2c", "#3a8fa8"]


def main() -> None:
    fig, ax = plt.subplots(figsize=(11, 5.0))
    n_rows, n_cols = len(COMPONENTS), len(SYSTEMS)
    x0 = 4.2
    ax.set_xlim(0, x0 + 2.0 * n_cols)
    ax.set_ylim(-0.6, n_rows + 1.6)
    ax.axis("off")
    for j, name in enumerate(SYSTEMS):
        ax.text(x0 + 2.0 * j + 1.0, n_rows + 0.75, name, ha="center", va="center", fontsize=10, weight="bold")
    for i, (name, colour) in enumerate(zip(COMPONENTS, COLOURS, strict=True)):
        y = n_rows - 1 - i
        ax.add_patch(plt.Rectangle((0.05, y + 0.08), 4.0, 0.84, color=colour))
        ax.text(0.2, y + 0.5, name, va="center", fontsize=10.5, color="white", weight="bold")
        for j in range(n_cols):
            use = USES[i][j]
            face = colour if use else "#f4f4f4"
            ax.add_patch(plt.Rectangle((x0 + 2.0 * j + 0.08, y + 0.08), 1.84, 0.84, color=face,
                                       alpha=0.85 if use else 1.0))
            if use:
                ax.text(x0 + 2.0 * j + 1.0, y + 0.5, use, ha="center", va="center", fontsize=8.5, color="white")
    ax.text(0.05, -0.35, "Part I builds the components (rows); Part II assembles them into the systems "
            "of the seed documents (columns).", fontsize=9.5, color="#333333")
    fig.tight_layout()
    out = Path(__file__).with_name("map.png")
    fig.savefig(out, dpi=110)
    print(f"wrote {out.name}")


if __name__ == "__main__":
    main()
