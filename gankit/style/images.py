"""Images in and out of style transfer, and the bundled content and style material.

Any image Pillow opens works: grey, RGB, RGBA (composited on white), palette and 16-bit images are
brought to RGB in [0, 1]. Images larger than `max_side` are resized down with a note, so a phone photo
does not run the machine out of memory. Outputs are written atomically (no half-written file).

Bundled material (offline, nothing downloaded): content photos are scikit-image's sample photos
(astronaut, coffee, chelsea, rocket, motorcycle); styles are three of scikit-image's pictures
(the Hubble deep field, an immunohistochemistry stain, the brick texture) and three procedural
paintings made by seeded code below (waves, mosaic, strokes). Refer to them as `bundled:NAME`.
"""

import io
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ..errors import GankitError
from ..log import info

DEFAULT_MAX_SIDE = 1024
PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "motorcycle")
SKIMAGE_STYLES = {"hubble": "hubble_deep_field", "stain": "immunohistochemistry", "brick": "brick"}
PROCEDURAL_STYLES = ("waves", "mosaic", "strokes")
STYLES = (*SKIMAGE_STYLES, *PROCEDURAL_STYLES)


def to_rgb_array(img) -> np.ndarray:
    """A Pillow image of any mode -> [H, W, 3] float32 in [0, 1]."""
    from PIL import Image

    if img.mode in ("I;16", "I;16B", "I;16L", "I"):  # 16-bit (or 32-bit int) grey: keep the precision
        a = np.asarray(img, dtype=np.float32)
        top = 65535.0 if img.mode.startswith("I;16") or a.max() > 255 else 255.0
        a = np.clip(a / top, 0, 1)
        return np.repeat(a[..., None], 3, axis=2)
    if img.mode == "F":
        a = np.clip(np.asarray(img, dtype=np.float32), 0, 1)
        return np.repeat(a[..., None], 3, axis=2)
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(white, rgba)
    return np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0


def _resize(a: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """[H, W, 3] float in [0, 1] -> (width, height) `size`, Lanczos."""
    from PIL import Image

    img = Image.fromarray((a * 255).round().astype(np.uint8))
    return np.asarray(img.resize(size, Image.Resampling.LANCZOS), dtype=np.float32) / 255.0


def bundled(name: str) -> np.ndarray:
    """A bundled photo or style image: [H, W, 3] float in [0, 1]."""
    if name in PROCEDURAL_STYLES:
        return procedural(name)
    source = SKIMAGE_STYLES.get(name, name if name in PHOTOS else None)
    if source is None:
        raise GankitError(f"bundled:{name}: no such bundled image; photos: {', '.join(PHOTOS)}; "
                          f"styles: {', '.join(STYLES)}")
    try:
        import skimage.data
    except ImportError:
        raise GankitError("the bundled images come with scikit-image: pip install scikit-image") from None
    a = skimage.data.stereo_motorcycle()[0] if source == "motorcycle" else getattr(skimage.data, source)()
    a = a.astype(np.float32) / (65535.0 if a.dtype == np.uint16 else 255.0)
    if a.ndim == 2:
        a = np.repeat(a[..., None], 3, axis=2)
    return a[..., :3]


def read_image(path: str | Path, max_side: int = DEFAULT_MAX_SIDE, what: str = "image") -> Tensor:
    """A file (or `bundled:NAME`) -> [1, 3, H, W] float in [0, 1], at most `max_side` on its longer side."""
    path = str(path)
    if path.startswith("bundled:"):
        a = bundled(path[len("bundled:"):])
    else:
        a = _open(Path(path).expanduser(), what)
    return as_tensor(a, max_side, f"{what} {path}")


def as_tensor(a: np.ndarray, max_side: int = DEFAULT_MAX_SIDE, what: str = "image") -> Tensor:
    """[H, W, 3] float in [0, 1] -> [1, 3, H, W], at most `max_side` on its longer side (Lanczos)."""
    h, w = a.shape[:2]
    if max_side and max(h, w) > max_side:
        scale = max_side / max(h, w)
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        info(f"{what}: {w}x{h} resized to {size[0]}x{size[1]} (--max-side {max_side})")
        a = _resize(a, size)
    return torch.from_numpy(np.ascontiguousarray(a)).permute(2, 0, 1).unsqueeze(0).contiguous()


def _open(path: Path, what: str) -> np.ndarray:
    from PIL import Image

    if not path.is_file():
        raise GankitError(f"{what} {path}: no such file")
    Image.MAX_IMAGE_PIXELS = 200_000_000  # refuse decompression bombs beyond this, with the error below
    try:
        with Image.open(path) as img:
            img.load()
            return to_rgb_array(img)
    except Exception as e:  # Pillow raises many types for unreadable files
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise GankitError(f"{what} {path}: cannot read it as an image ({reason[:120]})") from None


def fit(x: Tensor, multiple: int) -> Tensor:
    """Resize [B, C, H, W] so both sides are multiples of `multiple` (nearest such size, at least one multiple)."""
    h, w = x.shape[-2:]
    size = (max(multiple, round(h / multiple) * multiple), max(multiple, round(w / multiple) * multiple))
    if size == (h, w):
        return x
    return torch.nn.functional.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)


def resize_to(x: Tensor, size: tuple[int, int]) -> Tensor:
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    return torch.nn.functional.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)


def write_image(x: Tensor, out: str | Path) -> Path:
    """[1, 3, H, W] (or [3, H, W]) in [0, 1] -> PNG/JPEG, written to a temporary name and renamed."""
    from PIL import Image

    from ..train.checkpoint import atomic_write_bytes

    out = Path(out)
    if out.suffix.lower() not in (".png", ".jpg", ".jpeg"):
        raise GankitError(f"{out}: write images as .png or .jpg")
    a = (x.detach().float().cpu().clamp(0, 1).reshape(-1, *x.shape[-2:]).permute(1, 2, 0).numpy() * 255)
    buffer = io.BytesIO()
    Image.fromarray(a.round().astype(np.uint8)).save(buffer, format="PNG" if out.suffix.lower() == ".png" else "JPEG")
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out, buffer.getvalue())
    return out


# ------------------------------------------------------------------------------ procedural styles


def procedural(name: str, size: int = 512, seed: int = 0) -> np.ndarray:
    """Seeded paintings with strong, distinct texture statistics: [size, size, 3] float in [0, 1]."""
    rng = np.random.default_rng(seed + PROCEDURAL_STYLES.index(name))
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    if name == "waves":  # warped bands in a blue-orange palette
        warp = 0.08 * np.sin(2 * np.pi * (3 * xx + rng.random())) + 0.05 * np.sin(2 * np.pi * 7 * yy)
        t = 0.5 + 0.5 * np.sin(2 * np.pi * 9 * (yy + warp))
        low, high = np.array([0.05, 0.15, 0.45]), np.array([1.0, 0.6, 0.1])
        return (low + t[..., None] * (high - low)).astype(np.float32)
    if name == "mosaic":  # Voronoi tiles in saturated colours with dark grout
        centres = rng.random((120, 2)).astype(np.float32)
        d = (yy[..., None] - centres[:, 0]) ** 2 + (xx[..., None] - centres[:, 1]) ** 2
        order = np.sort(d, axis=-1)
        palette = rng.choice(np.array([[0.85, 0.1, 0.1], [0.1, 0.5, 0.85], [0.95, 0.8, 0.1], [0.1, 0.6, 0.3],
                                       [0.9, 0.9, 0.85]], dtype=np.float32), size=len(centres))
        img = palette[d.argmin(-1)]
        edge = (np.sqrt(order[..., 1]) - np.sqrt(order[..., 0])) < 0.006
        img[edge] = 0.08
        return img.astype(np.float32)
    # strokes: many short oriented dabs of colour over a warm ground
    img = np.ones((size, size, 3), np.float32) * np.array([0.93, 0.87, 0.7], np.float32)
    colours = np.array([[0.1, 0.2, 0.6], [0.8, 0.3, 0.1], [0.15, 0.45, 0.2], [0.95, 0.75, 0.2]], np.float32)
    for _ in range(700):
        cy, cx = rng.random(2)
        angle = rng.normal(0.6, 0.3)
        length, width = rng.uniform(0.03, 0.08), rng.uniform(0.004, 0.01)
        colour = colours[rng.integers(len(colours))] * rng.uniform(0.8, 1.1)
        r = int(length * size) + 2  # the dab's bounding box: only those pixels are computed
        top, left = max(0, int(cy * size) - r), max(0, int(cx * size) - r)
        ys, xs = yy[top:top + 2 * r, left:left + 2 * r], xx[top:top + 2 * r, left:left + 2 * r]
        u = (xs - cx) * np.cos(angle) + (ys - cy) * np.sin(angle)
        v = -(xs - cx) * np.sin(angle) + (ys - cy) * np.cos(angle)
        img[top:top + 2 * r, left:left + 2 * r][(u / length) ** 2 + (v / width) ** 2 < 1] = colour
    return np.clip(img, 0, 1)


# ------------------------------------------------------------------------------ bundled datasets

DEFAULT_DATA_RESOLUTION = 128


def windows(a: np.ndarray, resolution: int, grid: int = 3) -> list[np.ndarray]:
    """The image resized so its shorter side is `grid`/2 + 1/2 resolutions, cut into grid x grid overlapping
    resolution-sized windows: more distinct training crops from a handful of pictures."""
    h, w = a.shape[:2]
    scale = resolution * (grid + 1) / 2 / min(h, w)
    a = _resize(a, (max(resolution, round(w * scale)), max(resolution, round(h * scale))))
    h, w = a.shape[:2]
    tops = np.linspace(0, h - resolution, grid).round().astype(int)
    lefts = np.linspace(0, w - resolution, grid).round().astype(int)
    return [a[t:t + resolution, l:l + resolution] for t in tops for l in lefts]


def bundled_dataset(which: str, resolution: int = 0):
    """`photos` (content) or `styles`: the bundled pictures as a dataset of 9 windows each (uint8 RGB)."""
    from ..data.base import Dataset, image_spec

    resolution = resolution or DEFAULT_DATA_RESOLUTION
    names = PHOTOS if which == "photos" else STYLES
    crops = [c for name in names for c in windows(bundled(name), resolution)]
    x = torch.from_numpy((np.stack(crops) * 255).round().astype(np.uint8)).permute(0, 3, 1, 2).contiguous()
    return Dataset(image_spec(which, x, None, pictures=list(names)), x)
