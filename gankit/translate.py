"""Table translation with a trained `radialgan` run: records of one domain written as another domain's.

    gankit translate RUN --from b.csv --to a --out b_as_a.csv [--source b]
    gankit augment RUN --domain a --n 5000 --out a_augmented.csv [--seed S]

    rows = gankit.translate.translate(run, "b.csv", to="a")          # list of dicts in a's columns + label
    rows = gankit.translate.augment(run, "a", n=5000)                 # real a rows + translated rows

Outputs use the target domain's column names, units and categories (its schema, stored in the run) plus
the label column; `augment` adds `synthetic` (0 real, 1 translated) and `source` (the domain a row came
from). Files are written whole or not at all.
"""

from pathlib import Path

import torch

from .data.tables import Schema, read_table, write_csv
from .errors import GankitError
from .pipelines import RunPipeline


def radial_pipeline(run) -> RunPipeline:
    pipe = run if isinstance(run, RunPipeline) else RunPipeline.load(run)
    if pipe.recipe.name != "radialgan":
        raise GankitError(f"{pipe.path}: a {pipe.recipe.name} run; translate and augment need a radialgan run")
    return pipe


def encode_file(schema: Schema, path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """A CSV/Parquet file in `schema`'s columns (and its label) -> encoded rows and label indices."""
    header, rows = read_table(path)
    missing = [c for c in [*schema.names(), schema.label] if c not in header]
    if missing:
        raise GankitError(f"{path}: no column {missing[0]!r}; domain {schema.domain!r} records "
                          f"{', '.join([*schema.names(), schema.label])}")
    labels = []
    for number, row in enumerate(rows, start=2):
        value = row[schema.label].strip()
        if value not in schema.classes:
            raise GankitError(f"{path}: row {number}, column {schema.label!r}: label {value!r} is not one of "
                              f"{', '.join(schema.classes)}")
        labels.append(schema.classes.index(value))
    return schema.encode(rows, str(path)), torch.tensor(labels)


def translate(run, source_file: str | Path, to: str, source: str | None = None) -> list[dict]:
    pipe = radial_pipeline(run)
    recipe = pipe.recipe
    path = Path(source_file).expanduser()
    source = source or path.stem
    if source not in recipe.domains:
        raise GankitError(f"{path}: which domain is it? its name {source!r} is not one of "
                          f"{', '.join(recipe.domains)}: pass --source DOMAIN")
    recipe.domain_index(to)
    x, y = encode_file(recipe.schema(source), path)
    out = pipe(len(x), condition={"x": x, "y": y, "source": source}, domain=to, seed=0).data
    return labelled(recipe.schema(to), out, y)


def labelled(schema: Schema, x: torch.Tensor, y: torch.Tensor, **extra) -> list[dict]:
    rows = schema.decode(x)
    for row, label in zip(rows, y.tolist()):
        row[schema.label] = schema.classes[label]
        row.update(extra)
    return rows


def augment(run, domain: str, n: int | None = None, seed: int = 0) -> list[dict]:
    """The domain's training rows plus rows translated from every other domain's training rows (n of them,
    drawn with replacement when n exceeds what the other domains hold; all of them when n is None)."""
    from . import api

    pipe = radial_pipeline(run)
    recipe = pipe.recipe
    target = recipe.domains[recipe.domain_index(domain)]
    if pipe.path is None:
        raise GankitError("augment needs a run folder (it re-reads the run's tables)")
    folder = pipe.path if pipe.path.is_dir() else pipe.path.parent.parent
    info = api.Run(folder).info
    data = api.load_sources({"domains": info["data"]}, recipe.cfg)
    schema = recipe.schema(target)
    rows = labelled(schema, data[target].x, data[target].y, synthetic=0, source=target)
    pool = []
    for other in recipe.domains:
        if other == target:
            continue
        d = data[other]
        x = pipe(len(d.x), condition={"x": d.x, "y": d.y, "source": other}, domain=target, seed=seed).data
        pool += labelled(schema, x, d.y, synthetic=1, source=other)
    if n is not None:
        generator = torch.Generator().manual_seed(seed)
        pick = torch.randint(0, len(pool), (n,), generator=generator) if n > len(pool) else \
            torch.randperm(len(pool), generator=generator)[:n]
        pool = [pool[i] for i in pick.tolist()]
    return rows + pool


def add_parsers(sub) -> None:
    from .argtypes import nonnegative_int, positive_int

    t = sub.add_parser("translate", help="radialgan: write one domain's records as another domain's")
    t.add_argument("run", metavar="RUN")
    t.add_argument("--from", dest="source_file", required=True, metavar="FILE", help="records of a source domain")
    t.add_argument("--to", required=True, metavar="DOMAIN", help="the target domain")
    t.add_argument("--source", metavar="DOMAIN", help="the file's domain (default: its file name)")
    t.add_argument("--out", required=True, help="output .csv")

    a = sub.add_parser("augment", help="radialgan: a domain's rows plus rows translated from the other domains")
    a.add_argument("run", metavar="RUN")
    a.add_argument("--domain", required=True)
    a.add_argument("--n", type=positive_int, help="translated rows (default: every record of the other domains)")
    a.add_argument("--seed", type=nonnegative_int, default=0)
    a.add_argument("--out", required=True, help="output .csv")


def check_out(out: str) -> Path:
    path = Path(out)
    if path.suffix.lower() != ".csv":
        raise GankitError(f"--out {out}: tables are written as .csv")
    return path


def cmd_translate(args) -> int:
    out = check_out(args.out)
    rows = translate(args.run, args.source_file, args.to, args.source)
    pipe = radial_pipeline(args.run)
    schema = pipe.recipe.schema(pipe.recipe.domains[pipe.recipe.domain_index(args.to)])
    write_csv(out, [*schema.names(), schema.label], rows)
    print(f"wrote {out} ({len(rows)} records of {args.source_file} as domain {args.to!r})")
    return 0


def cmd_augment(args) -> int:
    out = check_out(args.out)
    rows = augment(args.run, args.domain, args.n, args.seed)
    schema = radial_pipeline(args.run).recipe.schema(args.domain)
    write_csv(out, [*schema.names(), schema.label, "synthetic", "source"], rows)
    real = sum(r["synthetic"] == 0 for r in rows)
    print(f"wrote {out} ({real} real and {len(rows) - real} translated records of domain {args.domain!r})")
    return 0


def run_tables_demo(out="runs", minutes: float | None = None, progress: bool = True, overrides: dict | None = None) -> int:
    """`gankit demo tables`: RadialGAN on the bundled hospitals, then the small hospital's augmented table.

    Writes the three hospitals' tables (inputs) and `small_augmented.csv` into the run folder, and prints how
    close the translated rows are to the small hospital's real ones (Wasserstein distance per numeric column,
    in units of its std). Whether augmentation helps a model is the benchmark's question (benchmarks §11)."""
    from . import api
    from .data.hospitals import hospital_tables
    from .log import info

    overrides = {**(overrides or {}), **({} if minutes is None else {"max_minutes": minutes})}
    info("gankit demo tables: RadialGAN on 3 bundled hospitals (breast-cancer records: 60 / 150 / 300 rows, "
         "different columns)")
    run = api.train("radialgan", "hospitals", preset="fast", overrides=overrides, out=out, progress=progress)
    for name, (_, header, rows) in hospital_tables().items():
        write_csv(run.path / "tables" / f"{name}.csv", header, rows)
    rows = augment(run.path, "small")
    schema = radial_pipeline(run.path).recipe.schema("small")
    path = write_csv(run.path / "small_augmented.csv", [*schema.names(), schema.label, "synthetic", "source"], rows)
    real = [r for r in rows if r["synthetic"] == 0]
    fake = [r for r in rows if r["synthetic"] == 1]
    from .metrics.tables import column_fidelity

    distances = {k: v["wasserstein_in_std"] for k, v in column_fidelity(schema, real, fake).items()
                 if "wasserstein_in_std" in v}
    print(f"run folder:  {run.path}")
    print(f"inputs:      {run.path / 'tables'} (small.csv, medium.csv, large.csv)")
    print(f"augmented:   {path} ({len(real)} real rows of 'small' + {len(fake)} translated from medium and large)")
    print(f"fidelity:    mean Wasserstein distance of translated to real columns {sum(distances.values()) / len(distances):.2f} "
          f"std (per column: {', '.join(f'{k} {v:.2f}' for k, v in list(distances.items())[:4])}, ...)")
    print(f"try:         gankit translate {run.path} --from {run.path / 'tables' / 'medium.csv'} --to small --out m.csv")
    return 0
