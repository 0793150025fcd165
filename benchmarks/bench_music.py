"""Music benchmarks (issue 15): parse cost, training speed, MuseGAN's metric table, C-RNN-GAN's statistics
over training, and musical sanity checks. Prints JSON (saved as benchmarks/results_music.json).

    nice -n 10 python benchmarks/bench_music.py --seconds 100 --crnn-seconds 45 > benchmarks/results_music.json

Budget: every training run stops after `--seconds` wall-clock seconds (1 thread), so the numbers say what a
few CPU-minutes buy, not what the papers' GPU-days do. Steps: musegan `fast` preset (batch 32, WGAN-GP with
5 critic steps), crnngan `fast` preset (LSTMs of 64 units; the paper's 2×350 is timed, not trained).
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import gankit  # noqa: E402
from gankit.data.music import (MusicDataConfig, chorale_melodies, chorales, events_notes, midi_pianorolls,  # noqa: E402
                               roll_notes)
from gankit.metrics.music import (musegan_metrics, range_violations, sequence_statistics, tonal_distance,  # noqa: E402
                                  tonal_distances, voice_crossings)
from gankit.train import Trainer  # noqa: E402

SEED = 0
GENERATED_BARS = 20_000


def cpu_name() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        return next(line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name"))
    except (OSError, StopIteration):
        return platform.processor()


# ------------------------------------------------------------------------------ parsing


def parse_costs(files: int) -> dict:
    """The chorale corpus cold (empty cache) and cached, and a folder of `files` MIDI files written from it."""
    out = {}
    t = time.perf_counter()
    data = chorales()
    out["chorales_cold_s"] = round(time.perf_counter() - t, 2)
    out["chorales_parse_s"] = data.spec.meta["parse_seconds"]
    t = time.perf_counter()
    data = chorales()
    out["chorales_cached_s"] = round(time.perf_counter() - t, 2)
    out.update(chorale_songs=data.spec.meta["songs"], chorale_phrases=data.spec.meta["phrases"],
               chorale_samples_with_transposition=len(data), pianoroll_shape=list(data.spec.shape))
    folder = Path(tempfile.mkdtemp()) / "midi"
    write_folder(folder, data, files)
    t = time.perf_counter()
    midi = midi_pianorolls(str(folder), MusicDataConfig(transpose=False))
    out[f"midi_{files}_files_cold_s"] = round(time.perf_counter() - t, 2)
    t = time.perf_counter()
    midi_pianorolls(str(folder), MusicDataConfig(transpose=False))
    out[f"midi_{files}_files_cached_s"] = round(time.perf_counter() - t, 2)
    out["midi_phrases"] = len(midi)
    return out


def write_folder(folder: Path, data, files: int) -> None:
    """`files` MIDI files, each four consecutive chorale phrases (16 bars, 4 tracks)."""
    from gankit.data.midi import write_midi

    folder.mkdir(parents=True)
    x, lowest = data.x.numpy(), data.spec.meta["lowest_pitch"]
    for i in range(files):
        rolls = x[(4 * i + np.arange(4)) % len(x)]
        song = np.concatenate(list(rolls), axis=1)
        write_midi(folder / f"song{i:04d}.mid", roll_notes(song, lowest), data.spec.meta["tracks"])


# ------------------------------------------------------------------------------ training


def train(recipe: str, data, overrides: dict, seconds: float, every: int = 0, probe=None) -> tuple[Trainer, dict]:
    """Train within `seconds`; `probe(trainer)` every `every` steps gives the curves."""
    cfg_over = {"seed": SEED, "max_minutes": 0.0, "steps": 100_000, **overrides}
    rec, _, _ = gankit.api.build(recipe, data, "fast", cfg_over)
    trainer = Trainer(rec, data, progress=False)
    start, curves = time.perf_counter(), []
    while time.perf_counter() - start < seconds:
        trainer.train_step()
        if every and trainer.step % every == 0:
            curves.append({"step": trainer.step, **probe(trainer)})
    elapsed = time.perf_counter() - start
    return trainer, {"steps": trainer.step, "seconds": round(elapsed, 1),
                     "steps_per_s": round(trainer.step / elapsed, 3), "curves": curves}


def generate(trainer: Trainer, n: int, condition=None, chunk: int = 500) -> np.ndarray:
    parts = []
    for i in range(0, n, chunk):
        g = torch.Generator().manual_seed(SEED + i)
        c = None if condition is None else condition[i:i + chunk]
        parts.append(trainer.recipe.sample(trainer.nets, min(chunk, n - i), generator=g, condition=c).numpy() > 0.5)
    return np.concatenate(parts)


def round_all(d: dict) -> dict:
    return {k: (round(v, 3) if isinstance(v, float) else v) for k, v in d.items()}


def metric_row(rolls: np.ndarray, spec) -> dict:
    names = [t["name"] for t in spec.meta["tracks"]]
    lowest = spec.meta["lowest_pitch"]
    row = musegan_metrics(rolls, names, spec.meta["steps_per_bar"], spec.meta["steps_per_beat"], lowest)
    row["voice_crossing_%"] = voice_crossings(rolls, lowest)
    row.update({f"range_violation_%/{k}": v for k, v in range_violations(rolls, names, lowest).items()})
    return round_all(row)


def key_share(rolls: np.ndarray, lowest: int, n: int = 50) -> float:
    """Mean share of notes in the key music21's Krumhansl-Schmuckler analysis assigns (all tracks merged)."""
    from music21 import note, stream

    shares = []
    for roll in rolls[:n]:
        notes = roll_notes(roll, lowest)
        if len(notes) < 4:
            continue
        s = stream.Stream([note.Note(int(p), quarterLength=max(1, b - a) / 4) for _, a, b, p, _ in notes])
        key = s.analyze("key.krumhanslschmuckler")
        classes = {p.pitchClass for p in key.getScale().getPitches()}
        shares.append(np.mean([int(p) % 12 in classes for p in notes[:, 3]]))
    return round(float(np.mean(shares)), 3) if shares else float("nan")


def musegan_benchmark(data, seconds: float) -> dict:
    spec = data.spec
    originals = data.x.numpy()                      # the phrases in their own keys (no transposition)
    names = [t["name"] for t in spec.meta["tracks"]]
    lowest, beat = spec.meta["lowest_pitch"], spec.meta["steps_per_beat"]
    phrases = GENERATED_BARS // spec.meta["bars"]
    out = {"data": {**metric_row(originals, spec), "key_share": key_share(originals, lowest)},
           "data_shuffled_TD": round_all(tonal_distances(originals, names, beat, lowest, shuffle_seed=SEED))}
    for mode in ("jamming", "composer", "hybrid"):
        trainer, speed = train("musegan", data, {"mode": mode}, seconds)
        rolls = generate(trainer, phrases)
        out[mode] = {**speed, "bars": phrases * spec.meta["bars"], **metric_row(rolls, spec),
                     "key_share": key_share(rolls, lowest)}
        del out[mode]["curves"]
    out["hybrid_within_25%_of_data"] = within(out["hybrid"], out["data"])
    out["harmonisation"] = harmonisation(data, seconds)
    return out


def within(row: dict, ref: dict, tolerance: float = 0.25) -> dict:
    keys = [k for k in ref if k.split("/")[0] in ("EB", "UPC", "QN", "TD")]
    ok = {k: bool(abs(row[k] - ref[k]) <= tolerance * abs(ref[k])) if ref[k] else row[k] == 0 for k in keys}
    return {"all": all(ok.values()), "passed": sum(ok.values()), "of": len(ok)}


def harmonisation(data, seconds: float) -> dict:
    """A hybrid run conditioned on the soprano: tonal distance of the generated alto/tenor/bass to the given
    soprano, vs the original chorale voices' (on the same 1,000 real phrases)."""
    spec = data.spec
    lowest, beat = spec.meta["lowest_pitch"], spec.meta["steps_per_beat"]
    trainer, speed = train("musegan", data, {"mode": "hybrid", "condition_track": "soprano"}, seconds)
    real = data.x[torch.randperm(len(data.x), generator=torch.Generator().manual_seed(SEED))[:1000]].float()
    rolls = generate(trainer, len(real), condition=real[:, 0])
    originals = real.numpy() > 0.5
    out = {"steps": speed["steps"], "seconds": speed["seconds"]}
    for k, name in enumerate(t["name"] for t in spec.meta["tracks"]):
        if k:
            out[f"TD/soprano-{name}"] = {
                "generated": round(tonal_distance(rolls[:, 0], rolls[:, k], beat, lowest), 3),
                "original": round(tonal_distance(originals[:, 0], originals[:, k], beat, lowest), 3)}
    return out


def crnngan_benchmark(seconds: float, every: int) -> dict:
    data = chorale_melodies()
    real = [events_notes(s, data.spec.meta["tones"]) for s in
            gankit.data.base.to_data_space(data.spec, data.all().x).numpy()]
    out = {"sequences": len(data), "shape": list(data.spec.shape), "data": round_all(sequence_statistics(real))}

    def probe(trainer):
        g = torch.Generator().manual_seed(SEED)
        x = trainer.recipe.sample(trainer.nets, 200, generator=g).numpy()
        return round_all(sequence_statistics([events_notes(s, data.spec.meta["tones"]) for s in x]))

    for fm in (True, False):
        _, result = train("crnngan", data, {"feature_matching": fm}, seconds, every, probe)
        out["feature_matching" if fm else "adversarial_G_loss"] = result
    rec, _, _ = gankit.api.build("crnngan", data, "fast", {"G_hidden": 350, "D_hidden": 350, "seed": SEED})
    trainer = Trainer(rec, data, progress=False)
    trainer.train_step()
    t = time.perf_counter()
    for _ in range(5):
        trainer.train_step()
    out["paper_size_2x350_steps_per_s"] = round(5 / (time.perf_counter() - t), 3)
    return out


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--seconds", type=float, default=120.0, help="wall-clock budget per musegan run")
    p.add_argument("--crnn-seconds", type=float, default=60.0, help="per crnngan run")
    p.add_argument("--files", type=int, default=1000, help="MIDI files in the parse-cost folder")
    args = p.parse_args()
    torch.set_num_threads(1)
    os.environ["GANKIT_CACHE"] = tempfile.mkdtemp()  # a cold parse: an empty cache
    start = time.perf_counter()
    result = {"command": "nice -n 10 python benchmarks/bench_music.py " + " ".join(sys.argv[1:]),
              "cpu": cpu_name(), "threads": 1, "torch": torch.__version__,
              "parse": parse_costs(args.files)}
    data = chorales()
    result["musegan"] = musegan_benchmark(data, args.seconds)
    result["crnngan"] = crnngan_benchmark(args.crnn_seconds, every=25)
    result["total_minutes"] = round((time.perf_counter() - start) / 60, 1)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
