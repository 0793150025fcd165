"""Pictures: sample grids (images), scatter plots (2-D points) and training curves."""

import math
from pathlib import Path

import numpy as np
import torch


def image_grid(images: torch.Tensor, nrow: int | None = None, pad: int = 2) -> np.ndarray:
    """[N, C, H, W] in [-1, 1] -> one [H', W', 3] uint8 grid, `nrow` images per row."""
    images = images.detach().float().cpu().clamp(-1, 1)
    n, c, h, w = images.shape
    nrow = nrow or max(1, math.ceil(math.sqrt(n)))
    rows = math.ceil(n / nrow)
    grid = np.full((rows * (h + pad) + pad, nrow * (w + pad) + pad, 3), 255, dtype=np.uint8)
    pixels = ((images + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    if c == 1:
        pixels = np.repeat(pixels, 3, axis=3)
    for i in range(n):
        r, col = divmod(i, nrow)
        y, x = pad + r * (h + pad), pad + col * (w + pad)
        grid[y:y + h, x:x + w] = pixels[i, :, :, :3]
    return grid


def grid_picture(images: torch.Tensor, nrow: int | None = None, scale: int = 0):
    """A Pillow image of the grid; small grids upscaled with crisp pixels (scale 0: up to 4x, to ~512 px)."""
    from PIL import Image

    img = Image.fromarray(image_grid(images, nrow))
    if scale == 0:  # upscale grids of small images with crisp pixels so they can be seen
        scale = min(4, max(1, -(-512 // img.width)))
    if scale > 1:
        img = img.resize((img.width * scale, img.height * scale), Image.Resampling.NEAREST)
    return img


def save_image_grid(images: torch.Tensor, path: Path, nrow: int | None = None, scale: int = 0) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    grid_picture(images, nrow, scale).save(path)
    return path


def pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_scatter(points: torch.Tensor, path: Path, real: torch.Tensor | None = None, means=None,
                 title: str = "") -> Path:
    """2-D samples in orange over real data in grey (and the mixture means as crosses)."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5, 5), dpi=100)
    if real is not None:
        r = real.detach().cpu().numpy()
        ax.scatter(r[:, 0], r[:, 1], s=2, c="0.6", alpha=0.5, label="real")
    p = points.detach().float().cpu().numpy()
    ax.scatter(p[:, 0], p[:, 1], s=3, c="tab:orange", alpha=0.6, label="generated")
    if means is not None:
        m = np.asarray(means)
        ax.scatter(m[:, 0], m[:, 1], marker="x", c="k", s=30, label="modes")
    pts = p if real is None else np.concatenate([p, r])
    finite = pts[np.isfinite(pts).all(1)]
    if len(finite):
        lo, hi = np.percentile(finite, 0.5, axis=0), np.percentile(finite, 99.5, axis=0)
        margin = 0.15 * (hi - lo).max() + 1e-3
        ax.set_xlim(lo[0] - margin, hi[0] + margin)
        ax.set_ylim(lo[1] - margin, hi[1] + margin)
    ax.set_aspect("equal")
    ax.legend(loc="upper right", fontsize=7, markerscale=3)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_curves(rows: list[dict], path: Path, groups: dict[str, list[str]] | None = None) -> Path | None:
    """Line plots of stats over steps: one panel per group of keys (losses, D outputs, grad norms)."""
    if not rows:
        return None
    keys = sorted({k for r in rows for k in r if k != "step"})
    if groups is None:
        groups = {
            "losses": [k for k in keys if k.startswith("loss/")],
            "discriminator outputs": [k for k in keys if k.startswith("D/")],
            "gradient norms": [k for k in keys if k.startswith("grad_norm/")],
        }
    groups = {g: ks for g, ks in groups.items() if ks}
    if not groups:
        return None
    plt = pyplot()
    fig, axes = plt.subplots(len(groups), 1, figsize=(7, 2.6 * len(groups)), dpi=100, squeeze=False)
    for ax, (title, ks) in zip(axes[:, 0], groups.items()):
        for k in ks:
            pts = [(r["step"], r[k]) for r in rows if k in r]
            if pts:
                ax.plot(*zip(*pts), label=k, lw=1.2)
        ax.set_title(title, fontsize=9)
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
        if title == "gradient norms":
            ax.set_yscale("log")
    axes[-1, 0].set_xlabel("step")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path)
    plt.close(fig)
    return path


def save_gallery(rows: list[tuple[str, torch.Tensor]], path: Path, title: str = "") -> Path:
    """An HTML page of labelled rows of images (e.g. one caption and its samples per row), the pictures
    embedded as PNG data, so the one file is the whole gallery."""
    import base64
    import html
    import io

    parts = [f"<!doctype html><meta charset='utf-8'><title>{html.escape(title or 'gallery')}</title>",
             "<style>body{font-family:sans-serif;margin:1em}figure{margin:0 0 1em}"
             "figcaption{margin:.2em 0}img{image-rendering:pixelated}</style>",
             f"<h1>{html.escape(title)}</h1>" if title else ""]
    for label, images in rows:
        buffer = io.BytesIO()
        grid_picture(images, nrow=len(images)).save(buffer, format="PNG")
        data = base64.b64encode(buffer.getvalue()).decode()
        parts.append(f"<figure><figcaption>{html.escape(label)}</figcaption>"
                     f"<img alt='{html.escape(label, quote=True)}' src='data:image/png;base64,{data}'></figure>")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    from .train.checkpoint import atomic_write_bytes

    atomic_write_bytes(path, "\n".join(parts).encode())
    return path
