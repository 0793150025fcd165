import importlib.util
import os
import sys
import tempfile
from pathlib import Path

import pytest
import torch

# Keep the suite's caches out of the user's home and deterministic across runs.
os.environ.setdefault("GANKIT_CACHE", os.path.join(tempfile.gettempdir(), "gankit-test-cache"))
torch.set_num_threads(min(2, torch.get_num_threads()))

from gankit.data import Dataset, from_tensors, load_dataset  # noqa: E402

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def load_examples() -> dict:
    """Import the README's example recipes and pipelines (examples/*.py), so they register themselves."""
    modules = {}
    for path in sorted(EXAMPLES.glob("*.py")):
        name = f"gankit_examples.{path.stem}"
        if name not in sys.modules:
            spec = importlib.util.spec_from_file_location(name, path)
            sys.modules[name] = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(sys.modules[name])
        modules[path.stem] = sys.modules[name]
    return modules


def make_tiny_images() -> Dataset:
    """48 random 16x16 grayscale uint8 images with 3 labels: a real image dataset, small and fast."""
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (48, 1, 16, 16), generator=g, dtype=torch.uint8)
    y = torch.arange(48) % 3
    return from_tensors(x, y, name="tiny")


@pytest.fixture(scope="session")
def tiny_images() -> Dataset:
    return make_tiny_images()


@pytest.fixture(scope="session")
def ring() -> Dataset:
    return load_dataset("ring8")


@pytest.fixture(scope="session")
def labelled_table() -> Dataset:
    """40 rows of 5 numeric columns with 2 classes: a small table."""
    g = torch.Generator().manual_seed(1)
    return from_tensors(torch.randn(40, 5, generator=g), torch.arange(40) % 2, name="table")


def make_tiny_songs(n: int = 6, tracks: int = 2, bars: int = 8, seed: int = 0):
    """n random two-track songs in 4/4 (notes of 1, 2 or 4 sixteenths around middle C): music data in
    milliseconds, without parsing any file."""
    import numpy as np

    from gankit.data.music import Song

    rng = np.random.default_rng(seed)
    songs = []
    for s in range(n):
        rows = []
        for track in range(tracks):
            t = 0
            while t < 16 * bars:
                d = int(rng.choice([1, 2, 4]))
                rows.append((track, t, t + d, 60 - 12 * track + int(rng.integers(0, 8)), 90))
                t += d
        songs.append(Song(f"song{s}", np.array(sorted(rows, key=lambda r: (r[1], r[0])), np.int32)))
    return songs


@pytest.fixture(scope="session")
def tiny_pianoroll() -> Dataset:
    """2-track, 2-bar pianoroll phrases of random songs (no transposition): a small pianoroll dataset."""
    from gankit.data.music import MusicDataConfig, pianoroll_dataset

    tracks = [{"name": "upper", "program": 0}, {"name": "lower", "program": 32}]
    return pianoroll_dataset("tiny-rolls", make_tiny_songs(), tracks, MusicDataConfig(bars=2, transpose=False))


@pytest.fixture(scope="session")
def tiny_events() -> Dataset:
    """Sequences of 8 two-tone note events of random songs: a small event dataset."""
    from gankit.data.music import MusicDataConfig, events_dataset

    return events_dataset("tiny-events", make_tiny_songs(), {"name": "all", "program": 0},
                          MusicDataConfig(seq_len=8, tones=2))


@pytest.fixture(params=["image", "points"])
def any_data(request, tiny_images, ring) -> Dataset:
    return tiny_images if request.param == "image" else ring


@pytest.fixture(autouse=True)
def _reset_seed():
    """Tests that draw random numbers without a seed of their own get a fixed one."""
    torch.manual_seed(1234)


@pytest.fixture(scope="session")
def serve_runs(tmp_path_factory) -> dict[str, Path]:
    """Smoke runs of every kind `gankit serve` shows: a class-conditional DCGAN (images), a GAN on ring8
    (2-D points), RadialGAN on the bundled hospitals (tables), AdaIN (style transfer) and a StyleGAN on faces
    grown to 16x16 (truncation and style mixing)."""
    from gankit.cli import main

    out = tmp_path_factory.mktemp("serve-runs")
    commands = {
        "digits": ["dcgan", "--data", "digits", "--set", "condition=projection", "--set", "resolution=16"],
        "ring": ["gan", "--data", "ring8"],
        "hospitals": ["radialgan", "--data", "hospitals"],
        "style": ["adain", "--data", "content=photos", "--data", "style=styles"],
        "faces": ["stylegan", "--data", "faces", "--set", "resolution=16", "--steps", "6"],
    }
    runs = {}
    for name, args in commands.items():
        assert main(["train", *args, "--preset", "smoke", "--out", str(out / name), "--no-progress"]) == 0
        [runs[name]] = (out / name).iterdir()
    return runs


@pytest.fixture(scope="session")
def media_runs(tmp_path_factory, tiny_pianoroll, tiny_events) -> dict[str, Path]:
    """Smoke runs of the kinds `gankit serve` gives a prompt box or a music player: StackGAN on `shapes`
    (sentences), MuseGAN on tiny pianorolls and C-RNN-GAN on tiny note events."""
    import gankit
    from gankit.cli import main

    out = tmp_path_factory.mktemp("media-runs")
    assert main(["train", "stackgan", "--data", "shapes", "--preset", "smoke", "--out", str(out / "words"),
                 "--no-progress"]) == 0
    [words] = (out / "words").iterdir()
    return {"words": words,
            "chorus": gankit.train("musegan", tiny_pianoroll, preset="smoke", out=out / "chorus", progress=False).path,
            "melody": gankit.train("crnngan", tiny_events, preset="smoke", out=out / "melody", progress=False).path}
