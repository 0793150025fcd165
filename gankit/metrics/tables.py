"""Fidelity of synthetic table rows to real ones (used by `gankit eval` on radialgan runs, `gankit demo
tables` and benchmarks/bench_radialgan.py).

* per numeric column: Wasserstein-1 distance between real and synthetic values, in units of the real
  column's standard deviation (0 = same distribution);
* per categorical column: total variation distance between the category frequencies (0 = same, 1 = disjoint);
* correlation structure: mean absolute difference of the numeric columns' correlation matrices;
* detectability: cross-validated AUROC of a gradient-boosted classifier told to separate real from
  synthetic rows (0.5 = indistinguishable, 1 = always told apart);
* privacy sanity: distance from each synthetic row to its closest real training row, beside the same
  distance for real rows the model never saw (a synthetic median far below the holdout's means copying).
"""

import numpy as np

from ..data.tables import Schema


def _numbers(rows: list[dict], name: str) -> np.ndarray:
    return np.array([float(r[name]) for r in rows if r[name] != ""])


def column_fidelity(schema: Schema, real: list[dict], fake: list[dict]) -> dict[str, dict]:
    from scipy.stats import wasserstein_distance

    out = {}
    for c in schema.columns:
        if c.kind == "numeric":
            r, f = _numbers(real, c.name), _numbers(fake, c.name)
            out[c.name] = {"wasserstein_in_std": float(wasserstein_distance(r, f) / (r.std() or 1.0))}
        else:
            pr = np.array([sum(x[c.name] == k for x in real) for k in c.categories]) / len(real)
            pf = np.array([sum(x[c.name] == k for x in fake) for k in c.categories]) / len(fake)
            out[c.name] = {"total_variation": float(0.5 * np.abs(pr - pf).sum())}
    return out


def correlation_difference(schema: Schema, real: list[dict], fake: list[dict]) -> float:
    names = [c.name for c in schema.columns if c.kind == "numeric"]
    if len(names) < 2:
        return 0.0

    def corr(rows):
        m = np.array([[float(x[n]) if x[n] != "" else np.nan for n in names] for x in rows])
        m = np.where(np.isnan(m), np.nanmean(m, 0), m)
        return np.nan_to_num(np.corrcoef(m.T))

    return float(np.abs(corr(real) - corr(fake)).mean())


def detectability_auroc(x_real: np.ndarray, x_fake: np.ndarray, folds: int = 5) -> float:
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    x = np.concatenate([x_real, x_fake])
    y = np.r_[np.zeros(len(x_real)), np.ones(len(x_fake))]
    folds = max(2, min(folds, len(x_real), len(x_fake)))
    cv = StratifiedKFold(folds, shuffle=True, random_state=0)
    return float(cross_val_score(GradientBoostingClassifier(random_state=0), x, y, cv=cv, scoring="roc_auc").mean())


def closest_record_distances(x: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Euclidean distance from each row of x to its nearest row of `reference` (encoded, standardised space)."""
    return np.sqrt(((x[:, None, :] - reference[None]) ** 2).sum(-1)).min(1)


def fidelity(schema: Schema, real: list[dict], fake: list[dict], x_real: np.ndarray, x_fake: np.ndarray) -> dict:
    columns = column_fidelity(schema, real, fake)
    numeric = [v["wasserstein_in_std"] for v in columns.values() if "wasserstein_in_std" in v]
    categorical = [v["total_variation"] for v in columns.values() if "total_variation" in v]
    distances = closest_record_distances(x_fake, x_real)
    return {"mean_wasserstein_in_std": float(np.mean(numeric)) if numeric else None,
            "mean_total_variation": float(np.mean(categorical)) if categorical else None,
            "correlation_mean_abs_difference": correlation_difference(schema, real, fake),
            "real_vs_synthetic_auroc": detectability_auroc(x_real, x_fake),
            "closest_record_median": float(np.median(distances)),
            "exact_copies": int((distances < 1e-6).sum()),
            "per_column": columns}
