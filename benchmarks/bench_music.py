"""Music benchmarks (issue 15): parse cost, training speed, MuseGAN's metric table, C-RNN-GAN's statistics
over training, and musical sanity checks. Prints JSON (saved as benchmarks/results_music.json).

    nice -n 10 python benchmarks/bench_music.py --steps 200 --crnn-steps 300 > benchmarks/results_music.json

Budget: every training run is a fixed number of steps on 1 thread (the machine is shared, so step counts
rather than wall-clock budgets keep the numbers reproducible; speeds are CPU time per step, `process_time`).
So the numbers say what a few CPU-minutes buy, not what the papers' GPU-days do: musegan `fast` preset
(batch 16, small nets, WGAN-GP with 5 critic steps), crnngan `fast` preset (LSTMs of 64 units; the paper's 2×350 is
timed, not trained).
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


def timed(f):
    """(f(), wall seconds, CPU seconds of this process)."""
    w, c = time.perf_counter(), time.process_time()
    out = f()
    return out, round(time.perf_counter() - w, 2), round(time.process_time() - c, 2)


def parse_costs(files: int) -> dict:
    """The chorale corpus cold (empty cache) and cached, and a folder of `files` MIDI files written from it."""
    out = {}
    data, out["chorales_cold_wall_s"], out["chorales_cold_cpu_s"] = timed(chorales)
    _, out["chorales_cached_wall_s"], out["chorales_cached_cpu_s"] = timed(chorales)
    out.update(chorale_files=371, chorale_songs=data.spec.meta["songs"], chorale_phrases=data.spec.meta["phrases"],
               chorale_samples_with_transposition=len(data), pianoroll_shape=list(data.spec.shape))
    folder = Path(tempfile.mkdtemp()) / "midi"
    write_folder(folder, data, files)
    opts = MusicDataConfig(transpose=False)
    midi, out[f"midi_{files}_files_cold_wall_s"], out[f"midi_{files}_files_cold_cpu_s"] = \
        timed(lambda: midi_pianorolls(str(folder), opts))
    _, out[f"midi_{files}_files_cached_wall_s"], out[f"midi_{files}_files_cached_cpu_s"] = \
        timed(lambda: midi_pianorolls(str(folder), opts))
    out["midi_phrases"] = len(midi.x)
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


def train(recipe: str, data, overrides: dict, steps: int, every: int = 0, probe=None) -> tuple[Trainer, dict]:
    """Train `steps` steps; `probe(trainer)` every `every` steps gives the curves (not timed)."""
    cfg_over = {"seed": SEED, "max_minutes": 0.0, "steps": steps, **overrides}
    rec, _, _ = gankit.api.build(recipe, data, "fast", cfg_over)
    trainer = Trainer(rec, data, progress=False)
    cpu, wall, curves = 0.0, 0.0, []
    while trainer.step < steps:
        c, w = time.process_time(), time.perf_counter()
        trainer.train_step()
        cpu, wall = cpu + time.process_time() - c, wall + time.perf_counter() - w
        if every and trainer.step % every == 0:
            curves.append({"step": trainer.step, **probe(trainer)})
    return trainer, {"steps": trainer.step, "cpu_s": round(cpu, 1), "wall_s": round(wall, 1),
                     "steps_per_cpu_s": round(trainer.step / cpu, 3), "curves": curves}


def generate(model, n: int, condition=None, chunk: int = 500, binarize: str | None = None) -> np.ndarray:
    """n binarised phrases from a Trainer or a loaded pipeline (anything with .recipe and .nets), by the
    model's own `binarize` unless one is given (threshold or bernoulli, the comparison of the paper's §5.2)."""
    parts = []
    for i in range(0, n, chunk):
        g = torch.Generator().manual_seed(SEED + i)
        c = None if condition is None else condition[i:i + chunk]
        rolls = model.recipe.sample(model.nets, min(chunk, n - i), generator=g, condition=c, binarize=binarize)
        parts.append(rolls.numpy() > 0.5)
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


def musegan_benchmark(data, steps: int) -> dict:
    spec = data.spec
    originals = data.x.numpy()                      # the phrases in their own keys (no transposition)
    names = [t["name"] for t in spec.meta["tracks"]]
    lowest, beat = spec.meta["lowest_pitch"], spec.meta["steps_per_beat"]
    phrases = GENERATED_BARS // spec.meta["bars"]
    out = {"data": {**metric_row(originals, spec), "key_share": key_share(originals, lowest)},
           "data_shuffled_TD": round_all(tonal_distances(originals, names, beat, lowest, shuffle_seed=SEED))}
    for mode in ("jamming", "composer", "hybrid"):
        trainer, speed = train("musegan", data, {"mode": mode}, steps)
        rolls = generate(trainer, phrases)
        out[mode] = {**speed, "bars": phrases * spec.meta["bars"], **metric_row(rolls, spec),
                     "key_share": key_share(rolls, lowest)}
        del out[mode]["curves"]
    out["hybrid_within_25%_of_data"] = within(out["hybrid"], out["data"])
    out["harmonisation"] = harmonisation(data, steps)
    return out


def within(row: dict, ref: dict, tolerance: float = 0.25) -> dict:
    keys = [k for k in ref if k.split("/")[0] in ("EB", "UPC", "QN", "TD")]
    ok = {k: bool(abs(row[k] - ref[k]) <= tolerance * abs(ref[k])) if ref[k] else row[k] == 0 for k in keys}
    return {"all": all(ok.values()), "passed": sum(ok.values()), "of": len(ok)}


def harmonisation(data, steps: int) -> dict:
    """A hybrid run conditioned on the soprano: tonal distance of the generated alto/tenor/bass to the given
    soprano, vs the original chorale voices' (on the same 1,000 real phrases)."""
    trainer, speed = train("musegan", data, {"mode": "hybrid", "condition_track": "soprano"}, steps)
    return {"steps": speed["steps"], "cpu_s": speed["cpu_s"], **harmonisation_td(trainer, data)}


def harmonisation_td(model, data, n: int = 1000) -> dict:
    """A soprano-conditioned model given n real phrases' sopranos: each generated voice's tonal distance to
    that soprano, beside the original chorale voice's and, as controls, each one's to another phrase's
    soprano (the generated pair equal if G ignores the melody it is given)."""
    spec = data.spec
    lowest, beat = spec.meta["lowest_pitch"], spec.meta["steps_per_beat"]
    real = data.x[torch.randperm(len(data.x), generator=torch.Generator().manual_seed(SEED))[:n]].float()
    rolls = generate(model, len(real), condition=real[:, 0])
    originals = real.numpy() > 0.5
    out = {}
    for k, name in enumerate(t["name"] for t in spec.meta["tracks"]):
        if k:
            out[f"TD/soprano-{name}"] = {
                "generated": round(tonal_distance(rolls[:, 0], rolls[:, k], beat, lowest), 3),
                "original": round(tonal_distance(originals[:, 0], originals[:, k], beat, lowest), 3),
                "generated_to_another_soprano": round(
                    tonal_distance(np.roll(rolls[:, 0], 1, axis=0), rolls[:, k], beat, lowest), 3),
                "original_to_another_soprano": round(
                    tonal_distance(np.roll(originals[:, 0], 1, axis=0), originals[:, k], beat, lowest), 3)}
    return out


def crnngan_benchmark(steps: int, every: int) -> dict:
    data = chorale_melodies()
    real = [events_notes(s, data.spec.meta["tones"]) for s in
            gankit.data.base.to_data_space(data.spec, data.all().x).numpy()]
    out = {"sequences": len(data), "shape": list(data.spec.shape), "data": round_all(sequence_statistics(real))}

    def probe(trainer):
        g = torch.Generator().manual_seed(SEED)
        x = trainer.recipe.sample(trainer.nets, 200, generator=g).numpy()
        return round_all(sequence_statistics([events_notes(s, data.spec.meta["tones"]) for s in x]))

    for fm in (True, False):
        _, result = train("crnngan", data, {"feature_matching": fm}, steps, every, probe)
        out["feature_matching" if fm else "adversarial_G_loss"] = result
    rec, _, _ = gankit.api.build("crnngan", data, "fast", {"G_hidden": 350, "D_hidden": 350, "seed": SEED})
    trainer = Trainer(rec, data, progress=False)
    trainer.train_step()
    t = time.process_time()
    for _ in range(5):
        trainer.train_step()
    out["paper_size_2x350_steps_per_cpu_s"] = round(5 / (time.process_time() - t), 3)
    return out


def evaluate_checkpoints(paths: list[str], binarize: str | None = None) -> dict:
    """The metric table for saved musegan runs or checkpoints (a long `gankit train musegan` run, say),
    each against the untransposed chorales, with the within-25 % check against the data's row."""
    try:  # every path loads before the data is parsed or anything scored: a mistyped one costs nothing
        pipes = {path: gankit.load(path) for path in paths}
    except gankit.GankitError as e:
        raise SystemExit(f"--checkpoints: {e}") from None
    data = chorales()
    spec, originals = data.spec, data.x.numpy()
    lowest = spec.meta["lowest_pitch"]
    ref = metric_row(originals, spec)
    out = {"data": {**ref, "key_share": key_share(originals, lowest)}}
    for path, pipe in pipes.items():
        if pipe.recipe.cfg.condition_track:  # a harmoniser draws nothing without a melody to harmonise
            out[path] = {"mode": pipe.recipe.cfg.mode, "condition_track": pipe.recipe.cfg.condition_track,
                         **harmonisation_td(pipe, data)}
            print(json.dumps({path: out[path]}), file=sys.stderr, flush=True)
            continue
        rolls = generate(pipe, GENERATED_BARS // spec.meta["bars"], binarize=binarize)
        row = {"bars": GENERATED_BARS, "mode": pipe.recipe.cfg.mode, "binarize": binarize or pipe.recipe.cfg.binarize,
               "binary_neurons": pipe.recipe.cfg.binary_neurons, "refiner": pipe.recipe.cfg.refiner,
               "train_G": pipe.recipe.cfg.train_G,
               **metric_row(rolls, spec),
               "key_share": key_share(rolls, lowest)}
        out[path] = {**row, "within_25%_of_data": within(row, ref)}
        print(json.dumps({path: out[path]["within_25%_of_data"]}), file=sys.stderr, flush=True)
    return out


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--checkpoints", nargs="+", metavar="RUN_OR_CKPT",
                   help="only evaluate these saved musegan runs or .safetensors checkpoints (no training)")
    p.add_argument("--binarize", choices=["threshold", "bernoulli"], default=None,
                   help="with --checkpoints: binarise samples this way instead of by each run's own setting")
    p.add_argument("--steps", type=int, default=200, help="steps per musegan run")
    p.add_argument("--crnn-steps", type=int, default=300, help="steps per crnngan run")
    p.add_argument("--files", type=int, default=1000, help="MIDI files in the parse-cost folder")
    args = p.parse_args()
    torch.set_num_threads(1)
    if args.checkpoints:
        cpu = time.process_time()
        result = {"command": "python benchmarks/bench_music.py " + " ".join(sys.argv[1:]), "cpu": cpu_name(),
                  **evaluate_checkpoints(args.checkpoints, args.binarize),
                  "cpu_minutes": round((time.process_time() - cpu) / 60, 1)}
        print(json.dumps(result, indent=1))
        return
    os.environ["GANKIT_CACHE"] = tempfile.mkdtemp()  # a cold parse: an empty cache
    start, cpu = time.perf_counter(), time.process_time()
    result = {"command": "nice -n 10 python benchmarks/bench_music.py " + " ".join(sys.argv[1:]),
              "cpu": cpu_name(), "threads": 1, "torch": torch.__version__,
              "parse": parse_costs(args.files)}
    data = chorales()
    result["musegan"] = musegan_benchmark(data, args.steps)
    result["crnngan"] = crnngan_benchmark(args.crnn_steps, every=25)
    result["total_cpu_minutes"] = round((time.process_time() - cpu) / 60, 1)
    result["total_wall_minutes"] = round((time.perf_counter() - start) / 60, 1)
    result["load_average_at_end"] = [round(x, 1) for x in os.getloadavg()]
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
