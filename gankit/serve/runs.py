"""The runs a server serves: each loaded once and shared by every request, with what it can be asked (its
controls) and how its samples become bytes (PNG, CSV, JSON).

The controls follow from the run, not from a list of methods: a truncation slider and a style-mixing grid where
the recipe samples with `truncation` and has a W space, a class menu for conditional recipes, an EMA
switch where the run keeps G_ema, a domain menu where the recipe samples into named domains, uploads for a
recipe whose `serve_form` is "stylize" (a content and a style image), a scatter for 2-D points, a table for
tabular data, a prompt box for a recipe conditioned on text, and per sample a pianoroll, a WAV player and a
MIDI download for music (the files `gankit sample RUN --out songs/` writes).
"""

import csv
import inspect
import io
import math
import re
import tempfile
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .. import viz
from ..errors import GankitError
from ..modalities import get_modality
from ..modalities.music import MusicModality
from ..pipelines import RunPipeline, Samples

PROMPT_CHARS = 500  # the longest prompt read (the run's text encoder may allow fewer tokens)
SONGS_KEPT = 32     # rendered songs (MIDI, pianoroll, WAV) kept per run: a page asks for each song's three files
PYPLOT = threading.Lock()  # matplotlib's pyplot is not thread-safe: one scatter at a time
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


@dataclass
class ServedRun:
    name: str
    pipe: RunPipeline
    folder: Path
    export_cache: dict = field(default_factory=dict)
    songs: OrderedDict = field(default_factory=OrderedDict)

    @property
    def recipe(self):
        return self.pipe.recipe

    @property
    def kind(self) -> str:
        return self.pipe.spec.kind

    @property
    def max_n(self) -> int:
        return get_modality(self.kind).serve_max_n

    def takes(self, option: str) -> bool:
        return option in inspect.signature(self.recipe.sample).parameters

    @property
    def domains(self) -> list[str]:
        """The named sources a recipe that samples by `domain` trains on (multi-domain tables)."""
        return list(self.recipe.specs) if self.takes("domain") else []

    @property
    def classes(self) -> list[str]:
        """Class names for a class menu ([] when the run cannot be asked for a class)."""
        if not self.recipe.conditional or self.recipe.serve_form != "sample":
            return []
        spec = self.pipe.spec
        return list(spec.class_names) or [str(i) for i in range(spec.num_classes)]

    @property
    def has_ema(self) -> bool:
        return self.takes("ema") and any(n.endswith("_ema") for n in self.pipe.nets)

    @property
    def prompted(self) -> bool:
        """True if the run is conditioned on sentences (a prompt box)."""
        return self.recipe.condition_kind == "text"

    @property
    def music(self) -> bool:
        return isinstance(get_modality(self.kind), MusicModality)

    @property
    def mixing(self) -> list[str]:
        """The style-layer groups a style-mixing grid can take from its columns ([] without a W space)."""
        space = self.recipe.style_space(self.pipe.nets)
        return [] if space is None else [k for k, (a, b) in space.layer_groups().items() if b > a]

    def info(self) -> dict:
        """What the page and `GET /api/runs/{run}` show: the run and its controls."""
        form = self.recipe.serve_form
        return {"name": self.name, "recipe": self.recipe.name, "kind": self.kind, "step": self.pipe.step,
                "shape": list(self.pipe.spec.shape), "data": self.pipe.spec.name, "max_n": self.max_n,
                "controls": {"classes": self.classes, "ema": self.has_ema, "domains": self.domains,
                             "truncation": self.takes("truncation"), "mixing": self.mixing,
                             "stylize": form == "stylize", "scatter": self.kind == "points",
                             "table": self.kind == "table", "prompt": self.prompted, "music": self.music},
                "export": self.exportable}

    @property
    def exportable(self) -> bool:
        """True if the run has a traceable sampling network (the page's ONNX download)."""
        if "exportable" not in self.export_cache:
            try:
                self.export_cache["exportable"] = self.pipe.module() is not None
            except GankitError:
                self.export_cache["exportable"] = False
        return self.export_cache["exportable"]

    def condition(self, cls: int | None, n: int, text: str | None = None):
        """The condition of a request: its prompt (text runs), its class (checked against the menu), for tables
        always explicit labels (balanced when no class is asked) so that each row's label can be written beside it."""
        if text is not None:
            if cls is not None:
                raise GankitError("give a class or a prompt, not both")
            return self.prompt(text)
        classes = self.classes
        if cls is not None:
            if not classes:
                raise GankitError(f"run {self.name} cannot be asked for a class")
            if not 0 <= cls < len(classes):
                raise GankitError(f"class must lie in 0..{len(classes) - 1}")
        if self.kind == "table" and classes:
            return torch.full((n,), cls) if cls is not None else torch.arange(n) % len(classes)
        return cls

    def keep_song(self, key: tuple, files: dict[str, bytes]) -> dict[str, bytes]:
        """Keep a rendered song (the last SONGS_KEPT): a page asks for its MIDI, pianoroll and WAV in turn."""
        self.songs[key] = files
        while len(self.songs) > SONGS_KEPT:
            self.songs.popitem(last=False)
        return files

    def prompt(self, text: str) -> str:
        """A prompt checked before it reaches the text encoder: a sentence within the encoder's limit."""
        if not self.prompted:
            raise GankitError(f"run {self.name} ({self.recipe.name}) is not conditioned on text: it takes no prompt")
        text = text.strip()
        if not text:
            raise GankitError("the prompt is empty: type a sentence")
        if len(text) > PROMPT_CHARS:
            raise GankitError(f"the prompt is too long: {len(text)} characters, at most {PROMPT_CHARS}")
        from ..data.text import get_encoder

        encoder = get_encoder(self.recipe.cfg.text_encoder)
        if len(encoder.tokens(text)) > encoder.max_tokens:
            raise GankitError(f"the prompt is too long: this run's text encoder reads at most {encoder.max_tokens} "
                              "tokens")
        return text

    def options(self, ema: bool | None, domain: str | None, truncation: float | None = None) -> dict:
        options = {}
        if truncation is not None:
            if not self.takes("truncation"):
                raise GankitError(f"run {self.name} ({self.recipe.name}) has no truncation option")
            options["truncation"] = truncation
        if ema is not None:
            if not self.takes("ema"):
                raise GankitError(f"run {self.name} has no ema option")
            options["ema"] = ema
        if domain is not None:
            if domain not in self.domains:
                raise GankitError(f"domain must be one of: {', '.join(self.domains) or '(none)'}")
            options["domain"] = domain
        return options


def load_runs(paths: list[str], device: str | None = None) -> dict[str, ServedRun]:
    """`PATH` or `NAME=PATH` run folders (or checkpoint files) -> served runs by unique name."""
    runs: dict[str, ServedRun] = {}
    for arg in paths:
        name, _, path = arg.rpartition("=") if "=" in arg else ("", "", arg)
        folder = Path(path).expanduser()
        name = name or folder.name if folder.suffix != ".safetensors" else name or folder.stem
        if not NAME.match(name):
            raise GankitError(f"{arg}: a run name is letters, digits, '.', '_' or '-' (name it: NAME=PATH)")
        base, k = name, 2
        while name in runs:
            name, k = f"{base}-{k}", k + 1
        runs[name] = ServedRun(name, RunPipeline.load(folder, device), folder)
    if not runs:
        raise GankitError("no run to serve: gankit serve RUN [RUN ...]")
    return runs


def grid_png(images, per_row: int) -> bytes:
    """Images [N, C, H, W] in [-1, 1] as one PNG grid, `per_row` to a row."""
    buf = io.BytesIO()
    viz.grid_picture(images.detach().float().cpu(), per_row).save(buf, format="PNG")
    return buf.getvalue()


def png_bytes(run: ServedRun, samples: Samples) -> bytes:
    """The samples as one PNG: an image grid, or a scatter of 2-D points."""
    data = samples.data.detach().float().cpu()
    if run.kind == "image":
        return grid_png(data, max(1, math.ceil(math.sqrt(len(data)))))
    if run.kind == "points" and data.shape[1] == 2:
        with PYPLOT, tempfile.TemporaryDirectory() as tmp:
            return viz.save_scatter(data, Path(tmp) / "s.png", means=run.pipe.spec.meta.get("means")).read_bytes()
    if run.music:  # the pianorolls side by side, as the training previews show them
        with PYPLOT, tempfile.TemporaryDirectory() as tmp:
            return get_modality(run.kind).preview(data, run.pipe.spec, Path(tmp) / "s.png").read_bytes()
    raise GankitError(f"run {run.name} has {run.kind} samples: ask for sample.csv or sample.json")


def csv_text(run: ServedRun, samples: Samples) -> str:
    """Table rows as CSV (the user's columns and units where the data has a schema; its label beside)."""
    if run.domains:
        schema = run.recipe.schema(samples.meta["options"].get("domain", run.domains[0]))
        rows = schema.decode(samples.data.detach().float().cpu())
        labels = samples.meta["condition"]
        out = io.StringIO()
        writer = csv.DictWriter(out, [*schema.names(), schema.label], lineterminator="\n")
        writer.writeheader()
        for row, label in zip(rows, labels if isinstance(labels, list) else [labels] * len(rows)):
            writer.writerow({**row, schema.label: schema.classes[label]})
        return out.getvalue()
    if run.kind == "table":
        with tempfile.TemporaryDirectory() as tmp:
            return get_modality("table").write(samples.data.detach().cpu(), run.pipe.spec, Path(tmp) / "s.csv")[0].read_text()
    data = samples.data.detach().float().cpu().flatten(1)
    lines = [",".join(f"x{i}" for i in range(data.shape[1]))] + [",".join(f"{v:.6g}" for v in row) for row in data.tolist()]
    return "\n".join(lines) + "\n"


def json_rows(run: ServedRun, samples: Samples) -> dict:
    """Tables and points as JSON: column names and rows."""
    if run.kind == "table":
        reader = csv.reader(io.StringIO(csv_text(run, samples)))
        header, *rows = list(reader)
        return {"columns": header, "rows": rows}
    data = samples.data.detach().float().cpu().flatten(1)
    return {"columns": [f"x{i}" for i in range(data.shape[1])], "rows": data.tolist()}


def song_files(run: ServedRun, samples: Samples, index: int) -> dict[str, bytes]:
    """Sample `index` as `gankit sample RUN --out songs/` writes it: {".mid", ".png", ".wav": bytes}."""
    one = Samples(samples.data[index:index + 1], samples.meta)
    with PYPLOT, tempfile.TemporaryDirectory() as tmp:
        written = run.pipe.write(one, Path(tmp) / "song.mid", title=f"{run.name}, step {run.pipe.step}")
        return {p.suffix: p.read_bytes() for p in written}
