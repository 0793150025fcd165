"""`shapes`: a seeded procedural captioned dataset for text-to-image recipes (StackGAN, issue 14).

Each image holds one shape (a quarter of them two) with a colour (6), a shape (4), a size (2) and a position
on a 3×3 grid (9), on a background (3), drawn with 4× supersampling. Each image has 5 captions written from
varied templates with synonyms ("a small red circle in the top left", "top-left: a little crimson disc").
Held out of the training images, for testing generalisation:
  - caption templates `UNSEEN_TEMPLATES` (paraphrases): never used in training captions;
  - attribute combinations `UNSEEN_COMBINATIONS` (one colour per shape): never drawn in training images.
`evaluation_captions` writes captions of the three kinds (seen, unseen templates, unseen combinations) with
their attributes, and `render` draws real images of any attributes (the attribute classifier's data).
The attributes of each image's first shape are kept with it (`dataset.attributes`, [N, 6]: colour, shape,
size, position, background, count), for the faithfulness metric.
"""

import numpy as np
import torch

from .captions import CaptionedDataset, captioned
from .images import resize_uint8

COLOURS = {"red": (220, 40, 40), "green": (40, 180, 60), "blue": (50, 90, 235), "yellow": (235, 215, 40),
           "purple": (150, 60, 200), "orange": (245, 140, 30)}
SHAPES = ("circle", "square", "triangle", "cross")
SIZES = {"small": 0.11, "large": 0.2}          # half-extent as a fraction of the side
POSITIONS = [(r, c) for r in range(3) for c in range(3)]  # rows top..bottom, columns left..right
BACKGROUNDS = {"black": (0, 0, 0), "white": (255, 255, 255), "grey": (120, 120, 120)}
ATTRIBUTES = ("colour", "shape", "size", "position", "background", "count")
ATTRIBUTE_CLASSES = {"colour": len(COLOURS), "shape": len(SHAPES), "size": len(SIZES), "position": len(POSITIONS)}

SYNONYMS = {
    "red": ["red", "crimson", "scarlet"], "green": ["green", "emerald", "lime"], "blue": ["blue", "navy", "azure"],
    "yellow": ["yellow", "golden", "lemon"], "purple": ["purple", "violet", "lilac"],
    "orange": ["orange", "amber", "tangerine"],
    "circle": ["circle", "disc", "round dot"], "square": ["square", "box", "block"],
    "triangle": ["triangle", "wedge", "pyramid"], "cross": ["cross", "plus sign", "plus"],
    "small": ["small", "little", "tiny"], "large": ["large", "big", "huge"],
    "black": ["black", "dark"], "white": ["white", "light"], "grey": ["grey", "gray"],
}
POSITION_WORDS = [["top left", "top-left", "upper left"], ["top", "top centre", "upper middle"],
                  ["top right", "top-right", "upper right"], ["left", "middle left", "left side"],
                  ["centre", "middle", "center"], ["right", "middle right", "right side"],
                  ["bottom left", "bottom-left", "lower left"], ["bottom", "bottom centre", "lower middle"],
                  ["bottom right", "bottom-right", "lower right"]]
SEEN_TEMPLATES = ("a {size} {colour} {shape} in the {pos}",
                  "{pos}: a {size} {colour} {shape}",
                  "a {colour} {shape}, {size}, {pos}, on a {bg} background",
                  "there is a {size} {colour} {shape} at the {pos} of a {bg} picture",
                  "{size} {colour} {shape} placed {pos} on {bg}")
UNSEEN_TEMPLATES = ("in the {pos} area you can see one {colour} {shape} that is {size}",
                    "an image of a {shape} coloured {colour}, {size} in size, located {pos}, background {bg}")
# one held-out colour per shape: training images never show these pairs
UNSEEN_COMBINATIONS = {("yellow", "circle"), ("blue", "square"), ("red", "triangle"), ("green", "cross")}
SUPERSAMPLE = 4
TWO_SHAPES = 0.25


def _mask(shape: str, dy: np.ndarray, dx: np.ndarray, half: float) -> np.ndarray:
    """Bool mask of one shape with half-extent `half`, given each pixel's offset (dy, dx) from its centre."""
    if shape == "circle":
        return dy ** 2 + dx ** 2 <= half ** 2
    if shape == "square":
        return (np.abs(dy) <= half * 0.9) & (np.abs(dx) <= half * 0.9)
    if shape == "triangle":  # apex up: inside when below the two slanted edges and above the base
        return (dy <= half) & (dy >= -half) & (np.abs(dx) <= (dy + half) / 2)
    arm = half * 0.35  # cross: a plus sign of two bars
    return ((np.abs(dy) <= arm) & (np.abs(dx) <= half)) | ((np.abs(dx) <= arm) & (np.abs(dy) <= half))


def render(objects: list[tuple[int, int, int, int]], background: int, resolution: int) -> np.ndarray:
    """One image ([3, R, R] uint8) of objects (colour, shape, size, position indices) on a background."""
    side = resolution * SUPERSAMPLE
    img = np.empty((side, side, 3), dtype=np.uint8)
    img[:] = list(BACKGROUNDS.values())[background]
    for colour, shape, size, position in objects:
        row, col = POSITIONS[position]
        half = list(SIZES.values())[size] * side
        cy, cx = (row + 1) * side / 4, (col + 1) * side / 4
        top, left = max(0, int(cy - half) - 1), max(0, int(cx - half) - 1)   # only the shape's bounding box
        window = img[top:int(cy + half) + 2, left:int(cx + half) + 2]
        yy, xx = np.mgrid[0:window.shape[0], 0:window.shape[1]] + 0.5
        window[_mask(SHAPES[shape], yy + top - cy, xx + left - cx, half)] = list(COLOURS.values())[colour]
    rows = img.reshape(resolution, SUPERSAMPLE, side, 3).sum(1, dtype=np.uint16)        # box filter: antialias
    pixels = rows.reshape(resolution, resolution, SUPERSAMPLE, 3).sum(2) / SUPERSAMPLE ** 2
    return np.round(pixels).astype(np.uint8).transpose(2, 0, 1)


def _words(rng: np.random.Generator, colour, shape, size, position, background) -> dict:
    pick = lambda options: options[rng.integers(len(options))]  # noqa: E731
    return {"colour": pick(SYNONYMS[list(COLOURS)[colour]]), "shape": pick(SYNONYMS[SHAPES[shape]]),
            "size": pick(SYNONYMS[list(SIZES)[size]]), "pos": pick(POSITION_WORDS[position]),
            "bg": pick(SYNONYMS[list(BACKGROUNDS)[background]])}


def caption(rng: np.random.Generator, objects, background: int, templates=SEEN_TEMPLATES) -> str:
    """A caption of the objects from a random template and random synonyms."""
    parts = [templates[rng.integers(len(templates))].format(**_words(rng, *obj, background)) for obj in objects[:1]]
    for obj in objects[1:]:  # a second shape: "... and a big blue box in the bottom right"
        words = _words(rng, *obj, background)
        parts.append(f"a {words['size']} {words['colour']} {words['shape']} in the {words['pos']}")
    return " and ".join(parts)


def _draw_object(rng: np.random.Generator, unseen: bool, avoid: int = -1) -> tuple[int, int, int, int]:
    while True:
        colour, shape = int(rng.integers(len(COLOURS))), int(rng.integers(len(SHAPES)))
        if ((list(COLOURS)[colour], SHAPES[shape]) in UNSEEN_COMBINATIONS) == unseen:
            position = int(rng.integers(len(POSITIONS)))
            if position != avoid:
                return colour, shape, int(rng.integers(len(SIZES))), position


def scenes(n: int, seed: int, unseen_combinations: bool = False, two_shapes: float = TWO_SHAPES):
    """n random scenes: (objects, background) with training combinations (or only held-out ones)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        objects = [_draw_object(rng, unseen_combinations)]
        if rng.random() < two_shapes:
            objects.append(_draw_object(rng, unseen_combinations, avoid=objects[0][3]))
        out.append((objects, int(rng.integers(len(BACKGROUNDS)))))
    return out


def attributes_of(scene_list) -> torch.Tensor:
    return torch.tensor([[*objects[0], background, len(objects)] for objects, background in scene_list])


def shapes(resolution: int = 0, n: int = 5000, seed: int = 14, captions_per_image: int = 5,
           text_encoder: str = "") -> CaptionedDataset:
    """The training images (seen combinations) with captions of seen templates; 64×64 unless asked."""
    resolution = resolution or 64
    drawn = scenes(n, seed)
    rng = np.random.default_rng(seed + 1)
    native = min(resolution, 64)  # draw at up to 64 px (then resize), so large sides stay cheap
    images = torch.from_numpy(np.stack([render(objs, bg, native) for objs, bg in drawn]))
    images = resize_uint8(images, resolution)
    captions = [[caption(rng, objs, bg) for _ in range(captions_per_image)] for objs, bg in drawn]
    data = captioned("shapes", images, captions, attributes=attributes_of(drawn), seed=seed,
                     attribute_names=list(ATTRIBUTES))
    return data.embed(text_encoder, "shapes") if text_encoder else data


def evaluation_captions(kind: str, n: int, seed: int = 1014) -> tuple[list[str], torch.Tensor]:
    """n one-shape captions with their attributes [n, 6], of a kind: `seen` (templates and combinations of
    training), `unseen_templates` (held-out templates) or `unseen_combinations` (held-out colour-shape pairs)."""
    drawn = scenes(n, seed + {"seen": 0, "unseen_templates": 1, "unseen_combinations": 2}[kind],
                   unseen_combinations=kind == "unseen_combinations", two_shapes=0.0)
    rng = np.random.default_rng(seed + 10)
    templates = UNSEEN_TEMPLATES if kind == "unseen_templates" else SEEN_TEMPLATES
    return [caption(rng, objs, bg, templates) for objs, bg in drawn], attributes_of(drawn)


def labelled_images(n: int, resolution: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Real one-shape images of every combination (held-out ones too) with their attributes: the attribute
    classifier's data ([n, 3, R, R] uint8, [n, 6])."""
    rng = np.random.default_rng(seed)
    drawn = [([(int(rng.integers(len(COLOURS))), int(rng.integers(len(SHAPES))), int(rng.integers(len(SIZES))),
                int(rng.integers(len(POSITIONS))))], int(rng.integers(len(BACKGROUNDS)))) for _ in range(n)]
    images = torch.from_numpy(np.stack([render(objs, bg, min(resolution, 64)) for objs, bg in drawn]))
    return resize_uint8(images, resolution), attributes_of(drawn)
