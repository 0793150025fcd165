"""ProGAN / StyleGAN measurements (issue: ProGAN and StyleGAN), each sub-command printing JSON.

  curves    one variant trained on mnist5k for --minutes of CPU time (this process's, training steps only),
            classifier-FID (2,000 samples, the shipped digit classifier's features) every --eval-every
            CPU-minutes: quality against CPU time. Variants: `progan`, `progan+progressive=false` (the same
            final nets at full resolution from step 0), `stylegan`, `dcgan` (gankit's tuned CPU DCGAN).
  fade      a growing run's quality through its fade-ins: classifier-FID of G and G_ema, at the live α and at
            α = 0, every --every steps (what G_ema's warm-up per phase is for).
  analyse   a trained stylegan run: perceptual path length in Z and W (full and end-point, StyleGAN §4.1,
            in the digit classifier's features instead of VGG/LPIPS), style mixing read by the classifier,
            precision/recall against truncation ψ, and ψ = 0 against the image of w̄.
  fid       the curves' classifier-FID of saved runs or checkpoints (a `gankit train` run on two threads, say).
  mixing    style mixing alone: the coarse/rest mixes, every crossover layer, and the classifier's label floor.
  speed     training and sampling images/s of the StyleGAN nets through gankit's trainer against a plain
            eager loop of the same nets and the same step math (NS loss + R1, style mixing, EMA), side by
            side in one process (ratio = gankit time / plain time), at 32² and 64²; peak RSS.
  stream    stylegan at 64² on a folder of generated RGB JPEGs streamed from disk: memory over training.
  collapse  the stylegan collapse on mnist5k taken apart: a plain eager loop at 32² (no growing, no EMA) of a
            StyleGAN or ProGAN generator against the same ProgressiveDiscriminator, NS + R1 or WGAN-GP, with
            one setting changed at a time; every --every steps the digit classifier's labels of 500 samples
            of G (how many digits get ≥ 5 %, the largest share) and the pixel std over z (real digits: 0.264).
  onnx      export the full generator (mapping + truncation + synthesis, const noise) of a run and compare
            it with PyTorch in onnxruntime.

    python benchmarks/bench_progressive.py curves --variant stylegan --minutes 15 --keep runs-bench/stylegan
    python benchmarks/bench_progressive.py analyse runs-bench/stylegan
    python benchmarks/bench_progressive.py speed
    python benchmarks/bench_progressive.py onnx runs-bench/stylegan
    python benchmarks/bench_progressive.py collapse --G style --loss wgan --steps 1000
"""

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import torch
from bench_modes import split_variant

import gankit
from gankit.evaluate import Evaluator
from gankit.latents import slerp
from gankit.metrics.features import digit_features
from gankit.metrics.prdc import precision_recall
from gankit.nets.progressive import ProGANGenerator, ProgressiveDiscriminator, StyleGANGenerator
from gankit.objectives import drift_penalty, g_nonsaturating, gradient_penalty, r1_penalty
from gankit.objectives.adversarial import d_minimax, d_wasserstein, g_wasserstein
from gankit.train import Trainer
from gankit.train.optim import ema_copy, ema_update

FP32 = {"precision": "fp32", "tensorboard": False, "diagnostics": False, "log_every": 10**9,
        "sample_every": 10**9, "ckpt_every": 10**9}
PRESETS = {"progan": "cpu", "stylegan": "cpu", "dcgan": "demo"}


def emit(row: dict) -> None:
    print(json.dumps(row), flush=True)


# ------------------------------------------------------------------------------ curves

def mnist_run(variant: str, seed: int, resolution: int = 0, out: Path | None = None):
    """A variant (`recipe+key=value...`) on mnist5k at its preset, open-ended, fp32, no logging:
    (recipe, trainer, data)."""
    recipe, sets = split_variant(variant)
    data = gankit.load_dataset("mnist5k", resolution=resolution)
    overrides = {**FP32, "steps": 10**7, "seed": seed, **sets}
    rec, ds, _ = gankit.build(recipe, data, preset=PRESETS[recipe], overrides=overrides)
    return rec, Trainer(rec, ds, out, progress=False), data


def curve_fid(data, seed: int) -> Evaluator:
    """The curves' quality measure: classifier-FID of 2,000 samples (`fid` scores saved checkpoints by it too)."""
    return Evaluator(data, ["fid"], n=2000, seed=seed)


def curves(args) -> None:
    rec, trainer, data = mnist_run(args.variant, args.seed, args.resolution, args.keep)
    evaluator = curve_fid(data, args.seed)
    cpu_used, next_eval, points = 0.0, args.eval_every * 60, []
    start = time.perf_counter()
    while cpu_used < args.minutes * 60:
        t0 = time.process_time()
        trainer.train_step()
        cpu_used += time.process_time() - t0
        if cpu_used >= next_eval or cpu_used >= args.minutes * 60:
            fid = evaluator(rec, trainer.nets)["fid"]
            stage = rec.stage(trainer.step) if hasattr(rec, "stage") else None
            points.append({"cpu_minutes": round(cpu_used / 60, 2), "step": trainer.step, "fid": round(fid, 2),
                           "resolution": 4 * 2 ** stage.level if stage else data.spec.shape[-1]})
            print(json.dumps({"variant": args.variant, **points[-1]}), file=sys.stderr, flush=True)
            next_eval += args.eval_every * 60
            if args.keep:  # a checkpoint per point, so mixing and the rest can be scored along the curve
                trainer.save_checkpoint()
    emit({"benchmark": "progressive_curves", "variant": args.variant, "seed": args.seed,
          "data_resolution": data.spec.shape[-1], "threads":
          torch.get_num_threads(), "cpu_minutes": args.minutes, "wall_minutes": round((time.perf_counter() - start) / 60, 1),
          "points": points, "run": str(args.keep) if args.keep else None})


@torch.no_grad()
def digit_counts(extractor, images) -> torch.Tensor:
    """How many of the images the digit classifier labels as each digit 0-9."""
    return torch.bincount(extractor.extract(images, logits=True)[1].argmax(1), minlength=10)


@torch.no_grad()
def sample_stats(rec, nets, extractor, ema: bool, n: int = 500) -> dict:
    """What the samples look like beyond FID: mean pixel (mnist5k: -0.80), pixel std over z (0.296),
    and the digit classifier's most frequent label's share."""
    images = rec.sample(nets, n, torch.Generator().manual_seed(1), ema=ema)
    counts = digit_counts(extractor, images)
    return {"mean": round(images.mean().item(), 3), "pixel_std_over_z": round(images.std(0).mean().item(), 3),
            "top_label_share": round(counts.max().item() / n, 3)}


def fade(args) -> None:
    """Every --every steps of a growing run: classifier-FID (1,000 samples) of G and of G_ema at the live α
    and, during a fade-in, with α forced to 0 (the previous level's output alone); with --stats, also
    `sample_stats` of each."""
    rec, trainer, data = mnist_run(args.variant, args.seed)
    evaluator = Evaluator(data, ["fid"], n=1000, seed=args.seed)
    extractor = digit_features() if args.stats else None
    staged = [net for net in trainer.nets.values() if hasattr(net, "set_stage")]

    def score(row: dict, key: str, ema: bool) -> None:
        row[f"fid_{key}"] = round(evaluator(rec, trainer.nets, ema=ema)["fid"], 1)
        if extractor is not None:
            row[f"stats_{key}"] = sample_stats(rec, trainer.nets, extractor, ema)

    while trainer.step < args.steps:
        trainer.train_step()
        if trainer.step % args.every:
            continue
        stage = rec.stage(trainer.step - 1)
        row = {"variant": args.variant, "step": trainer.step, "resolution": 4 * 2 ** stage.level,
               "alpha": round(stage.alpha, 3)}
        for which, ema in (("G_ema", True), ("G", False)):
            score(row, which, ema)
            if stage.alpha < 1.0:
                for net in staged:
                    net.set_stage(stage.level, 0.0)
                score(row, f"{which}_alpha0", ema)
                for net in staged:
                    net.set_stage(stage.level, stage.alpha)
        emit(row)


# ------------------------------------------------------------------------------ analyse

@torch.no_grad()
def path_length(space, extractor, n: int, space_name: str, end: bool, eps: float = 1e-4, seed: int = 0) -> float:
    """Mean of d(img(t), img(t + ε)) / ε² over random pairs, d the squared L2 distance of the classifier's
    features, t ~ U(0, 1) (full) or t ∈ {0, 1} (end); slerp in Z, lerp in W; const noise."""
    g = torch.Generator().manual_seed(seed)
    z0, z1 = torch.randn(n, space.G.mapping.layers[0].weight.shape[1], generator=g), \
        torch.randn(n, space.G.mapping.layers[0].weight.shape[1], generator=g)
    t = (torch.rand(n, generator=g) > 0.5).float() if end else torch.rand(n, generator=g)
    if space_name == "z":
        a, b = slerp(z0, z1, t), slerp(z0, z1, (t + eps).clamp(max=1.0) if not end else t + eps * (1 - 2 * t))
        wa, wb = space.map(a), space.map(b)
    else:
        w0, w1 = space.map(z0), space.map(z1)
        t2 = t + eps * (1 - 2 * t) if end else t + eps
        wa, wb = torch.lerp(w0, w1, t.view(-1, 1)), torch.lerp(w0, w1, t2.view(-1, 1))
    fa, _ = extractor.extract(space.synthesize(space.broadcast(wa)))
    fb, _ = extractor.extract(space.synthesize(space.broadcast(wb)))
    d = (fa - fb).pow(2).sum(1) / eps ** 2
    lo, hi = torch.quantile(d, 0.01), torch.quantile(d, 0.99)  # the paper drops the 1% tails
    return float(d[(d >= lo) & (d <= hi)].mean())


@torch.no_grad()
def mixing_labels(space, extractor, pairs: int, seed: int = 1, psi: float = 1.0) -> dict:
    """How the classifier labels mixes: coarse styles (4²-8²) from A and the rest from B, and the reverse;
    and, for every crossover layer k, A's styles on layers [0, k) with B's on [k, num_ws). Shares are over
    the pairs whose digits differ (the only ones where A's label and B's can be told apart), and the
    coarse ones also over all pairs."""
    g = torch.Generator().manual_seed(seed)
    z_dim = space.G.mapping.layers[0].weight.shape[1]
    wa, wb = space.map(torch.randn(pairs, z_dim, generator=g)), space.map(torch.randn(pairs, z_dim, generator=g))
    wa, wb = torch.lerp(space.w_avg, wa, psi), torch.lerp(space.w_avg, wb, psi)   # ψ < 1: truncated sources
    ws_a, ws_b = space.broadcast(wa), space.broadcast(wb)
    start, end = space.layer_groups()["coarse"]

    def label(ws):
        return extractor.extract(space.synthesize(ws), logits=True)[1].argmax(1)

    la, lb = label(ws_a), label(ws_b)
    differ = la != lb
    coarse_a = ws_b.clone()
    coarse_a[:, start:end] = ws_a[:, start:end]       # A's coarse styles, B's middle and fine
    coarse_b = ws_a.clone()
    coarse_b[:, start:end] = ws_b[:, start:end]        # B's coarse styles, A's middle and fine
    l1, l2 = label(coarse_a), label(coarse_b)
    crossover = []                                     # A's styles below layer k, B's from k on
    for k in range(1, space.num_ws):
        mix = torch.cat([ws_a[:, :k], ws_b[:, k:]], 1)
        lk = label(mix)[differ]
        crossover.append({"A_layers": k, "labelled_A": round(float((lk == la[differ]).float().mean()), 4),
                          "labelled_B": round(float((lk == lb[differ]).float().mean()), 4)})
    return {"pairs": pairs, "pairs_with_different_digits": int(differ.sum()), "crossover": crossover,
            "coarse_from_A_labelled_A": round(float((l1 == la)[differ].float().mean()), 4),
            "coarse_from_A_labelled_B": round(float((l1 == lb)[differ].float().mean()), 4),
            "coarse_from_B_labelled_B": round(float((l2 == lb)[differ].float().mean()), 4),
            "coarse_from_B_labelled_A": round(float((l2 == la)[differ].float().mean()), 4),
            # the count taken literally, over all pairs (a same-digit pair counts if the mix keeps it)
            "all_pairs": {"coarse_from_A_labelled_A": round(float((l1 == la).float().mean()), 4),
                          "coarse_from_B_labelled_B": round(float((l2 == lb).float().mean()), 4)},
            "layers": {"coarse": [start, end], "num_ws": space.num_ws}}


@torch.no_grad()
def truncation_table(pipe, extractor, real_features, psis, n: int) -> list[dict]:
    rows = []
    for psi in psis:
        fake = pipe(n, seed=7, truncation=psi, noise="const").data
        f, _ = extractor.extract(fake)
        pr = precision_recall(real_features, f)
        rows.append({"psi": psi, "precision": round(float(pr["precision"]), 4), "recall": round(float(pr["recall"]), 4)})
    return rows


def analyse(args) -> None:
    pipe = gankit.load(args.run)
    space = pipe.recipe.style_space(pipe.nets)
    extractor = digit_features()
    data = gankit.load_dataset("mnist5k")
    real, _ = extractor.extract(data.all().x)
    ppl = {f"{name}_{kind}": round(path_length(space, extractor, args.n, name, kind == "end"), 3)
           for name in ("z", "w") for kind in ("full", "end")}
    zero = pipe(4, seed=3, truncation=0.0, cutoff=space.num_ws, noise="const").data
    of_avg = space.synthesize(space.broadcast(space.w_avg.unsqueeze(0)))
    emit({"benchmark": "stylegan_analysis", "run": str(args.run), "step": pipe.step, "ppl": ppl,
          "mixing": mixing_labels(space, extractor, args.pairs),
          "truncation": truncation_table(pipe, extractor, real, [1.0, 0.7, 0.5, 0.25, 0.0], args.n),
          "psi0_vs_w_avg_image_max_abs_diff": float((zero - of_avg).abs().max())})


@torch.no_grad()
def label_floor(space, extractor, n: int = 1000, seed: int = 1) -> dict:
    """How firm the classifier's labels of G's images are, the floor under the mixing shares: the share of
    images whose label survives redrawing the noise inputs (all, and one layer's at a time: which noise
    carries the digit), and the mean top softmax probability."""
    g = torch.Generator().manual_seed(seed)
    ws = space.broadcast(space.map(torch.randn(n, space.G.mapping.layers[0].weight.shape[1], generator=g)))
    logits = extractor.extract(space.synthesize(ws), logits=True)[1]
    labels = logits.argmax(1)
    torch.manual_seed(seed)
    redrawn = extractor.extract(space.synthesize(ws, "random"), logits=True)[1].argmax(1)
    const = [getattr(space.G.synthesis, f"noise_const_{i}").expand(n, -1, -1, -1) for i in range(space.num_ws)]
    per_layer = []                                     # one layer's noise redrawn, the others const
    for i in range(space.num_ws):
        maps = const[:i] + [torch.randn(const[i].shape, generator=g)] + const[i + 1:]
        kept = extractor.extract(space.synthesize(ws, maps), logits=True)[1].argmax(1) == labels
        per_layer.append(round(float(kept.float().mean()), 4))
    return {"label_kept_with_random_noise": round(float((labels == redrawn).float().mean()), 4),
            "label_kept_redrawing_one_layer": per_layer,
            "mean_top_probability": round(float(logits.softmax(1).amax(1).mean()), 4)}


def fid(args) -> None:
    """The curves' classifier-FID (2,000 samples, the same seed) of saved runs or checkpoints: points along a run
    trained by `gankit train` rather than by `curves` (one on two threads, say)."""
    evaluator = curve_fid(gankit.load_dataset("mnist5k"), args.seed)
    for path in args.checkpoints:
        pipe = gankit.load(path)
        emit({"benchmark": "checkpoint_fid", "checkpoint": str(path), "step": pipe.step,
              "fid": round(evaluator(pipe.recipe, pipe.nets)["fid"], 2)})


def mixing(args) -> None:
    pipe = gankit.load(args.run)
    space, extractor = pipe.recipe.style_space(pipe.nets), digit_features()
    emit({"benchmark": "stylegan_mixing", "run": str(args.run), "step": pipe.step, "floor": label_floor(space, extractor),
          **{f"psi_{psi:g}": mixing_labels(space, extractor, args.pairs, psi=psi) for psi in args.psi}})


# ------------------------------------------------------------------------------ speed

def plain_loop(G, D, G_ema, opt_g, opt_d, reals, z_dim: int, gamma: float = 10.0, loss: str = "ns"):
    """The same step as gankit's stylegan recipe, written out: D (NS loss + R1 on reals; `loss="wgan"`:
    progan's WGAN-GP λ 10 + drift), then G, then EMA (none without a G_ema)."""
    def d_loss(x, fake):
        if loss == "ns":
            return d_minimax(D(x), D(fake)) + (r1_penalty(D, x, gamma) if gamma else 0.0)
        d_real = D(x)
        return d_wasserstein(d_real, D(fake)) + 10 * gradient_penalty(D, x, fake) + drift_penalty(d_real, 1e-3)

    g_loss = g_nonsaturating if loss == "ns" else g_wasserstein

    def step(x):
        z = torch.randn(len(x), z_dim)
        with torch.no_grad():
            fake = G(z)
        D.requires_grad_(True)
        loss_d = d_loss(x, fake)
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()
        D.requires_grad_(False)
        loss_g = g_loss(D(G(torch.randn(len(x), z_dim))))
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        if G_ema is not None:
            ema_update(G_ema, G, 0.999)
    return step


def speed(args) -> None:
    rows = []
    for resolution in (32, 64):
        data = gankit.load_dataset("faces", resolution=resolution)
        sets = {**FP32, "progressive": False, "steps": 10**7, "reuse_fakes": False, "batch_size": 32}
        rec, ds, _ = gankit.build("stylegan", data, preset="cpu", overrides=sets)
        trainer = Trainer(rec, ds, None, progress=False)
        nets = rec.build_nets()
        G, D = nets["G"], nets["D"]
        G_ema = ema_copy(G)
        opt_g = torch.optim.Adam(G.parameters(), lr=1e-3, betas=(0.0, 0.99))
        opt_d = torch.optim.Adam(D.parameters(), lr=1e-3, betas=(0.0, 0.99))
        reals = ds.all().x[:32]
        plain = plain_loop(G, D, G_ema, opt_g, opt_d, reals, rec.cfg.z_dim)
        trainer.train_step(), plain(reals)            # warm-up
        times = {"gankit": [], "plain": []}
        for _ in range(args.repeats):                 # interleaved, so drift in machine load hits both
            t0 = time.perf_counter()
            trainer.train_step()
            times["gankit"].append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            plain(reals)
            times["plain"].append(time.perf_counter() - t0)
        med = {k: sorted(v)[len(v) // 2] for k, v in times.items()}
        t0 = time.perf_counter()
        rec.sample(trainer.nets, 256, generator=torch.Generator().manual_seed(0))
        sampling = 256 / (time.perf_counter() - t0)
        rows.append({"resolution": resolution, "batch": 32, "train_images_per_s_gankit": round(32 / med["gankit"], 1),
                     "train_images_per_s_plain": round(32 / med["plain"], 1),
                     "ratio_gankit_over_plain_time": round(med["gankit"] / med["plain"], 3),
                     "sample_images_per_s": round(sampling, 1),
                     "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)})
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    emit({"benchmark": "stylegan_speed", "threads": torch.get_num_threads(), "repeats": args.repeats,
          "note": "gankit's step also runs style mixing (p 0.9) and w_avg tracking; the plain loop calls the "
                  "same G, whose forward does both in training mode", "rows": rows})


# ------------------------------------------------------------------------------ stream

def rss_mib() -> float:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS")) / 1024


def stream(args) -> None:
    """stylegan at 64² from a folder of --images generated RGB JPEGs streamed from disk: RSS over the steps."""
    import numpy as np
    from PIL import Image

    folder = Path(args.root) / f"faces-{args.images}"
    if not folder.exists():
        folder.mkdir(parents=True)
        rng = np.random.default_rng(0)
        for i in range(args.images):  # smooth random blobs, 96x80, as JPEG
            base = rng.integers(0, 256, (6, 5, 3), dtype=np.uint8)
            Image.fromarray(base).resize((96, 80), Image.Resampling.BICUBIC).save(folder / f"{i:05d}.jpg", quality=90)
    sets = {**FP32, "steps": 10**7, "resolution": 64, "stream": "disk", "data_workers": 2, "batch_size": 16, "phase_images": 16 * args.steps // 12,
            "G.fmaps": 256, "G.fmap_max": 32, "D.fmaps": 256, "D.fmap_max": 32, "z_dim": 64, "w_dim": 64}
    rec, ds, _ = gankit.build("stylegan", f"folder:{folder}", preset="cpu", overrides=sets)
    trainer = Trainer(rec, ds, None, progress=False)
    trace = []
    for step in range(args.steps):
        trainer.train_step()
        if step % max(1, args.steps // 10) == 0 or step == args.steps - 1:
            trace.append({"step": step + 1, "resolution": 4 * 2 ** rec.stage(step).level, "rss_mib": round(rss_mib())})
            print(json.dumps(trace[-1]), file=sys.stderr, flush=True)
    emit({"benchmark": "stylegan_stream", "images": args.images, "resolution": 64, "stream": type(ds).__name__,
          "trace": trace, "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)})


# ------------------------------------------------------------------------------ onnx

def onnx(args) -> None:
    from gankit.export import export_pipeline

    pipe = gankit.load(args.run)
    out = {}
    for psi in (1.0, 0.7):
        path, diff = export_pipeline(pipe, "onnx", Path(args.run) / "export" / f"stylegan_psi{psi}.onnx",
                                     truncation=psi)
        out[f"psi_{psi}"] = {"file": str(path), "max_abs_diff": diff}
    emit({"benchmark": "stylegan_onnx", "run": str(args.run), **out})


# ------------------------------------------------------------------------------ collapse

def collapse(args) -> None:
    torch.manual_seed(args.seed)
    reals, z_dim, batch = gankit.load_dataset("mnist5k").all().x, 128, args.batch
    if args.G == "style":
        G = StyleGANGenerator(z_dim, 128, 32, 1, args.fmaps, args.fmap_max, args.mapping_depth, args.mapping_lr_mul,
                              args.mixing_prob, demodulate=args.demodulate, style_shift=not args.no_shift)
    else:
        G = ProGANGenerator(z_dim, 32, 1, args.fmaps, args.fmap_max)
    D = ProgressiveDiscriminator(32, 1, 1024, 64, args.mbstd_group, blur=True)
    opt_g, opt_d = (torch.optim.Adam(net.parameters(), lr=args.lr, betas=(0.0, 0.99)) for net in (G, D))
    train_step = plain_loop(G, D, None, opt_g, opt_d, reals, z_dim, args.gamma, args.loss)
    extractor, start = digit_features(), time.process_time()
    for step in range(1, args.steps + 1):
        train_step(reals[torch.randint(len(reals), (batch,))])
        if step % args.every == 0:
            G.eval()
            with torch.no_grad():
                images = G(torch.randn(500, z_dim, generator=torch.Generator().manual_seed(1))).clamp(-1, 1)
            G.train()
            counts = digit_counts(extractor, images)
            emit({"benchmark": "stylegan_collapse", "G": args.G, "loss": args.loss, "gamma": args.gamma,
                  "mixing_prob": args.mixing_prob, "mapping_lr_mul": args.mapping_lr_mul, "lr": args.lr,
                  "mapping_depth": args.mapping_depth, "batch": args.batch, "mbstd_group": args.mbstd_group,
                  "demodulate": args.demodulate, "style_shift": not args.no_shift, "G_fmaps": args.fmaps,
                  "G_fmap_max": args.fmap_max, "step": step,
                  "cpu_minutes": round((time.process_time() - start) / 60, 2),
                  "digits_over_5pct": int((counts >= 25).sum()), "largest_share": round(counts.max().item() / 500, 3),
                  "pixel_std_over_z": round(images.std(0).mean().item(), 3)})


def main(argv=None) -> int:
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="command", required=True)
    c = sub.add_parser("curves")
    c.add_argument("--variant", required=True)
    c.add_argument("--minutes", type=float, default=15.0)
    c.add_argument("--eval-every", type=float, default=2.5)
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--keep", type=Path, default=None,
                   help="run folder for a checkpoint at every evaluation point (variant +keep_ckpts=N keeps N)")
    c.add_argument("--resolution", type=int, default=0, choices=(0, 32, 64, 128),
                   help="mnist5k resized to this side (0: its own 32²); the classifier-FID resizes to its 32²")
    a = sub.add_parser("analyse")
    a.add_argument("run", type=Path)
    a.add_argument("--n", type=int, default=2000)
    a.add_argument("--pairs", type=int, default=1000)
    f = sub.add_parser("fade")
    f.add_argument("--variant", default="progan")
    f.add_argument("--steps", type=int, default=1250)
    f.add_argument("--every", type=int, default=125)
    f.add_argument("--seed", type=int, default=0)
    f.add_argument("--stats", action="store_true", help="also each sample's mean pixel, pixel std over z and top "
                                                        "label share")
    q = sub.add_parser("fid")
    q.add_argument("checkpoints", type=Path, nargs="+")
    q.add_argument("--seed", type=int, default=0)
    x = sub.add_parser("mixing")
    x.add_argument("run", type=Path)
    x.add_argument("--pairs", type=int, default=1000)
    x.add_argument("--psi", type=float, nargs="+", default=[1.0], help="truncate both sources' w first")
    s = sub.add_parser("speed")
    s.add_argument("--repeats", type=int, default=10)
    m = sub.add_parser("stream")
    m.add_argument("--images", type=int, default=3000)
    m.add_argument("--steps", type=int, default=240)
    m.add_argument("--root", default="/tmp/gankit-progressive-bench")
    k = sub.add_parser("collapse")
    k.add_argument("--G", choices=("style", "pro"), default="style")
    k.add_argument("--loss", choices=("ns", "wgan"), default="ns", help="ns: NS + R1 γ; wgan: WGAN-GP λ 10 + drift")
    k.add_argument("--gamma", type=float, default=10.0)
    k.add_argument("--mixing-prob", type=float, default=0.9)
    k.add_argument("--mapping-lr-mul", type=float, default=0.01)
    k.add_argument("--mapping-depth", type=int, default=8, help="dense layers of the mapping net (paper 8)")
    k.add_argument("--batch", type=int, default=32)
    k.add_argument("--mbstd-group", type=int, default=4, help="D's minibatch stddev group (paper 4; 0 = off)")
    k.add_argument("--demodulate", action="store_true")
    k.add_argument("--no-shift", action="store_true", help="AdaIN without its shift y_b (stylegan style_shift=false)")
    k.add_argument("--lr", type=float, default=1e-3)
    k.add_argument("--fmaps", type=int, default=1024, help="G's width (the cpu preset: 1024, at most 64 maps)")
    k.add_argument("--fmap-max", type=int, default=64)
    k.add_argument("--steps", type=int, default=1500)
    k.add_argument("--every", type=int, default=100)
    k.add_argument("--seed", type=int, default=0)
    o = sub.add_parser("onnx")
    o.add_argument("run", type=Path)
    args = p.parse_args(argv)
    if args.command == "fade" and min(args.steps, args.every) < 1:
        p.error(f"fade: --steps and --every must be at least 1 (got {args.steps}, {args.every})")
    if args.command == "mixing" and not all(0.0 <= psi <= 1.0 for psi in args.psi):
        p.error(f"mixing: --psi values must lie in [0, 1] (got {args.psi})")
    try:
        {"curves": curves, "fade": fade, "analyse": analyse, "fid": fid, "mixing": mixing, "speed": speed,
         "stream": stream, "onnx": onnx, "collapse": collapse}[args.command](args)
    except gankit.GankitError as e:  # a missing run folder, a bad --variant setting: one line, not a traceback
        raise SystemExit(f"bench_progressive {args.command}: {e}") from None
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
