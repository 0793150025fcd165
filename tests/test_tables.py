"""Tables for RadialGAN: reading CSV files (BOM, delimiters, quoted newlines), schemas that round-trip the
user's columns, bad input, the radialgan recipe's cycle term and label conditioning, and translate/augment
end to end through the CLI."""

import csv
from types import SimpleNamespace

import pytest
import torch

import gankit
from gankit.cli import main
from gankit.data import load_dataset
from gankit.data.base import Batch
from gankit.data.tables import Schema, load_tables, read_csv
from gankit.recipes import resolve_config


def write(path, text, encoding="utf-8"):
    path.write_text(text, encoding=encoding)
    return path


def hospital_csvs(tmp_path, rows=40):
    """Three small domains: a and b share `age`, b and c share `bp`, a and c share `smoker`."""
    g = torch.Generator().manual_seed(0)
    files = {}
    for name, columns in (("a", ["age", "weight", "smoker"]), ("b", ["age", "bp", "chol"]),
                          ("c", ["bp", "smoker", "glucose"])):
        lines = [",".join(columns + ["outcome"])]
        for i in range(rows):
            values = []
            for c in columns:
                if c == "smoker":
                    values.append(["yes", "no", "former"][int(torch.randint(0, 3, (1,), generator=g))])
                else:
                    values.append(f"{50 + 10 * torch.randn(1, generator=g).item():.3f}")
            values.append("sick" if i % 3 == 0 else "well")
            lines.append(",".join(values))
        files[name] = write(tmp_path / f"{name}.csv", "\n".join(lines) + "\n")
    return files


def test_csv_with_bom_semicolons_and_quoted_newlines(tmp_path):
    path = write(tmp_path / "t.csv", '\ufeffage;note;outcome\n41;"two\nlines";yes\n39;plain;no\n', "utf-8")
    header, rows = read_csv(path)
    assert header == ["age", "note", "outcome"] and rows[0]["note"] == "two\nlines" and rows[1]["age"] == "39"


def test_schema_round_trips_values_categories_and_missing_cells(tmp_path):
    files = hospital_csvs(tmp_path)
    text = files["a"].read_text().splitlines()
    text[3] = ",".join(["", *text[3].split(",")[1:]])  # one missing age
    write(files["a"], "\n".join(text) + "\n")
    data = load_tables(f"{files['a']},{files['b']}", "outcome")
    schema = Schema.from_json(data["a"].spec.meta["schema"])
    age = schema.columns[0]
    assert age.kind == "numeric" and age.missing_flag and schema.columns[2].categories == ["former", "no", "yes"]
    decoded = schema.decode(data["a"].x)
    _, rows = read_csv(files["a"])
    assert decoded[2]["age"] == "" and decoded[0]["smoker"] == rows[0]["smoker"]
    assert float(decoded[1]["weight"]) == pytest.approx(float(rows[1]["weight"]), rel=1e-5)
    assert data["a"].spec.class_names == ("sick", "well") and data["b"].spec.num_classes == 2


@pytest.mark.parametrize("change, message", [
    (lambda t: t.replace(",outcome\n", ",result\n", 1), "no label column 'outcome'"),
    (lambda t: t.replace("sick", "well"), "every row has the label 'well'"),
    (lambda t: t.replace("\n5", "\nfive", 1), "is not a number (the column's other values are numbers)"),
    (lambda t: t + "1,2\n", "has 2 fields, the header has 4"),
])
def test_bad_tables_are_one_line_errors_naming_the_file(tmp_path, capsys, change, message):
    files = hospital_csvs(tmp_path)
    write(files["b"], change(files["b"].read_text()))
    code = main(["train", "radialgan", "--data", f"tables:{files['a']},{files['b']}", "--set", "label=outcome",
                 "--preset", "smoke", "--out", str(tmp_path / "runs")])
    err = capsys.readouterr().err
    assert code == 2 and message in err and "b.csv" in err and err.count("\n") == 1, err
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_constant_and_empty_columns_are_dropped_with_a_warning(tmp_path, capsys):
    files = hospital_csvs(tmp_path)
    lines = files["a"].read_text().splitlines()
    lines = [lines[0] + ",site,empty"] + [line + ",north," for line in lines[1:]]
    write(files["a"], "\n".join(lines) + "\n")
    data = load_tables(f"{files['a']},{files['b']}", "outcome")
    assert Schema.from_json(data["a"].spec.meta["schema"]).names() == ["age", "weight", "smoker"]
    err = capsys.readouterr().err
    assert "'site' is constant" in err and "'empty' is empty in every row" in err


def test_domains_without_a_shared_column_and_one_file_with_a_domain_column(tmp_path):
    files = hospital_csvs(tmp_path)
    write(tmp_path / "d.csv", "x,outcome\n1,sick\n2,well\n3,well\n")
    with pytest.raises(gankit.GankitError, match="share no feature column"):
        load_tables(f"{files['a']},{tmp_path / 'd.csv'}", "outcome")
    one = write(tmp_path / "all.csv", "site,age,outcome\nn,1,sick\nn,2,well\ns,3,sick\ns,5,well\n")
    data = load_tables(str(one), "outcome", domain="site")
    assert list(data) == ["n", "s"] and data["s"].x.shape == (2, 1)
    with pytest.raises(gankit.GankitError, match="label column"):
        load_tables(str(one), "")


def test_bundled_hospitals_differ_in_size_columns_and_patients():
    data = load_dataset("hospitals")
    assert {k: len(v) for k, v in data.items()} == {"small": 60, "medium": 150, "large": 300}
    names = {k: set(Schema.from_json(v.spec.meta["schema"]).names()) for k, v in data.items()}
    assert all(names[a] & names[b] and names[a] != names[b] for a in names for b in names if a != b)
    malignant = {k: (v.y == v.spec.class_names.index("malignant")).float().mean().item() for k, v in data.items()}
    assert malignant["small"] > malignant["medium"] > malignant["large"]  # the covariate shift


# ------------------------------------------------------------------ the recipe


def recipe_on(files, **overrides):
    data = load_tables(",".join(str(f) for f in files.values()), "outcome")
    cls = gankit.get_recipe("radialgan")
    cfg, _ = resolve_config(cls, "table", "smoke", overrides)
    return cls(cfg, {k: d.spec for k, d in data.items()}), data


class Context(SimpleNamespace):
    """The step context a phase's loss sees, over fixed batches (no trainer)."""

    def real(self, source=None, n=None):
        return self.batches[source]

    def report(self, name, value):
        self.reported[name] = float(torch.as_tensor(value).detach())


def test_generator_loss_adds_alpha_times_the_reported_cycle_term(tmp_path):
    files = hospital_csvs(tmp_path)
    losses = {}
    for alpha in (0.0, 2.0):
        recipe, data = recipe_on(files, alpha=alpha)
        torch.manual_seed(0)
        nets = recipe.build_nets()
        ctx = Context(nets=nets, batches={k: Batch(d.x[:16], d.y[:16]) for k, d in data.items()}, reported={})
        losses[alpha] = (recipe.g_loss(ctx).item(), ctx.reported)
    cycle = losses[0.0][1]["loss/cycle"]
    assert cycle > 0 and losses[2.0][1]["loss/cycle"] == pytest.approx(cycle)
    assert losses[2.0][0] - losses[0.0][0] == pytest.approx(2.0 * cycle * 3, rel=1e-5)


def test_translations_depend_on_the_label(tmp_path):
    files = hospital_csvs(tmp_path)
    recipe, data = recipe_on(files)
    nets = recipe.build_nets()
    x, y = data["b"].x[:8], data["b"].y[:8]
    a = recipe.sample(nets, 8, condition={"x": x, "y": y, "source": "b"}, domain="a")
    b = recipe.sample(nets, 8, condition={"x": x, "y": 1 - y, "source": "b"}, domain="a")
    assert a.shape == (8, data["a"].x.shape[1]) and not torch.allclose(a, b)
    D = nets["D0"]
    assert not torch.allclose(D(data["a"].x[:8], data["a"].y[:8]), D(data["a"].x[:8], 1 - data["a"].y[:8]))


def test_train_translate_augment_and_resume_through_the_cli(tmp_path, capsys):
    files = hospital_csvs(tmp_path)
    data = f"tables:{files['a']},{files['b']},{files['c']}"
    assert main(["train", "radialgan", "--data", data, "--set", "label=outcome", "--preset", "smoke",
                 "--steps", "20", "--set", "ckpt_every=10", "--out", str(tmp_path / "runs"), "--no-progress"]) == 0
    run = next((tmp_path / "runs").iterdir())
    out = tmp_path / "b_as_a.csv"
    assert main(["translate", str(run), "--from", str(files["b"]), "--to", "a", "--out", str(out)]) == 0
    with open(out) as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["age", "weight", "smoker", "outcome"] and len(rows) == 40
    assert {r["smoker"] for r in rows} <= {"yes", "no", "former"} and {r["outcome"] for r in rows} <= {"sick", "well"}
    aug = tmp_path / "a_aug.csv"
    assert main(["augment", str(run), "--domain", "a", "--n", "100", "--out", str(aug)]) == 0
    with open(aug) as f:
        rows = list(csv.DictReader(f))
    assert sum(r["synthetic"] == "1" for r in rows) == 100 and sum(r["synthetic"] == "0" for r in rows) == 40
    assert {r["source"] for r in rows if r["synthetic"] == "1"} == {"b", "c"}
    capsys.readouterr()
    bad = write(tmp_path / "b2.csv", files["b"].read_text().replace("\n", "\n", 1))
    lines = bad.read_text().splitlines()
    lines[1] = lines[1].rsplit(",", 1)[0] + ",unknown"
    write(bad, "\n".join(lines) + "\n")
    assert main(["translate", str(run), "--from", str(bad), "--source", "b", "--to", "a",
                 "--out", str(tmp_path / "x.csv")]) == 2
    assert "label 'unknown' is not one of" in capsys.readouterr().err and not (tmp_path / "x.csv").exists()
    assert main(["train", "--resume", str(run), "--steps", "30", "--no-progress"]) == 0
    assert gankit.load(run).step == 30


def test_tables_demo_writes_inputs_and_the_augmented_table(tmp_path, capsys):
    from gankit import demo

    assert demo.run_demo("tables", out=tmp_path, progress=False, overrides={"steps": 30}) == 0
    run = next(tmp_path.iterdir())
    assert sorted(p.name for p in (run / "tables").iterdir()) == ["large.csv", "medium.csv", "small.csv"]
    with open(run / "small_augmented.csv") as f:
        rows = list(csv.DictReader(f))
    assert sum(r["synthetic"] == "0" for r in rows) == 60 and sum(r["synthetic"] == "1" for r in rows) == 450
    assert "mean Wasserstein distance" in capsys.readouterr().out


def test_eval_of_a_table_run_scores_translation_fidelity_per_domain(tmp_path, capsys):
    files = hospital_csvs(tmp_path)
    assert main(["train", "radialgan", "--data", f"tables:{files['a']},{files['b']}", "--set", "label=outcome",
                 "--preset", "smoke", "--set", "objective=wgan-gp", "--out", str(tmp_path / "runs"),
                 "--no-progress"]) == 0
    run = next((tmp_path / "runs").iterdir())
    capsys.readouterr()
    assert main(["eval", str(run), "--json"]) == 0
    import json

    scores = json.loads(capsys.readouterr().out)["metrics"]
    for domain in ("a", "b"):
        assert 0.0 <= scores[f"{domain}/real_vs_synthetic_auroc"] <= 1.0
        assert scores[f"{domain}/mean_wasserstein_in_std"] > 0 and scores[f"{domain}/exact_copies"] == 0
    assert scores["a/mean_total_variation"] >= 0  # a has the categorical column `smoker`


def test_parquet_tables_read_like_csv(tmp_path):
    import pandas as pd  # the `tables` extra, which `make test` installs

    files = hospital_csvs(tmp_path)
    pd.read_csv(files["a"]).to_parquet(tmp_path / "a.parquet")
    from_parquet = load_tables(f"{tmp_path / 'a.parquet'},{files['b']}", "outcome")
    from_csv = load_tables(f"{files['a']},{files['b']}", "outcome")
    assert torch.allclose(from_parquet["a"].x, from_csv["a"].x, atol=1e-5)
    (tmp_path / "bad.parquet").write_text("not parquet")
    with pytest.raises(gankit.GankitError, match="not a readable Parquet file"):
        load_tables(f"{tmp_path / 'bad.parquet'},{files['b']}", "outcome")


def test_unseen_category_is_an_error_naming_row_and_column(tmp_path):
    files = hospital_csvs(tmp_path)
    schema = Schema.from_json(load_tables(f"{files['a']},{files['b']}", "outcome")["a"].spec.meta["schema"])
    rows = [{"age": "50", "weight": "60", "smoker": "no"}, {"age": "50", "weight": "60", "smoker": "sometimes"}]
    with pytest.raises(gankit.GankitError, match=r"new.csv: row 3, column 'smoker': category 'sometimes' was not seen"):
        schema.encode(rows, "new.csv")
