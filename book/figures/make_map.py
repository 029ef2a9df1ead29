"""Draw book/figures/map.png: which components (Part I) make which encoders (Part II).

Run with the book's environment: `.venv/bin/python book/figures/make_map.py`.
"""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

COMPONENTS = [
    "Ch. 1  GroupNorm",
    "Ch. 2  Convolutions,\n           causal convolution",
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
    ["asym. pad,\nnearest", "4x4 stride 2,\ntransposed", "causal 3-D,\nstreaming", "strided k3"],
    ["LDM block", "1x1 skip\nalways", "causal 3-D\nblock", "bottleneck"],
    ["single head", "4-head MHA", "per-frame", ""],
    ["posterior", "ELBO,\nsampling", "posterior", ""],
    ["swapped in\n(Ch. 6)", "", "", ""],
]
# Dark enough for white text, and tints of them for dark text: every label reads at WCAG AA (4.5:1) or better.
COLOURS = ["#3b5b92", "#2d6a3e", "#a3333a", "#5e4b8b", "#7a5c10", "#21606f"]
TEXT = "#1b1b1b"
EMPTY = "#f2f2f2"
TINT = 0.22  # share of the row colour in a used cell


def _rgb(colour: str) -> tuple[float, float, float]:
    return tuple(int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5))


def _tint(colour: str) -> tuple[float, float, float]:
    return tuple(TINT * c + (1 - TINT) for c in _rgb(colour))


def contrast(fg, bg) -> float:
    """WCAG 2 contrast ratio of two sRGB colours given as 0-1 triples."""

    def lum(c):
        lin = [v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4 for v in c]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]

    hi, lo = sorted((lum(fg), lum(bg)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def main() -> None:
    for colour in COLOURS:  # the figure is only drawn with readable label colours
        assert contrast((1, 1, 1), _rgb(colour)) >= 4.5, colour
        assert contrast(_rgb(TEXT), _tint(colour)) >= 4.5, colour

    # Drawn at the width it is shown (about 700 CSS px for 9 in): 11.5 pt text is about 12 px on screen.
    fig, ax = plt.subplots(figsize=(9, 5.6))
    n_rows, n_cols = len(COMPONENTS), len(SYSTEMS)
    x0, col_w, row_h = 3.75, 1.85, 1.0
    ax.set_xlim(0, x0 + col_w * n_cols)
    ax.set_ylim(0, n_rows * row_h + 1.25)
    ax.axis("off")
    for j, name in enumerate(SYSTEMS):
        ax.text(
            x0 + col_w * j + col_w / 2,
            n_rows * row_h + 0.6,
            name,
            ha="center",
            va="center",
            fontsize=11,
            weight="bold",
            color=TEXT,
            linespacing=1.15,
        )
    for i, (name, colour) in enumerate(zip(COMPONENTS, COLOURS, strict=True)):
        y = (n_rows - 1 - i) * row_h
        ax.add_patch(plt.Rectangle((0.02, y + 0.05), x0 - 0.12, row_h - 0.1, color=colour))
        ax.text(0.15, y + row_h / 2, name, va="center", fontsize=12, color="white", weight="bold")
        for j in range(n_cols):
            use = USES[i][j]
            face = _tint(colour) if use else EMPTY
            ax.add_patch(
                plt.Rectangle((x0 + col_w * j + 0.05, y + 0.05), col_w - 0.1, row_h - 0.1, color=face)
            )
            if use:
                ax.text(
                    x0 + col_w * j + col_w / 2,
                    y + row_h / 2,
                    use,
                    ha="center",
                    va="center",
                    fontsize=11.5,
                    color=TEXT,
                    linespacing=1.1,
                )
    fig.tight_layout(pad=0.3)
    out = Path(__file__).with_name("map.png")
    fig.savefig(out, dpi=200)
    print(f"wrote {out.name}")


if __name__ == "__main__":
    main()
