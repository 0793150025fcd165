"""The bundled RadialGAN example: scikit-learn's breast-cancer table (569 patients, 30 measurements,
malignant/benign) split by a seeded script into three "hospitals" that record different, overlapping columns,
have different sizes and see different patients (covariate shift):

* `small` (60 rows): mean and worst texture, smoothness, compactness, symmetry and fractal dimension (no
  size measurement, so its own model has less to go on), and a categorical texture grade (low/mid/high,
  from mean texture tertiles); more large tumours (a referral centre);
* `medium` (150 rows): mean and standard-error measurements, the texture grade, 5% of `mean smoothness`
  missing;
* `large` (300 rows): standard-error and worst measurements plus mean radius and texture; more small tumours.

Every pair of hospitals shares columns. Rows are drawn without replacement, so no patient is in two
hospitals; the 59 patients left over are in none. `hospital_tables()` also serves the benchmark.
"""

import numpy as np

from .tables import datasets_from_tables

LABEL = "diagnosis"
SIZES = {"small": 60, "medium": 150, "large": 300}


def _columns(names: list[str]) -> dict[str, list[str]]:
    mean = [n for n in names if n.startswith("mean ")]
    error = [n for n in names if n.endswith(" error")]
    worst = [n for n in names if n.startswith("worst ")]
    return {
        # the small clinic records no size measurement: its own model has less to go on
        "small": [n for n in mean + worst if any(k in n for k in ("texture", "smoothness", "compactness",
                                                                       "symmetry", "fractal"))] + ["texture grade"],
        "medium": mean[:10] + error[:6] + ["texture grade"],
        "large": ["mean radius", "mean texture"] + error + worst,
    }


def hospital_tables(seed: int = 0) -> dict[str, tuple[str, list[str], list[dict]]]:
    """{hospital: (description, header, rows as text)} — what `load_tables` would read from three CSVs."""
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer()
    names = [str(n) for n in data.feature_names]
    x, y = data.data, data.target
    rng = np.random.default_rng(seed)
    radius = x[:, names.index("mean radius")]
    grade = np.digitize(x[:, names.index("mean texture")],
                        np.quantile(x[:, names.index("mean texture")], [1 / 3, 2 / 3]))
    z = (radius - radius.mean()) / radius.std()
    left = np.arange(len(x))
    tables = {}
    for hospital, tilt in (("small", 0.4), ("medium", 0.0), ("large", -0.7)):
        weights = np.exp(tilt * z[left])  # covariate shift: tumour size changes who comes to which hospital
        picked = rng.choice(left, size=SIZES[hospital], replace=False, p=weights / weights.sum())
        left = np.setdiff1d(left, picked)
        columns = _columns(names)[hospital]
        rows = []
        for i in picked:
            row = {c: f"{x[i, names.index(c)]:.6g}" for c in columns if c != "texture grade"}
            if "texture grade" in columns:
                row["texture grade"] = ("low", "mid", "high")[grade[i]]
            if hospital == "medium" and rng.random() < 0.05:
                row["mean smoothness"] = ""
            row[LABEL] = "benign" if y[i] == 1 else "malignant"
            rows.append(row)
        tables[hospital] = (f"hospitals:{hospital}", columns + [LABEL], rows)
    return tables


def hospitals(seed: int = 0):
    return datasets_from_tables(hospital_tables(seed), LABEL)
