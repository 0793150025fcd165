"""Does RadialGAN's augmentation help a small hospital's predictive model? Prints JSON.

    pip install ctgan   # optional baseline, benchmark only (installs beside the pinned torch)
    python benchmarks/bench_radialgan.py [--reps 5] [--steps 3000]

Protocol on the bundled hospitals (gankit/data/hospitals.py), per repetition r (seed r):
* every hospital's rows split 64/16/20 into train/validation/test (stratified by the label);
* `radialgan` trained on the three train splits only;
* per target hospital, two scikit-learn models (logistic regression; gradient-boosted trees), each trained on
  (1) the target's train split only, (2) + every other hospital's train rows translated by RadialGAN,
  (3) + naive pooling: the other hospitals' rows in the target's columns (shared columns kept, the target's
  other columns at its mean / most frequent category), (4) + as many CTGAN samples fitted on the target's
  train split alone (when the ctgan package is installed); hyper-parameters chosen on the target's
  validation split only (never on test: the official code's flaw); AUROC and AUPRC on the test split.
Then mean ± std over repetitions and the paired difference to target-only. Also, for repetition 0: the
fidelity of translations into the smallest hospital (per-column Wasserstein distance in units of the real
column's std, total variation for categories, correlation-matrix difference, a real-vs-synthetic classifier's
AUROC), distance to the closest real record, and the cost in seconds per 1,000 iterations for 3 and 10 domains.
"""

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gankit.data.hospitals import LABEL, hospital_tables  # noqa: E402
from gankit.data.tables import Schema, datasets_from_tables  # noqa: E402
from gankit.recipes import get_recipe, resolve_config  # noqa: E402
from gankit.train import Trainer  # noqa: E402
from gankit.train.precision import cpu_info  # noqa: E402

POSITIVE = "malignant"


def split(rows, seed):
    from sklearn.model_selection import train_test_split

    labels = [r[LABEL] for r in rows]
    train, rest = train_test_split(rows, test_size=0.36, random_state=seed, stratify=labels)
    val, test = train_test_split(rest, test_size=20 / 36, random_state=seed, stratify=[r[LABEL] for r in rest])
    return train, val, test


def train_radialgan(tables, steps, seed, batch=64):
    data = datasets_from_tables(tables, LABEL)
    cls = get_recipe("radialgan")
    cfg, _ = resolve_config(cls, "table", "fast", {"steps": steps, "seed": seed, "batch_size": batch,
                                                    "tensorboard": False})
    recipe = cls(cfg, {k: d.spec for k, d in data.items()})
    trainer = Trainer(recipe, data, progress=False)
    start = time.perf_counter()
    for _ in range(steps):
        trainer.train_step()
    for net in trainer.nets.values():
        net.eval()
    return recipe, trainer.nets, data, time.perf_counter() - start


def encode(schema: Schema, rows, fill=None):
    """Rows in `schema`'s columns; absent columns filled from `fill` (the target's means / modes)."""
    if fill:
        rows = [{**fill, **{k: v for k, v in r.items() if k in fill or k == LABEL}} for r in rows]
    x = schema.encode(rows, "bench").numpy()
    y = np.array([r[LABEL] == POSITIVE for r in rows], dtype=int)
    return x, y


def fill_values(schema: Schema, rows):
    out = {}
    for c in schema.columns:
        values = [r[c.name] for r in rows if r[c.name] != ""]
        if c.kind == "numeric":
            out[c.name] = f"{np.mean([float(v) for v in values]):.6g}"
        else:
            out[c.name] = max(set(values), key=values.count)
    return out


def models():
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression

    return {
        "logistic": [lambda C=C: LogisticRegression(C=C, max_iter=2000) for C in (0.01, 0.1, 1.0, 10.0)],
        "boosted_trees": [lambda d=d, lr=lr: GradientBoostingClassifier(max_depth=d, learning_rate=lr, random_state=0)
                          for d in (2, 3) for lr in (0.05, 0.1)],
    }


def score(factories, train, val, test):
    """Fit every candidate on train, keep the best validation AUROC, report test AUROC and AUPRC."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    best = None
    for make in factories:
        model = make().fit(*train)
        auc = roc_auc_score(val[1], model.predict_proba(val[0])[:, 1])
        if best is None or auc > best[0]:
            best = (auc, model)
    p = best[1].predict_proba(test[0])[:, 1]
    return {"auroc": roc_auc_score(test[1], p), "auprc": average_precision_score(test[1], p)}


def ctgan_rows(schema, rows, n, seed):
    try:
        from ctgan import CTGAN
    except ImportError:
        return None
    import pandas as pd

    frame = pd.DataFrame(rows)
    for c in schema.columns:
        if c.kind == "numeric":
            frame[c.name] = pd.to_numeric(frame[c.name], errors="coerce")
    frame = frame.fillna(frame.mean(numeric_only=True))
    discrete = [c.name for c in schema.columns if c.kind == "categorical"] + [LABEL]
    torch.manual_seed(seed)
    model = CTGAN(epochs=300, verbose=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(frame, discrete)
    out = model.sample(n)
    return [{k: (f"{v:.6g}" if isinstance(v, float) else str(v)) for k, v in r.items()} for r in out.to_dict("records")]


def translated(recipe, nets, data, target):
    schema = recipe.schema(target)
    t = recipe.domains.index(target)
    xs, ys = [], []
    with torch.no_grad():
        for j, other in enumerate(recipe.domains):
            if other != target:
                d = data[other]
                xs.append(recipe.translate_with(nets, d.x, d.y, j, t))
                ys.append(d.y)
    x, y = torch.cat(xs), torch.cat(ys)
    rows = schema.decode(x)
    for r, label in zip(rows, y.tolist()):
        r[LABEL] = schema.classes[label]
    return rows


def one_repetition(rep, steps):
    tables = hospital_tables()
    splits = {h: split(rows, rep) for h, (_, _, rows) in tables.items()}
    train_tables = {h: (w, header, splits[h][0]) for h, (w, header, _) in tables.items()}
    recipe, nets, data, seconds = train_radialgan(train_tables, steps, rep)
    result = {"train_seconds": seconds, "targets": {}}
    for target in recipe.domains:
        schema = recipe.schema(target)
        train, val, test = splits[target]
        base = encode(schema, train)
        val_xy, test_xy = encode(schema, val), encode(schema, test)
        fill = fill_values(schema, train)
        extra = {"radialgan": encode(schema, translated(recipe, nets, data, target)),
                 "pooling": encode(schema, [r for h in recipe.domains if h != target for r in splits[h][0]], fill)}
        synthetic = ctgan_rows(schema, train, len(extra["radialgan"][0]), rep)
        if synthetic is not None:
            extra["ctgan"] = encode(schema, synthetic)
        row = {}
        for model, factories in models().items():
            row[model] = {"target_only": score(factories, base, val_xy, test_xy)}
            for method, (x, y) in extra.items():
                both = (np.concatenate([base[0], x]), np.concatenate([base[1], y]))
                row[model][method] = score(factories, both, val_xy, test_xy)
        result["targets"][target] = row
        print(json.dumps({"rep": rep, "target": target, **row}), file=sys.stderr)
    return result, (recipe, nets, data, splits)


def summary(reps):
    out = {}
    first = reps[0]["targets"]
    for target, by_model in first.items():
        for model, by_method in by_model.items():
            for method in by_method:
                for metric in ("auroc", "auprc"):
                    values = np.array([r["targets"][target][model][method][metric] for r in reps])
                    base = np.array([r["targets"][target][model]["target_only"][metric] for r in reps])
                    key = f"{target}/{model}/{method}/{metric}"
                    out[key] = {"mean": values.mean(), "std": values.std(ddof=1) if len(values) > 1 else 0.0}
                    if method != "target_only":
                        diff = values - base
                        out[key]["minus_target_only"] = {"mean": diff.mean(),
                                                         "std": diff.std(ddof=1) if len(diff) > 1 else 0.0}
    return out


def fidelity(recipe, nets, data, splits, target="small"):
    """Translations into `target` against all its real rows; closest-record distances against its train rows,
    beside those of its real test rows (which the GAN never saw)."""
    from gankit.metrics.tables import closest_record_distances, fidelity as table_fidelity

    schema = recipe.schema(target)
    fake = translated(recipe, nets, data, target)
    real = splits[target][0] + splits[target][1] + splits[target][2]
    xr, _ = encode(schema, real)
    xf, _ = encode(schema, fake)
    out = table_fidelity(schema, real, fake, xr, xf)
    train_x, _ = encode(schema, splits[target][0])
    holdout_x, _ = encode(schema, splits[target][2])
    out["distance_to_closest_train_record"] = {
        "synthetic_median": float(np.median(closest_record_distances(xf, train_x))),
        "real_holdout_median": float(np.median(closest_record_distances(holdout_x, train_x)))}
    return {"target": target, "translated_rows": len(fake), "real_rows": len(real), **out}


def cost(steps=300):
    """Seconds per 1,000 iterations (batch 64) for the 3 hospitals and for 10 domains cut from the same table."""
    out = {}
    three = hospital_tables()
    _, _, _, seconds = train_radialgan(three, steps, 0)
    out["3_domains"] = 1000 * seconds / steps
    _, header, _ = three["large"]
    rows = [r for _, _, rs in three.values() for r in rs]
    rng = np.random.default_rng(0)
    features = sorted({c for _, h, _ in three.values() for c in h if c != LABEL} - {"texture grade"})
    ten = {}
    for i in range(10):
        cols = list(rng.choice(features, size=12, replace=False)) + ["mean radius"]
        part = [{c: r.get(c, "") or "0" for c in cols} | {LABEL: r[LABEL]} for r in rows[i::10]]
        ten[f"d{i}"] = (f"d{i}", sorted(set(cols)) + [LABEL], part)
    _, _, _, seconds = train_radialgan(ten, steps, 0)
    out["10_domains"] = 1000 * seconds / steps
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--fidelity-and-cost-only", action="store_true",
                   help="skip the utility protocol: train repetition 0, report fidelity and cost")
    args = p.parse_args()
    if args.fidelity_and_cost_only:
        tables = hospital_tables()
        splits = {h: split(rows, 0) for h, (_, _, rows) in tables.items()}
        recipe, nets, data, seconds = train_radialgan({h: (w, hd, splits[h][0]) for h, (w, hd, _) in tables.items()},
                                                      args.steps, 0)
        print(json.dumps({"cpu": cpu_info(), "threads": torch.get_num_threads(), "steps": args.steps,
                          "train_seconds": seconds, "fidelity": fidelity(recipe, nets, data, splits),
                          "seconds_per_1000_iterations": cost()}, indent=2, default=float))
        return
    torch.set_num_threads(torch.get_num_threads())
    reps, first = [], None
    for rep in range(args.reps):
        result, parts = one_repetition(rep, args.steps)
        reps.append(result)
        first = first or parts
    try:
        import ctgan  # noqa: F401
        have_ctgan = True
    except ImportError:
        have_ctgan = False
    print(json.dumps({"cpu": cpu_info(), "threads": torch.get_num_threads(), "steps": args.steps, "reps": args.reps,
                      "ctgan": have_ctgan, "summary": summary(reps), "fidelity": fidelity(*first),
                      "seconds_per_1000_iterations": cost(), "repetitions": reps}, indent=2, default=float))


if __name__ == "__main__":
    main()
