"""Latent-space tools of a trained run: style mixing, truncation rows, interpolation and projection.

- Style mixing (StyleGAN §3.1, Fig. 3): images of source A whose styles at a range of layers come from
  source B; the grid has B's images on top, A's on the left, each mix where their row and column meet.
- Truncation (StyleGAN §3.2, Fig. 8): w' = w̄ + ψ(w - w̄), one row of the same seeds per ψ.
- Interpolation: frames between consecutive seeds' latents, spherical in z (z is Gaussian, so the
  straight line would pass through atypically short codes) and linear in w (StyleGAN §4.1 measures
  perceptual path length that way); every image recipe with a latent z has the z version.
- Projection (StyleGAN2 §5 in spirit): the w (one style for every layer) whose image is closest to a
  target, found by Adam from w̄ on the pixel MSE, with noise held at the net's const maps.

W tools need a recipe whose `style_space(nets)` is not None (stylegan); others are one-line errors.
"""

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from .errors import GankitError


def style_space(pipe, ema: bool = True, what: str = "this tool"):
    space = pipe.recipe.style_space(pipe.nets, ema)
    if space is None:
        raise GankitError(f"{what} needs a style-based generator with a W space (stylegan); "
                          f"{pipe.recipe.name} has none")
    return space


def parse_layers(text: str, space) -> tuple[int, int]:
    """coarse | middle | fine | A-B (style layers A..B inclusive, 0-based) -> [start, end)."""
    groups = space.layer_groups()
    if text in groups:
        start, end = groups[text]
        if start == end:
            names = ", ".join(f"{k} {a}-{b - 1}" for k, (a, b) in groups.items() if b > a)
            raise GankitError(f"--layers {text}: this generator has no {text} layers ({names})")
    else:
        a, sep, b = text.partition("-")
        if not (sep and a.isdigit() and b.isdigit()):
            raise GankitError(f"--layers {text}: use coarse, middle, fine or A-B (layers 0..{space.num_ws - 1})")
        start, end = int(a), int(b) + 1
    if not 0 <= start < end <= space.num_ws:
        raise GankitError(f"--layers {text}: this generator has style layers 0..{space.num_ws - 1}")
    return start, end


def seeds_z(recipe, seeds: list[int]) -> Tensor:
    """One latent code per seed, each what `sample(1, seed=s)` would draw first."""
    return torch.cat([recipe.latent(1, torch.Generator().manual_seed(s)) for s in seeds])


@torch.no_grad()
def mix(pipe, rows: list[int], cols: list[int], layers: str, ema: bool = True) -> tuple[Tensor, int]:
    """The style-mixing grid as images [(1 + R) · (1 + C), ...] with its row length 1 + C: a blank corner,
    the column sources (B), then per row the row source (A) and its mixes with each B."""
    space = style_space(pipe, ema, "style mixing")
    start, end = parse_layers(layers, space)
    w_a, w_b = space.map(seeds_z(pipe.recipe, rows)), space.map(seeds_z(pipe.recipe, cols))
    ws_a, ws_b = space.broadcast(w_a), space.broadcast(w_b)
    mixed = ws_a.unsqueeze(1).repeat(1, len(cols), 1, 1)                 # [R, C, num_ws, w_dim]
    mixed[:, :, start:end] = ws_b[:, start:end].unsqueeze(0)
    images_a, images_b = space.synthesize(ws_a), space.synthesize(ws_b)
    images_mix = space.synthesize(mixed.flatten(0, 1)).view(len(rows), len(cols), *images_a.shape[1:])
    blank = torch.ones_like(images_a[:1])
    grid = [blank, images_b] + [torch.cat([images_a[i:i + 1], images_mix[i]]) for i in range(len(rows))]
    return torch.cat(grid), 1 + len(cols)


@torch.no_grad()
def truncation_rows(pipe, psis: list[float], seeds: list[int], ema: bool = True) -> Tensor:
    """One row per ψ of the same seeds (const noise so only ψ changes between rows)."""
    style_space(pipe, ema, "truncation")
    rows = []
    for psi in psis:
        rows += [pipe(1, seed=s, ema=ema, truncation=psi, noise="const").data for s in seeds]
    return torch.cat(rows)


def slerp(a: Tensor, b: Tensor, t: Tensor) -> Tensor:
    """Spherical interpolation of rows a, b at fractions t (linear where they are parallel)."""
    cos = ((a * b).sum(-1) / (a.norm(dim=-1) * b.norm(dim=-1)).clamp_min(1e-12)).clamp(-1, 1)
    omega = torch.acos(cos).unsqueeze(-1)
    t = t.view(-1, 1)
    if float(omega.abs().max()) < 1e-6:
        return torch.lerp(a, b, t)
    return (torch.sin((1 - t) * omega) * a + torch.sin(t * omega) * b) / torch.sin(omega)


@torch.no_grad()
def interpolate(pipe, seeds: list[int], frames: int, space: str = "z", ema: bool = True) -> Tensor:
    """`frames` images from each seed to the next (the last seed's image closes the sequence)."""
    if len(seeds) < 2 or frames < 2:
        raise GankitError("interpolation needs at least 2 seeds and 2 frames")
    if space not in ("z", "w"):
        raise GankitError(f"--space {space}: choose z or w")
    recipe, t = pipe.recipe, torch.linspace(0, 1, frames)[:-1]
    z = seeds_z(recipe, seeds)
    styles = recipe.style_space(pipe.nets, ema)
    if space == "w" and styles is None:
        raise GankitError(f"--space w needs a style-based generator (stylegan); {recipe.name} has only z")
    if styles is not None:
        codes = styles.map(z) if space == "w" else z
        path = [torch.lerp(a.expand(len(t), -1), b.expand(len(t), -1), t.view(-1, 1)) if space == "w"
                else slerp(a.expand(len(t), -1), b.expand(len(t), -1), t) for a, b in zip(codes[:-1], codes[1:])]
        path = torch.cat(path + [codes[-1:]])
        w = path if space == "w" else styles.map(path)
        return styles.synthesize(styles.broadcast(w))
    if not hasattr(recipe, "generate") or recipe.conditional:
        raise GankitError(f"{recipe.name}: interpolation needs an unconditional generator of latent codes z")
    path = torch.cat([slerp(a.expand(len(t), -1), b.expand(len(t), -1), t) for a, b in zip(z[:-1], z[1:])] + [z[-1:]])
    return recipe.generate(recipe.generator_net(pipe.nets, ema), path, None)


@dataclass
class Projection:
    w: Tensor              # [1, w_dim], the style found
    image: Tensor          # its image, in data space
    mse: float             # pixel mean squared error to the target (data space, [-1, 1])
    psnr: float            # 10·log10(4 / mse): images span 2 units
    history: list[float]   # the MSE every 10 steps


def project(pipe, target: Tensor, steps: int = 300, lr: float = 0.05, ema: bool = True, seed: int = 0) -> Projection:
    """Optimise w (shared by every layer) so that the image of w matches `target` ([C, H, W] in [-1, 1])."""
    space = style_space(pipe, ema, "projection")
    expected = tuple(pipe.spec.shape)
    if tuple(target.shape) != expected:
        raise GankitError(f"the image to project has shape {tuple(target.shape)}; this run makes {expected}")
    target = target.to(space.w_avg.device).unsqueeze(0)
    torch.manual_seed(seed)
    w = space.w_avg.detach().clone().unsqueeze(0).requires_grad_(True)
    optimizer = torch.optim.Adam([w], lr=lr, betas=(0.9, 0.999))
    history = []
    space.G.requires_grad_(False)
    for step in range(steps):
        loss = (space.synthesize(space.broadcast(w)) - target).pow(2).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if step % 10 == 0:
            history.append(float(loss.detach()))
    with torch.no_grad():
        image = space.synthesize(space.broadcast(w))
        mse = float((image - target).pow(2).mean())
    return Projection(w.detach(), image[0], mse, 10 * math.log10(4.0 / max(mse, 1e-12)), history)


def read_target(path: str | Path, spec) -> Tensor:
    """An image file as [C, H, W] in [-1, 1] at the run's resolution and channels (resized, center-cropped)."""
    from .data.folder import _to_gray, _try_load

    path = Path(path)
    if not path.is_file():
        raise GankitError(f"{path}: no such image file")
    pixels, error = _try_load(path, spec.shape[-1])
    if error:
        raise GankitError(f"{path}: cannot read it as an image ({error[:120]})")
    image = torch.from_numpy(np.array(pixels)).permute(2, 0, 1).unsqueeze(0)  # [1, 3, H, W] uint8
    if spec.shape[0] == 1:
        image = _to_gray(image)
    return image[0].float() / 127.5 - 1.0


def write_frames(frames: Tensor, out: Path, fps: int = 12) -> Path:
    """Frames [N, C, H, W] in [-1, 1] as an animated GIF (.gif) or one row of a PNG strip (.png)."""
    from .viz import grid_picture

    out = Path(out)
    if out.suffix.lower() not in (".gif", ".png"):
        raise GankitError(f"--out {out}: interpolations are written as .gif or .png")
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix.lower() == ".png":
        grid_picture(frames, nrow=len(frames)).save(out)
        return out
    pictures = [grid_picture(f.unsqueeze(0), nrow=1) for f in frames]
    pictures[0].save(out, save_all=True, append_images=pictures[1:], duration=int(1000 / fps), loop=0)
    return out


# ------------------------------------------------------------------------------ command line

def add_parsers(sub) -> None:
    from .argtypes import float_list, int_at_least, positive_int, seed_list

    m = sub.add_parser("mix", help="stylegan: the style-mixing grid (rows' styles with some layers from columns)")
    m.add_argument("run", metavar="RUN")
    m.add_argument("--rows", type=seed_list, default=[0, 1, 2, 3], help="seeds of source A (default 0-3)")
    m.add_argument("--cols", type=seed_list, default=[4, 5, 6, 7], help="seeds of source B (default 4-7)")
    m.add_argument("--layers", default="coarse", help="B's layers: coarse, middle, fine or A-B (default coarse)")
    m.add_argument("--out", required=True, help="output .png")

    t = sub.add_parser("truncation", help="stylegan: one row of the same seeds per truncation ψ")
    t.add_argument("run", metavar="RUN")
    t.add_argument("--psi", type=float_list, default=[1.0, 0.7, 0.5, 0.0], help="ψ values (default 1,0.7,0.5,0)")
    t.add_argument("--seeds", type=seed_list, default=list(range(8)), help="seeds (default 0-7)")
    t.add_argument("--out", required=True, help="output .png")

    i = sub.add_parser("interpolate", help="frames between seeds' latents (z for every image GAN, w for stylegan)")
    i.add_argument("run", metavar="RUN")
    i.add_argument("--seeds", type=seed_list, default=[0, 1], help="seeds to pass through (default 0,1)")
    i.add_argument("--frames", type=int_at_least(2), default=16, help="frames from one seed to the next (default 16)")
    i.add_argument("--space", choices=["z", "w"], default="z")
    i.add_argument("--out", required=True, help="output .gif (animation) or .png (a strip)")

    p = sub.add_parser("project", help="stylegan: the w whose image best matches a picture (GAN inversion)")
    p.add_argument("run", metavar="RUN")
    p.add_argument("image", metavar="IMAGE")
    p.add_argument("--steps", type=positive_int, default=300, help="Adam steps (default 300)")
    p.add_argument("--out", required=True, help="output .png: the target beside its projection (w saved as .npy)")
    for parser in (m, t, i, p):
        parser.add_argument("--no-ema", action="store_true", help="use G instead of G_ema")
        parser.add_argument("--device", default="auto")


def _png(out: str) -> Path:
    path = Path(out)
    if path.suffix.lower() != ".png":
        raise GankitError(f"--out {out}: this picture is written as .png")
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def cmd_mix(args) -> int:
    from . import api
    from .viz import save_image_grid

    out = _png(args.out)
    images, per_row = mix(api.load(args.run, device=args.device), args.rows, args.cols, args.layers,
                          ema=not args.no_ema)
    save_image_grid(images, out, nrow=per_row)
    print(f"wrote {out} (rows: seeds {args.rows}; columns: seeds {args.cols}; layers {args.layers} from the columns)")
    return 0


def cmd_truncation(args) -> int:
    from . import api
    from .viz import save_image_grid

    out = _png(args.out)
    images = truncation_rows(api.load(args.run, device=args.device), args.psi, args.seeds, ema=not args.no_ema)
    save_image_grid(images, out, nrow=len(args.seeds))
    print(f"wrote {out} (one row per ψ in {args.psi}, seeds {args.seeds})")
    return 0


def cmd_interpolate(args) -> int:
    from . import api

    if Path(args.out).suffix.lower() not in (".gif", ".png"):
        raise GankitError(f"--out {args.out}: interpolations are written as .gif or .png")
    frames = interpolate(api.load(args.run, device=args.device), args.seeds, args.frames, args.space,
                         ema=not args.no_ema)
    out = write_frames(frames, Path(args.out))
    print(f"wrote {out} ({len(frames)} frames through seeds {args.seeds} in {args.space})")
    return 0


def cmd_project(args) -> int:
    from . import api
    from .viz import save_image_grid

    out = _png(args.out)
    pipe = api.load(args.run, device=args.device)
    style_space(pipe, not args.no_ema, "projection")
    target = read_target(args.image, pipe.spec)
    result = project(pipe, target, steps=args.steps, ema=not args.no_ema)
    save_image_grid(torch.stack([target, result.image.cpu()]), out, nrow=2)
    w_file = out.with_suffix(".npy")
    import numpy as np

    np.save(w_file, result.w.cpu().numpy())
    print(f"wrote {out} and {w_file}: MSE {result.mse:.4f}, PSNR {result.psnr:.1f} dB after {args.steps} steps")
    return 0


COMMANDS = {"mix": cmd_mix, "truncation": cmd_truncation, "interpolate": cmd_interpolate, "project": cmd_project}
