"""StackGAN (issue 14) on the bundled `shapes`: faithfulness to the text, R-precision, Stage I vs Stage II, CA on
and off, and cost. Prints JSON (saved as benchmarks/results_stackgan.json).

    nice -n 10 python benchmarks/bench_stackgan.py --runs benchmarks/stackgan-runs      # trains what is missing
    python benchmarks/bench_stackgan.py --stage1 RUN --stage1-noca RUN --stage2 RUN    # reuse finished runs
    python benchmarks/bench_stackgan.py --stage1 RUN --stage1-noca RUN --out F.json    # Stage I only
    python benchmarks/bench_stackgan.py ... --extra concat=RUN     # also measure a run trained with d_join=concat

Runs (each `gankit train stackgan --data shapes ...`, text_encoder=minilm, one thread each; the two Stage-I runs
side by side): Stage I at 32² (`--preset shapes`), the same with `--set ca=false`, and Stage II at 64² on the
frozen Stage-I run (`--preset shapes-stage2 --set stage1=RUN`).

Protocol:
* attribute classifier: a small CNN with heads for colour (6), shape (4), size (2) and position (9), trained
  deterministically (seed 0) on 8,000 rendered one-shape images of every combination at 32², accuracy on 1,000
  others; generated 64² images are average-pooled to 32² before it reads them;
* faithfulness: 300 one-shape captions of each kind (seen templates and combinations, unseen templates,
  unseen colour-shape combinations; data/shapes.py), one image each; accuracy per attribute against the
  caption's attributes, beside the classifier's accuracy on real renders of the very same scenes;
* R-precision: an image-text matching model (a CNN and a linear map of the MiniLM embedding into 128-d, InfoNCE,
  seed 0) trained on real training pairs; for each image of the seen split, its caption ranked among 100 (itself
  + 99 random other captions of the split); the fraction ranked first, for generated and for real images;
* classifier-FID (the classifier's 256-d features) of 2,000 samples against 2,000 held-out real training-like
  images, Stage I (32²) vs Stage II (64² pooled to 32²), with the held-out images' own captions;
* diversity: mean pairwise distance (classifier features and pixels) among 32 samples of each of 8 captions,
  for CA on (ĉ sampled), CA on but ĉ = μ at sampling, and a run trained without CA;
* cost: training images/s per stage from the runs' logs; MiniLM sentences/s on 2,000 captions; reading the
  cached embeddings of all of `shapes`' distinct captions vs computing them.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import gankit  # noqa: E402
from gankit.data import shapes as S  # noqa: E402
from gankit.data import text as T  # noqa: E402
from gankit.metrics.image import fid_from_features  # noqa: E402
from gankit.train.precision import cpu_info  # noqa: E402
from gankit.viz import save_gallery, save_image_grid  # noqa: E402

HERE = Path(__file__).resolve().parent
HEADS = {"colour": 6, "shape": 4, "size": 2, "position": 9}
SPLITS = ("seen", "unseen_templates", "unseen_combinations")
EVAL_CAPTIONS = 300
CLASSIFIER_STEPS, MATCHER_STEPS = 800, 600


# ------------------------------------------------------------------------------ runs

def train_runs(runs: Path, steps1: int, steps2: int) -> dict[str, Path]:
    """The two Stage-I runs side by side (one thread each), then Stage II on the first; finished runs are reused."""
    def command(name, *extra):
        return [sys.executable, "-m", "gankit", "train", "stackgan", "--data", "shapes", "--out", str(runs / name),
                "--no-progress", *extra]

    def existing(name):
        """The newest run of that name that reached its configured steps (None if none did)."""
        for run in sorted((runs / name).glob("stackgan-*"), reverse=True):
            entry = gankit.api.Run(run).latest_checkpoint()
            if entry and entry["step"] >= run_steps(run):
                return run
        return None

    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(HERE.parent)}
    jobs = {"stage1": command("stage1", "--preset", "shapes", "--steps", str(steps1)),
            "stage1_noca": command("stage1_noca", "--preset", "shapes", "--steps", str(steps1), "--set", "ca=false")}
    procs = [subprocess.Popen(cmd, env=env) for name, cmd in jobs.items() if existing(name) is None]
    if any(p.wait() for p in procs):
        raise SystemExit("a Stage-I run failed")
    if existing("stage2") is None:
        subprocess.run(command("stage2", "--preset", "shapes-stage2", "--steps", str(steps2), "--set",
                               f"stage1={existing('stage1')}"), env=env, check=True)
    return {name: existing(name) for name in ("stage1", "stage1_noca", "stage2")}


def run_steps(run: Path) -> int:
    return json.loads((run / "config.json").read_text())["config"]["steps"]


def training_speed(run: Path) -> dict:
    rows = [json.loads(x) for x in (run / "stats.jsonl").read_text().splitlines() if x.strip()]
    sec = [r["time/sec_per_step"] for r in rows if "time/sec_per_step" in r]
    sec = sec[1:] or sec  # the first log interval includes start-up
    cfg = json.loads((run / "config.json").read_text())["config"]
    return {"steps": rows[-1]["step"], "batch": cfg["batch_size"], "sec_per_step": float(np.median(sec)),
            "images_per_s": cfg["batch_size"] / float(np.median(sec)), "threads": 1}


# ------------------------------------------------------------------------------ the attribute classifier

class Trunk(nn.Sequential):
    def __init__(self, out: int = 256):
        super().__init__(nn.Conv2d(3, 32, 3, 2, 1), nn.ReLU(), nn.Conv2d(32, 64, 3, 2, 1), nn.ReLU(),
                         nn.Conv2d(64, 128, 3, 2, 1), nn.ReLU(), nn.Flatten(), nn.Linear(128 * 16, out), nn.ReLU())


class AttributeClassifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = Trunk()
        self.heads = nn.ModuleDict({k: nn.Linear(256, n) for k, n in HEADS.items()})

    def forward(self, x):
        h = self.trunk(x)
        return h, {k: head(h) for k, head in self.heads.items()}


def to32(images: torch.Tensor) -> torch.Tensor:
    """[-1, 1] float or uint8 images at 32² (64² and 128² average-pooled)."""
    x = images.float() / 127.5 - 1 if images.dtype == torch.uint8 else images.float()
    return F.adaptive_avg_pool2d(x, 32) if x.shape[-1] != 32 else x


def train_classifier(steps: int = 0) -> tuple[AttributeClassifier, dict]:
    torch.manual_seed(0)
    x, a = S.labelled_images(8000, 32, seed=0)
    xt, at = S.labelled_images(1000, 32, seed=1)
    net, g = AttributeClassifier(), torch.Generator().manual_seed(0)
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    for _ in range(steps or CLASSIFIER_STEPS):
        idx = torch.randint(len(x), (128,), generator=g)
        _, out = net(to32(x[idx]))
        loss = sum(F.cross_entropy(out[k], a[idx, i]) for i, k in enumerate(HEADS))
        opt.zero_grad()
        loss.backward()
        opt.step()
    net.eval()
    return net, accuracy(net, to32(xt), at)


@torch.no_grad()
def accuracy(net, images: torch.Tensor, attributes: torch.Tensor) -> dict:
    _, out = net(to32(images))
    return {k: round(float((out[k].argmax(1) == attributes[:, i]).float().mean()), 4) for i, k in enumerate(HEADS)}


@torch.no_grad()
def features(net, images: torch.Tensor) -> torch.Tensor:
    return torch.cat([net(to32(chunk))[0] for chunk in images.split(500)])


# ------------------------------------------------------------------------------ image-text matching

class Matcher(nn.Module):
    def __init__(self, text_dim: int = 384):
        super().__init__()
        self.image, self.text = nn.Sequential(Trunk(), nn.Linear(256, 128)), nn.Linear(text_dim, 128)

    def forward(self, x, t):
        return F.normalize(self.image(to32(x)), dim=1), F.normalize(self.text(t), dim=1)


def train_matcher(data, steps: int = 0) -> Matcher:
    """InfoNCE over real (image, one of its captions) pairs of the training set (seed 0)."""
    torch.manual_seed(0)
    net, g = Matcher(), torch.Generator().manual_seed(0)
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    for _ in range(steps or MATCHER_STEPS):
        idx = torch.randint(len(data), (128,), generator=g)
        batch = data.batch(idx)
        pick = torch.randint(0, 5, (128,), generator=g)
        text = batch.cond["text"][torch.arange(128), pick]
        img, txt = net(batch.x, text)
        logits = img @ txt.T / 0.1
        loss = (F.cross_entropy(logits, torch.arange(128)) + F.cross_entropy(logits.T, torch.arange(128))) / 2
        opt.zero_grad()
        loss.backward()
        opt.step()
    return net.eval()


@torch.no_grad()
def r_precision(net: Matcher, images: torch.Tensor, text: torch.Tensor, candidates: int = 100, seed: int = 0) -> float:
    """Fraction of images whose own caption ranks first among itself and 99 random others of the pool."""
    g = torch.Generator().manual_seed(seed)
    img, txt = net(images, text)
    hits = 0
    for i in range(len(img)):
        others = torch.randperm(len(txt) - 1, generator=g)[:candidates - 1]
        others = others + (others >= i).long()          # never the image's own caption twice
        scores = txt[torch.cat([torch.tensor([i]), others])] @ img[i]
        hits += int(scores.argmax() == 0)
    return round(hits / len(img), 4)


# ------------------------------------------------------------------------------ measurements

def real_renders(attributes: torch.Tensor, side: int = 32) -> torch.Tensor:
    return torch.from_numpy(np.stack([S.render([tuple(a[:4])], a[4], side) for a in attributes.tolist()]))


def generate(pipe, captions: list[str], seed: int = 0, **options) -> torch.Tensor:
    return pipe(len(captions), condition=captions, seed=seed, **options).data


def faithfulness(pipes: dict, classifier) -> dict:
    out = {}
    for split in SPLITS:
        captions, attrs = S.evaluation_captions(split, EVAL_CAPTIONS)
        out[split] = {"real_renders": accuracy(classifier, real_renders(attrs), attrs)}
        for name, (pipe, options) in pipes.items():
            out[split][name] = accuracy(classifier, generate(pipe, captions, **options), attrs)
    return out


def pairwise(x: torch.Tensor) -> float:
    d = torch.cdist(x.flatten(1), x.flatten(1))
    return float(d.sum() / (len(x) * (len(x) - 1)))


def diversity(pipes: dict, classifier) -> dict:
    captions, _ = S.evaluation_captions("seen", 8, seed=7)
    out = {}
    for name, (pipe, options) in pipes.items():
        feats, pixels = [], []
        for i, c in enumerate(captions):
            x = pipe(32, condition=c, seed=100 + i, **options).data
            feats.append(pairwise(features(classifier, x)))
            pixels.append(pairwise(to32(x)))
        out[name] = {"feature_distance": round(float(np.mean(feats)), 3), "pixel_distance": round(float(np.mean(pixels)), 3)}
    return out


def stage_fid(pipes: dict, classifier) -> dict:
    held = S.shapes(32, n=2000, seed=99)
    real = features(classifier, held.x)
    captions = [held.captions_of(i)[0] for i in range(len(held))]
    return {name: round(fid_from_features(real, features(classifier, generate(pipe, captions, **options))), 3)
            for name, (pipe, options) in pipes.items()}


def r_precisions(pipes: dict, stage1_data) -> dict:
    matcher = train_matcher(stage1_data)
    captions, attrs = S.evaluation_captions("seen", EVAL_CAPTIONS)
    text = T.encode(captions, "minilm")
    out = {"real_renders": r_precision(matcher, real_renders(attrs), text)}
    for name, (pipe, options) in pipes.items():
        out[name] = r_precision(matcher, generate(pipe, captions, **options), text)
    return out


def embedding_cost(data) -> dict:
    """MiniLM throughput on 2,000 distinct captions (model loaded first), and the cache's effect on all of them."""
    encoder = T.get_encoder("minilm")
    t = time.perf_counter()
    encoder.model
    load = time.perf_counter() - t
    sample = data.captions[:2000]
    t = time.perf_counter()
    encoder.encode(sample)
    rate = len(sample) / (time.perf_counter() - t)
    t = time.perf_counter()
    T.HashEncoder().encode(data.captions)
    hash_rate = len(data.captions) / (time.perf_counter() - t)
    t = time.perf_counter()
    _, cached = T.cached_embeddings(data.captions, "minilm")
    read = time.perf_counter() - t
    return {"distinct_captions": len(data.captions), "minilm_model_load_s": round(load, 2),
            "minilm_sentences_per_s": round(rate, 1), "hash_sentences_per_s": round(hash_rate, 1),
            "all_captions_compute_s_estimated": round(len(data.captions) / rate, 1),
            "all_captions_cache_read_s": round(read, 3), "cache_hit": cached}


def figures(stage2_pipe) -> None:
    """The interpolation between two captions' embeddings (fixed noise) and a gallery of samples."""
    a, b = "a small red circle in the top left", "a large blue square in the bottom right"
    ends = T.encode([a, b], "minilm")
    steps = torch.linspace(0, 1, 8)[:, None]
    rows = []
    for seed in range(3):
        text = (1 - steps) * ends[0] + steps * ends[1]
        g = torch.Generator().manual_seed(seed)
        rows.append(stage2_pipe.recipe.sample(stage2_pipe.nets, 8, generator=g, condition=text, augment=False))
    save_image_grid(torch.cat(rows), HERE / "stackgan_interpolation.png", nrow=8)
    captions, _ = S.evaluation_captions("seen", 6, seed=3)
    held, _ = S.evaluation_captions("unseen_combinations", 3, seed=3)
    save_gallery([(c, stage2_pipe(8, condition=c, seed=0).data) for c in captions + held],
                 HERE / "stackgan_gallery.html", "stackgan on shapes: Stage II 64² (last 3: unseen combinations)")


def extra_runs(specs: list[str]) -> dict:
    """--extra NAME=RUN: more finished runs whose faithfulness is measured beside the others."""
    pairs = [spec.partition("=") for spec in specs]
    if any(not name or not run for name, _, run in pairs):
        raise SystemExit("--extra takes NAME=RUN")
    try:
        return {name: (gankit.load(run), {}) for name, _, run in pairs}
    except gankit.GankitError as e:
        raise SystemExit(f"--extra: {e}") from None


def stage1_only(stage1: Path, stage1_noca: Path, out: Path, extra: dict) -> None:
    """Faithfulness, R-precision and CA diversity of finished Stage-I runs (no Stage II needed)."""
    start = time.perf_counter()
    loaded = {"stage1": gankit.load(stage1), "stage1_noca": gankit.load(stage1_noca)}
    pipes = {k: (v, {}) for k, v in loaded.items()}
    classifier, real_accuracy = train_classifier()
    result = {
        "cpu": cpu_info()["model"], "torch_threads": torch.get_num_threads(),
        "runs": {"stage1": str(stage1), "stage1_noca": str(stage1_noca)},
        "steps": {k: v.step for k, v in loaded.items()},
        "classifier_real_heldout_accuracy": real_accuracy,
        "faithfulness": faithfulness({**pipes, **extra}, classifier),
        "r_precision_seen": r_precisions({"stage1": pipes["stage1"], **extra}, S.shapes(32, text_encoder="minilm")),
        "diversity_one_caption": diversity({"ca_on": pipes["stage1"], "ca_on_mu_only": (loaded["stage1"], {"augment": False}),
                                            "ca_off": pipes["stage1_noca"]}, classifier),
    }
    result["evaluation_seconds"] = round(time.perf_counter() - start, 1)
    text = json.dumps(result, indent=2)
    print(text)
    out.write_text(text + "\n")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", default=str(HERE / "stackgan-runs"))
    parser.add_argument("--stage1"), parser.add_argument("--stage1-noca"), parser.add_argument("--stage2")
    parser.add_argument("--steps1", type=int, default=5000)
    parser.add_argument("--steps2", type=int, default=3000)
    parser.add_argument("--quick", action="store_true", help="a dry run of the evaluation code: few steps and samples")
    parser.add_argument("--out", type=Path, help="with --stage1 and --stage1-noca only: evaluate Stage I into this file")
    parser.add_argument("--extra", action="append", default=[], metavar="NAME=RUN",
                        help="another finished run measured beside the others (faithfulness, R-precision), e.g. "
                             "concat=RUN trained with --set d_join=concat")
    args = parser.parse_args()
    if args.quick:
        global EVAL_CAPTIONS, CLASSIFIER_STEPS, MATCHER_STEPS
        EVAL_CAPTIONS, CLASSIFIER_STEPS, MATCHER_STEPS = 100, 20, 20
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
    extra = extra_runs(args.extra)  # before any training: a mistyped run fails at once
    if args.out:
        return stage1_only(Path(args.stage1), Path(args.stage1_noca), args.out, extra)
    start = time.perf_counter()
    runs = {"stage1": args.stage1, "stage1_noca": args.stage1_noca, "stage2": args.stage2}
    runs = {k: Path(v) for k, v in runs.items()} if all(runs.values()) else train_runs(Path(args.runs), args.steps1,
                                                                                       args.steps2)
    loaded = {k: gankit.load(v) for k, v in runs.items()}
    pipes = {"stage1": (loaded["stage1"], {}), "stage2": (loaded["stage2"], {}),
             "stage1_noca": (loaded["stage1_noca"], {})}
    data = S.shapes(32, text_encoder="minilm")
    embedding = embedding_cost(data)
    classifier, real_accuracy = train_classifier()
    result = {
        "cpu": cpu_info()["model"], "torch_threads": torch.get_num_threads(),
        "runs": {k: str(v) for k, v in runs.items()},
        "training": {k: training_speed(v) for k, v in runs.items()},
        "classifier_real_heldout_accuracy": real_accuracy,
        "faithfulness": faithfulness({**pipes, **extra}, classifier),
        "r_precision_seen": r_precisions({"stage1": pipes["stage1"], "stage2": pipes["stage2"], **extra}, data),
        "classifier_fid": stage_fid({"stage1": pipes["stage1"], "stage2": pipes["stage2"],
                                     "stage2_its_stage1_upsampled": (loaded["stage2"], {"stage": 1})}, classifier),
        "diversity_one_caption": diversity({"ca_on": pipes["stage1"], "ca_on_mu_only": (loaded["stage1"], {"augment": False}),
                                            "ca_off": pipes["stage1_noca"]}, classifier),
        "embedding": embedding,
    }
    figures(loaded["stage2"])
    result["evaluation_seconds"] = round(time.perf_counter() - start, 1)
    text = json.dumps(result, indent=2)
    print(text)
    (HERE / "results_stackgan.json").write_text(text + "\n")


if __name__ == "__main__":
    with tempfile.TemporaryDirectory():
        main()
