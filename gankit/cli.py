"""The `gankit` command line, built from the recipe and dataset registries.

    gankit list
    gankit train RECIPE --data D [--preset P] [--steps N] [--set key=value ...] [--out DIR]
                 [--seed S] [--device DEV] [--dry-run] [--explain]
    gankit train RECIPE --data SOURCE=D --data SOURCE=D ...   (recipes with several data sources)
    gankit train --resume RUN [--steps N]
    gankit train RECIPE --data D --init RUN_OR_CHECKPOINT [--set key=value ...]   (start from trained weights)
    gankit sample RUN_OR_CHECKPOINT --n N --out FILE [--seed S] [--no-ema] [--class C ...]
                  [--truncation PSI] [--noise random|const]          (stylegan)
    gankit mix RUN --rows SEEDS --cols SEEDS --layers coarse|middle|fine|A-B --out grid.png  (stylegan)
    gankit truncation RUN --psi 1,0.7,0.5,0 [--seeds 0-7] --out rows.png               (stylegan)
    gankit interpolate RUN --seeds 0,1,2 --frames N [--space z|w] --out a.gif|a.png
    gankit project RUN image.png --out projection.png [--steps N]                     (stylegan)
    gankit sample RUN --text "a large blue square at the bottom" [--text ...] --n 8 --out blue.png
    gankit sample RUN --captions captions.txt|.jsonl --n 8 --out gallery.html      (text-conditioned runs)
    gankit sample RUN --melody given.mid [--melody-tracks name:soprano] --n 4 --out songs/   (musegan)
    gankit export RUN_OR_CHECKPOINT --format onnx|torchscript [--out FILE]
    gankit info RUN
    gankit eval RUN [--metrics ...] [--n N] [--features PATH] [--json]
    gankit dirac [--methods ...] [--json] [--plot FILE]
    gankit report RUN
    gankit stylize [RUN] CONTENT --style S [--method adain|gatys] [--alpha A] [--preserve-color] ...
    gankit convert-vgg vgg_normalised.pth --out vgg.safetensors
    gankit translate RUN --from b.csv --to a --out b_as_a.csv          (radialgan)
    gankit augment RUN --domain a [--n N] --out a_augmented.csv
    gankit demo [images|style|tables]

Bad input is one line on stderr ("error: ...") and exit code 2, never a traceback.
"""

import argparse
import json
import os
import sys
from pathlib import Path

from . import config as C
from .argtypes import nonnegative_int, positive_int
from .errors import GankitError
from .latents import COMMANDS as LATENT_COMMANDS


class Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, not argparse's usage block
        raise GankitError(f"{self.prog}: {message} (see {self.prog} --help)")


def build_parser() -> Parser:
    p = Parser(prog="gankit", description="Train, sample and inspect GANs.")
    sub = p.add_subparsers(dest="command", parser_class=Parser, metavar="COMMAND")

    sub.add_parser("list", help="recipes, presets and datasets")

    t = sub.add_parser("train", help="train a recipe (or --resume a run)")
    t.add_argument("recipe", nargs="?", help="recipe name (see gankit list)")
    t.add_argument("--data", action="append", metavar="DATA",
                   help="dataset name or folder:PATH; SOURCE=DATA for each source of a multi-source recipe")
    t.add_argument("--preset", help="named preset of the recipe (default: chosen for the data)")
    t.add_argument("--steps", type=positive_int, help="total training steps (generator updates)")
    t.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. --set D_opt.lr=1e-4 (repeatable)")
    t.add_argument("--out", default="runs", help="folder that holds run folders (default: runs)")
    t.add_argument("--seed", type=nonnegative_int, help="random seed")
    t.add_argument("--precision", choices=["fp32", "bf16", "fp16", "auto"],
                   help="compute precision (same as --set precision=...; fp16 needs CUDA; auto times fp32 and "
                        "bf16 on the actual nets and keeps the faster)")
    t.add_argument("--resume", metavar="RUN", help="continue RUN from its latest checkpoint")
    t.add_argument("--init", metavar="RUN_OR_CHECKPOINT",
                   help="a new run whose nets start from these weights (same recipe and net shapes; fresh "
                        "optimizers, step 0): fine-tuning, or a second stage with changed --set settings")
    t.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (default)")
    t.add_argument("--dry-run", action="store_true", help="print the resolved config and exit")
    t.add_argument("--explain", action="store_true", help="list every config key with its value and help; exit")
    t.add_argument("--no-progress", action="store_true", help="no progress bar")

    s = sub.add_parser("sample", help="draw samples from a run or checkpoint")
    s.add_argument("source", metavar="RUN_OR_CHECKPOINT")
    s.add_argument("--n", type=positive_int, default=64, help="number of samples (default 64)")
    s.add_argument("--out", required=True, help="output file; its extension picks the format: .png grid or .npy "
                                                "for images, .npy (+ .png scatter) for 2-D points, .csv for tables; "
                                                "music: a folder (.mid, .png, .wav per sample) or FILE.mid")
    s.add_argument("--seed", type=nonnegative_int, default=0, help="noise seed (default 0)")
    s.add_argument("--no-ema", action="store_true", help="use G instead of its EMA copy G_ema")
    s.add_argument("--truncation", type=float, metavar="PSI", help="stylegan: truncation ψ in [0, 1] (1 = off)")
    s.add_argument("--extrapolate", action="store_true", help="stylegan: allow ψ above 1")
    s.add_argument("--noise", choices=["random", "const"], help="stylegan: noise maps drawn from the seed, or fixed")
    s.add_argument("--class", dest="classes", nargs="+", metavar="CLASS",
                   help="conditional runs: class index(es) or name(s); samples cycle through them, one grid row each")
    s.add_argument("--text", dest="texts", action="append", metavar="SENTENCE",
                   help="text-conditioned runs: a sentence (repeatable); --n samples of each, one grid row each")
    s.add_argument("--captions", metavar="FILE",
                   help="text-conditioned runs: sentences from a file (one per line, or captions JSONL); "
                        "--n samples of each, written as a gallery (--out X.html) or a grid (--out X.png)")
    s.add_argument("--melody", metavar="FILE.mid",
                   help="track-conditional musegan runs: harmonise this MIDI file's first phrase")
    s.add_argument("--melody-tracks", default="all", metavar="SELECTORS",
                   help="--melody: the file's tracks to read as the melody, as in midi: data (e.g. name:soprano; "
                        "default all)")
    s.add_argument("--device", default="auto")

    i = sub.add_parser("info", help="summary of a run")
    i.add_argument("run", metavar="RUN")

    e = sub.add_parser("eval", help="metrics of a run's samples against its data (stored in the run)")
    e.add_argument("run", metavar="RUN")
    from .evaluate import METRICS

    e.add_argument("--metrics", nargs="+", default=["auto"], metavar="METRIC",
                   help=f"auto (default), or any of: {' '.join(METRICS)}")
    e.add_argument("--n", type=positive_int, default=None, help="generated samples (default: the protocol's)")
    e.add_argument("--features", metavar="PATH", help="TorchScript feature extractor for fid/kid/is/pr/dc")
    e.add_argument("--no-ema", action="store_true", help="evaluate G instead of G_ema")
    e.add_argument("--seed", type=nonnegative_int, default=0)
    e.add_argument("--json", action="store_true", help="print JSON")
    e.add_argument("--device", default="auto")

    x = sub.add_parser("export", help="the run's sampling network as ONNX or TorchScript (dynamic batch axis)")
    x.add_argument("source", metavar="RUN_OR_CHECKPOINT")
    x.add_argument("--format", choices=["onnx", "torchscript"], default="onnx")
    x.add_argument("--out", help="output file (default: RUN/export/generator.onnx or .pt)")
    x.add_argument("--no-ema", action="store_true", help="export G instead of G_ema")
    x.add_argument("--no-check", action="store_true", help="skip running the file against PyTorch")

    from .dirac import add_parser as add_dirac_parser
    from .style.cli import add_parsers as add_style_parsers

    from .translate import add_parsers as add_table_parsers
    from .latents import add_parsers as add_latent_parsers
    from .serve import add_parser as add_serve_parser

    add_dirac_parser(sub)
    add_serve_parser(sub)
    add_style_parsers(sub)
    add_table_parsers(sub)
    add_latent_parsers(sub)

    r = sub.add_parser("report", help="write report.html and report.md for a run")
    r.add_argument("run", metavar="RUN")

    d = sub.add_parser("demo", help="the main job: the demo recipe on bundled data, with a report")
    d.add_argument("which", nargs="?", choices=["images", "style", "tables"], default="images",
                   help="images (default: DCGAN on MNIST digits), style (an AdaIN decoder on bundled pictures) or "
                        "tables (RadialGAN on the bundled hospitals)")
    d.add_argument("--out", default="runs", help="folder for the run (default: runs)")
    d.add_argument("--minutes", type=float, default=None, help="training time budget (default: the demo preset's)")
    d.add_argument("--no-progress", action="store_true")
    return p


# ------------------------------------------------------------------------------ commands


def cmd_list(args) -> int:
    from .data import DATASETS, FOLDER_HELP
    from .recipes import load_all

    print("recipes:")
    for name, cls in sorted(load_all().items()):
        print(f"  {name:13s} {cls.description}")
        print(f"  {'':13s} presets: default, {', '.join(cls.presets)}")
    print("datasets:")
    for entry in DATASETS.values():
        print(f"  {entry.name:13s} {entry.description}")
    print(f"  {FOLDER_HELP}")
    print("see the keys of a recipe, their values and what they do: gankit train RECIPE --data D --explain")
    return 0


def cmd_train(args) -> int:
    from . import api

    if args.resume:
        if args.recipe or args.data or args.preset or args.overrides or args.seed is not None or args.precision \
                or args.init:
            raise GankitError("--resume takes only --steps, --device and --no-progress (the run keeps its config)")
        run = api.resume(args.resume, steps=args.steps, device=args.device, progress=not args.no_progress)
        return finished(run)
    if not args.recipe or not args.data:
        raise GankitError("gankit train needs RECIPE and --data (or --resume RUN); see gankit list")
    overrides = api.with_steps_and_seed(C.parse_set_args(args.overrides), args.steps, args.seed)
    if args.precision:
        overrides["precision"] = args.precision
    data = data_arg(args.data)
    if args.dry_run or args.explain:
        return dry_run(args, data, overrides)
    run = api.train(args.recipe, data, preset=args.preset, overrides=overrides, out=args.out,
                    device=args.device, progress=not args.no_progress, init=args.init)
    return finished(run)


def data_arg(items: list[str]):
    """`--data NAME` -> "NAME"; `--data content=folder:a --data style=folder:b` -> a dict by source."""
    named = [item.partition("=") for item in items]
    if len(items) == 1 and not named[0][1]:
        return items[0]
    if any(not sep or not key for key, sep, _ in named):
        raise GankitError("with several --data, name each one's source: --data SOURCE=DATA")
    return {key: value for key, _, value in named}


def finished(run) -> int:
    """Print the run folder (rank 0 only under torchrun); exit 130 if Ctrl-C stopped it (its checkpoint is saved)."""
    if os.environ.get("RANK", "0") == "0":
        print(f"run: {run.path}")
    return 130 if run.result and run.result.get("stopped") == "interrupted" else 0


def dry_run(args, data, overrides: dict) -> int:
    from . import api
    from .nets import count_parameters

    recipe, datasets, preset = api.build(args.recipe, data, args.preset, overrides)
    if args.explain:
        rows = C.describe(recipe.cfg)
        width = max(len(k) for k, _, _ in rows)
        print(f"{recipe.name} (preset {preset}): {recipe.description}")
        for key, value, help_text in rows:
            shown = ",".join(map(str, value)) if isinstance(value, tuple) else value
            print(f"  {key:{width}s} = {shown!s:10s} {help_text}")
        return 0
    nets = recipe.build_nets()
    sizes = {k: len(v) for k, v in datasets.items()} if isinstance(datasets, dict) else \
        {recipe.sources[0]: len(datasets)}
    print(json.dumps({"recipe": recipe.name, "data": data, "preset": preset,
                      "data_specs": {k: {"kind": s.kind, "shape": s.shape, "samples": sizes[k],
                                         "classes": s.num_classes} for k, s in recipe.specs.items()},
                      "parameters": {k: count_parameters(v) for k, v in nets.items()},
                      "phases": [p.name for p in recipe.phases()],
                      "config": C.to_dict(recipe.cfg)}, indent=2))
    return 0


def cmd_sample(args) -> int:
    from . import api
    from .modalities import get_modality

    pipe = api.load(args.source, device=args.device)
    if args.texts or args.captions:
        return sample_sentences(args, pipe)
    out = get_modality(pipe.spec.kind).check_out(Path(args.out), pipe.spec)  # before sampling
    y = melody_condition(args, pipe) if args.melody else \
        class_labels(args.classes, args.n, pipe.spec) if args.classes else None
    samples = pipe(args.n, condition=y, seed=args.seed, ema=not args.no_ema, **sample_options(args))
    per_class = args.n // len(args.classes) if args.classes and args.n % len(args.classes) == 0 else None
    written = pipe.write(samples, out, rows=per_class, title=f"{pipe.recipe.name}, step {pipe.step}")
    print(f"wrote {', '.join(map(str, written))} ({args.n} samples, step {pipe.step}, seed {args.seed})")
    return 0


def melody_condition(args, pipe):
    """`--melody FILE.mid`: the melody a track-conditional run harmonises, on the run's pitch axis (melody_roll
    refuses runs on other data, the recipe runs without a condition track)."""
    from .data.music import melody_roll

    if args.classes:
        raise GankitError("give either --class or --melody")
    if not Path(args.melody).is_file():
        raise GankitError(f"--melody {args.melody}: no such file")
    return melody_roll(args.melody, pipe.spec, args.melody_tracks)


def sample_options(args) -> dict:
    """The recipe-specific sampling options given on the command line (the recipe refuses those it lacks)."""
    options = {"truncation": args.truncation, "noise": args.noise, "extrapolate": args.extrapolate or None}
    return {k: v for k, v in options.items() if v is not None}


def sample_sentences(args, pipe) -> int:
    """`--text`/`--captions`: --n samples per sentence, as a grid (one row each) or an HTML gallery."""
    from . import viz
    from .modalities import get_modality

    if pipe.recipe.condition_kind != "text":
        raise GankitError(f"--text/--captions: {args.source} is a {pipe.recipe.name} run, not conditioned on text")
    if args.classes:
        raise GankitError("give either --class or --text/--captions")
    sentences = list(args.texts or []) + (read_sentences(args.captions) if args.captions else [])
    gallery = Path(args.out).suffix.lower() == ".html"
    out = Path(args.out) if gallery else get_modality(pipe.spec.kind).check_out(Path(args.out), pipe.spec)
    samples = pipe(args.n * len(sentences), condition=sentences, seed=args.seed, ema=not args.no_ema)
    if gallery:
        rows = [(s, x) for s, x in zip(sentences, samples.data.cpu().split(args.n))]
        written = [viz.save_gallery(rows, out, title=f"{pipe.recipe.name}, step {pipe.step}, seed {args.seed}")]
    else:
        written = pipe.write(samples, out, rows=args.n, title=f"{pipe.recipe.name}, step {pipe.step}")
    print(f"wrote {', '.join(map(str, written))} ({args.n} samples of each of {len(sentences)} sentence(s), "
          f"step {pipe.step}, seed {args.seed})")
    return 0


def read_sentences(path: str) -> list[str]:
    """Sentences of a text file (one per non-blank line) or of a captions JSONL file (every caption)."""
    from .data.captions import parse_line

    file = Path(path)
    if not file.is_file():
        raise GankitError(f"--captions {path}: no such file")
    sentences = []
    for number, raw in enumerate(file.read_bytes().splitlines(), 1):
        if file.suffix.lower() == ".jsonl":
            record = parse_line(raw, f"{path}:{number}")
            sentences += record["captions"] if record else []
            continue
        try:
            line = raw.decode("utf-8").strip()
        except UnicodeDecodeError as e:
            raise GankitError(f"{path}:{number}: not UTF-8 text (byte 0x{raw[e.start]:02x} at column "
                              f"{e.start + 1})") from None
        sentences += [line] if line else []
    if not sentences:
        raise GankitError(f"--captions {path}: no sentences")
    return sentences


def class_labels(classes: list[str], n: int, spec):
    """Class indices or names -> [n] labels, each class repeated n/len(classes) times in a block."""
    import torch

    index = {name: i for i, name in enumerate(spec.class_names)}
    picked = []
    for c in classes:
        if c in index:
            picked.append(index[c])
        elif c.lstrip("-").isdigit() and 0 <= int(c) < max(spec.num_classes, 1):
            picked.append(int(c))
        else:
            known = f"0..{spec.num_classes - 1}" if spec.num_classes else "none (unlabelled data)"
            raise GankitError(f"--class {c}: not a class of {spec.name} (classes: {known})")
    per = -(-n // len(picked))
    return torch.tensor(picked).repeat_interleave(per)[:n]


def cmd_info(args) -> int:
    from . import api

    run = api.Run(Path(args.run))
    info = run.info
    entry = run.latest_checkpoint()
    stats = run.stats()
    cfg = info["config"]
    print(f"run:        {run.path}")
    print(f"recipe:     {info['recipe']} (preset {info.get('preset')})")
    print(f"data:       {info['data']} {info['data_spec']['kind']} {tuple(info['data_spec']['shape'])}")
    print(f"steps:      {entry['step'] if entry else 0} of {cfg['steps']} (batch {cfg['batch_size']}, seed {cfg['seed']})")
    print(f"checkpoint: {entry['weights'] if entry else 'none yet'}")
    if "init" in info:
        print(f"started at: {info['init']['weights']} (step {info['init']['step']} of that run)")
    samples = sorted((run.path / "samples").glob("*.png"))
    print(f"samples:    {samples[-1] if samples else 'none yet'}")
    if stats:
        last = stats[-1]
        shown = ", ".join(f"{k}={v:.4g}" for k, v in last.items() if k != "step" and isinstance(v, (int, float)))
        print(f"last stats: step {last['step']}: {shown}")
    return 0


def cmd_eval(args) -> int:
    from . import api

    result = api.evaluate(args.run, metrics=args.metrics, n=args.n or 0, features=args.features,
                          ema=not args.no_ema, seed=args.seed, device=args.device)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"{args.run} at step {result['step']} ({'G' if args.no_ema else 'G_ema'}, {result['n']} samples):")
        for key, value in result["metrics"].items():
            print(f"  {key:16s} {value:.4g}" if isinstance(value, float) else f"  {key:16s} {value}")
    return 0


def cmd_export(args) -> int:
    from . import api
    from .export import export_pipeline

    pipe = api.load(args.source)
    path, diff = export_pipeline(pipe, args.format, args.out, ema=not args.no_ema, check=not args.no_check)
    checked = "" if diff is None else f"; max abs difference to PyTorch {diff:.2g}"
    print(f"wrote {path} ({args.format}, step {pipe.step}, dynamic batch axis{checked})")
    return 0


def cmd_dirac(args) -> int:
    from .dirac import run_command

    return run_command(args)


def cmd_report(args) -> int:
    from .api import Run
    from .report import write_report

    run = Run(Path(args.run))
    run.info  # a clear error for a folder that is not a run
    final = run.path / "samples" / "final.png"
    md, page = write_report(run.path, final if final.exists() else None)
    print(f"wrote {page} and {md}")
    return 0


def cmd_demo(args) -> int:
    from .demo import run_demo

    return run_demo(args.which, out=args.out, minutes=args.minutes, progress=not args.no_progress)


def cmd_stylize(args) -> int:
    from .style.cli import cmd_stylize

    return cmd_stylize(args)


def cmd_convert_vgg(args) -> int:
    from .style.cli import cmd_convert_vgg

    return cmd_convert_vgg(args)


def cmd_translate(args) -> int:
    from .translate import cmd_translate

    return cmd_translate(args)


def cmd_augment(args) -> int:
    from .translate import cmd_augment

    return cmd_augment(args)


def cmd_serve(args) -> int:
    from .serve import cmd_serve as serve

    return serve(args)


COMMANDS = {"list": cmd_list, "train": cmd_train, "sample": cmd_sample, "export": cmd_export, "info": cmd_info,
            "eval": cmd_eval, "dirac": cmd_dirac, "report": cmd_report, "demo": cmd_demo, "stylize": cmd_stylize,
            "convert-vgg": cmd_convert_vgg, "translate": cmd_translate, "augment": cmd_augment,
            "serve": cmd_serve, **LATENT_COMMANDS}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if not args.command:
            parser.print_help()
            return 2
        code = COMMANDS[args.command](args)
        from .train.dist import shutdown

        shutdown(finished=code == 0)  # under torchrun: every rank done before the group goes
        return code
    except GankitError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except OSError as e:  # a path the user gave that cannot be read or written
        where = f": {e.filename}" if e.filename else ""
        print(f"error: {e.strerror or e}{where}", file=sys.stderr)
        return 2
    finally:
        from .train.dist import shutdown

        shutdown()

