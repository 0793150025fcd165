"""Tables from several sources ("domains", e.g. hospitals) with different but overlapping columns.

    --data tables:a.csv,b.csv,c.csv --set label=outcome        one file per domain (named by file stem)
    --data tables:all.csv --set label=outcome --set domain=site one file, a column naming each row's domain
    --data hospitals                                            the bundled example (breast cancer, 3 sites)

Each domain becomes one named data source (a `Dataset` of encoded rows and label indices) with a `Schema`
in its spec, so a run maps generated rows back to the user's column names and types:

* a column is numeric if its values parse as numbers, and is standardised (mean 0, std 1 per domain); a
  column whose values are mostly numbers but not all is an error naming the file, row and column;
* other columns are categorical, one-hot encoded and decoded back to their categories (argmax);
* a missing value (empty, NA, NaN, null, ?) in a numeric column is imputed with the column mean and flagged
  in an added indicator column (`<name>?missing`); decoded back as an empty cell where the flag is set;
  in a categorical column it is its own category (decoded back as empty);
* a constant or all-missing column carries no information: it is dropped with one warning;
* the label column must exist in every domain and hold at least two classes in each.

CSV files may start with a byte-order mark, quote newlines inside fields and use `,`, `;` or tab as
delimiter (sniffed). Parquet files are read with pandas/pyarrow when installed.
"""

import csv
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from ..errors import GankitError
from ..log import warn
from .base import DataSpec, Dataset

MISSING = {"", "na", "nan", "n/a", "null", "none", "?"}
MAX_CATEGORIES = 50


@dataclass
class Column:
    name: str
    kind: str                                   # numeric | categorical
    mean: float = 0.0
    std: float = 1.0
    categories: list[str] = field(default_factory=list)
    missing_flag: bool = False                  # an indicator column follows the value (numeric)

    @property
    def width(self) -> int:
        return len(self.categories) if self.kind == "categorical" else 1 + self.missing_flag


@dataclass
class Schema:
    """How one domain's rows map to vectors and back."""

    domain: str
    columns: list[Column]
    label: str
    classes: list[str]

    @property
    def width(self) -> int:
        return sum(c.width for c in self.columns)

    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def slices(self) -> list[tuple[Column, int, int]]:
        out, start = [], 0
        for c in self.columns:
            out.append((c, start, start + c.width))
            start += c.width
        return out

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict) -> "Schema":
        return cls(d["domain"], [Column(**c) for c in d["columns"]], d["label"], list(d["classes"]))

    # -- encode / decode ----------------------------------------------------------------------
    def encode(self, rows: list[dict], where: str) -> torch.Tensor:
        """Rows (column name -> text) -> [n, width] float; unseen categories are an error naming the row."""
        out = torch.zeros(len(rows), self.width)
        for column, a, b in self.slices():
            for i, row in enumerate(rows):
                text = (row.get(column.name) or "").strip()
                if column.kind == "numeric":
                    value = parse_number(text)
                    if value is None and text.lower() not in MISSING:
                        raise GankitError(f"{where}: row {i + 2}, column {column.name!r}: {text!r} is not a number")
                    missing = value is None
                    out[i, a] = 0.0 if missing else (value - column.mean) / column.std
                    if column.missing_flag:
                        out[i, a + 1] = float(missing)
                else:
                    key = "" if text.lower() in MISSING else text
                    if key not in column.categories:
                        raise GankitError(f"{where}: row {i + 2}, column {column.name!r}: category {text!r} was not "
                                          f"seen in training ({', '.join(map(repr, column.categories[:8]))})")
                    out[i, a + column.categories.index(key)] = 1.0
        return out

    def decode(self, x: torch.Tensor) -> list[dict]:
        """[n, width] -> rows (column name -> text) in the user's units and categories."""
        x = x.detach().float().cpu()
        rows: list[dict] = [{} for _ in range(len(x))]
        for column, a, b in self.slices():
            for i in range(len(x)):
                if column.kind == "numeric":
                    if column.missing_flag and x[i, a + 1] > 0.5:
                        rows[i][column.name] = ""
                    else:
                        rows[i][column.name] = f"{x[i, a].item() * column.std + column.mean:.6g}"
                else:
                    rows[i][column.name] = column.categories[int(x[i, a:b].argmax())]
        return rows


def parse_number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


# ------------------------------------------------------------------------------ reading files


def read_csv(path: Path) -> tuple[list[str], list[dict]]:
    """Header and rows (dicts) of a CSV file: BOM, quoted newlines and the delimiter handled."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            text = f.read()
    except UnicodeDecodeError as e:
        raise GankitError(f"{path}: not UTF-8 text (byte {e.start}); save the table as UTF-8 CSV") from None
    if not text.strip():
        raise GankitError(f"{path}: empty file")
    try:
        dialect = csv.Sniffer().sniff(text[:20000], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(text.splitlines(keepends=True), dialect)
    try:
        table = [row for row in reader if row]
    except csv.Error as e:
        raise GankitError(f"{path}: line {reader.line_num}: {e}") from None
    header = [h.strip() for h in table[0]]
    if len(set(header)) != len(header):
        dup = next(h for h in header if header.count(h) > 1)
        raise GankitError(f"{path}: column {dup!r} appears twice in the header")
    rows = []
    for number, row in enumerate(table[1:], start=2):
        if len(row) != len(header):
            raise GankitError(f"{path}: row {number} has {len(row)} fields, the header has {len(header)}")
        rows.append(dict(zip(header, row)))
    if not rows:
        raise GankitError(f"{path}: a header but no rows")
    return header, rows


def read_table(path: Path) -> tuple[list[str], list[dict]]:
    if not path.is_file():
        raise GankitError(f"{path}: no such file")
    if path.suffix.lower() == ".parquet":
        try:
            import pandas as pd

            frame = pd.read_parquet(path)
        except ImportError:
            raise GankitError(f"{path}: reading Parquet needs pyarrow: pip install pyarrow") from None
        except Exception as e:  # a damaged file, whatever the engine raised
            raise GankitError(f"{path}: not a readable Parquet file ({str(e).splitlines()[0][:100]})") from None
        rows = [{k: "" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v) for k, v in r.items()}
                for r in frame.to_dict("records")]
        return [str(c) for c in frame.columns], rows
    return read_csv(path)


# ------------------------------------------------------------------------------ schema inference


def infer_column(name: str, values: list[str], where: str) -> Column | None:
    """A column's type and encoding from its values; None (with a warning) if it carries no information."""
    present = [(i, v.strip()) for i, v in enumerate(values) if v.strip().lower() not in MISSING]
    if not present:
        warn(f"{where}: column {name!r} is empty in every row: dropped")
        return None
    numbers = [(i, parse_number(v)) for i, v in present]
    bad = [(i, v) for (i, v), (_, n) in zip(present, numbers) if n is None]
    if bad and len(bad) <= 0.1 * len(present):  # mostly numbers: a typo, not a category
        i, v = bad[0]
        raise GankitError(f"{where}: row {i + 2}, column {name!r}: {v!r} is not a number (the column's other "
                          f"values are numbers)")
    missing = len(present) < len(values)
    if not bad:
        xs = torch.tensor([n for _, n in numbers], dtype=torch.float64)
        std = xs.std(unbiased=False).item() if len(xs) > 1 else 0.0
        if std == 0.0:
            warn(f"{where}: column {name!r} is constant ({xs[0].item():g}): dropped")
            return None
        return Column(name, "numeric", xs.mean().item(), std, [], missing)
    categories = sorted({v for _, v in present}) + ([""] if missing else [])
    if len(categories) < 2:
        warn(f"{where}: column {name!r} is constant ({categories[0]!r}): dropped")
        return None
    if len(categories) > MAX_CATEGORIES:
        raise GankitError(f"{where}: column {name!r} has {len(categories)} distinct non-numeric values (e.g. "
                          f"{categories[0]!r}); more than {MAX_CATEGORIES} categories is probably an identifier: "
                          "drop the column")
    return Column(name, "categorical", categories=categories)


def domain_dataset(domain: str, header: list[str], rows: list[dict], label: str, classes: list[str],
                   where: str) -> Dataset:
    columns = [c for c in (infer_column(name, [r[name] for r in rows], where) for name in header
                           if name != label) if c is not None]
    if not columns:
        raise GankitError(f"{where}: no usable feature column besides the label {label!r}")
    schema = Schema(domain, columns, label, classes)
    x = schema.encode(rows, where)
    y = torch.tensor([classes.index(r[label].strip()) for r in rows])
    spec = DataSpec(domain, "table", (schema.width,), len(classes), None, tuple(classes),
                    {"schema": schema.to_json(), "columns": [f"x{i}" for i in range(schema.width)],
                     "shift": [0.0] * schema.width, "scale": [1.0] * schema.width})
    return Dataset(spec, x, y)


def labels_of(where: str, rows: list[dict], label: str) -> list[str]:
    values = [r[label].strip() for r in rows]
    empty = [i for i, v in enumerate(values) if v.lower() in MISSING]
    if empty:
        raise GankitError(f"{where}: row {empty[0] + 2}: the label {label!r} is missing")
    return values


def load_tables(arg: str, label: str, domain: str = "") -> dict[str, Dataset]:
    """`a.csv,b.csv` (one domain each) or one file with a `domain` column -> {domain: Dataset}."""
    if not label:
        raise GankitError("tables need a label column: --set label=COLUMN")
    paths = [Path(p).expanduser() for p in arg.split(",") if p]
    if not paths:
        raise GankitError("tables: needs files, e.g. --data tables:a.csv,b.csv")
    if domain:
        if len(paths) != 1:
            raise GankitError("with --set domain=COLUMN give one file: --data tables:all.csv")
        header, rows = read_table(paths[0])
        if domain not in header:
            raise GankitError(f"{paths[0]}: no domain column {domain!r} (columns: {', '.join(header)})")
        parts = {}
        for r in rows:
            parts.setdefault(r[domain].strip(), []).append(r)
        tables = {name: (f"{paths[0]} ({domain}={name})", [h for h in header if h != domain], part)
                  for name, part in parts.items()}
    else:
        tables = {}
        for p in paths:
            header, rows = read_table(p)
            tables[p.stem] = (str(p), header, rows)
    return datasets_from_tables(tables, label)


def datasets_from_tables(tables: dict[str, tuple[str, list[str], list[dict]]], label: str) -> dict[str, Dataset]:
    """{domain: (where, header, rows)} -> {domain: Dataset}, after checking labels and shared columns."""
    if len(tables) < 2:
        raise GankitError(f"RadialGAN needs at least two domains; found {len(tables)} ({', '.join(tables)})")
    for name, (where, header, rows) in tables.items():
        if label not in header:
            raise GankitError(f"{where}: no label column {label!r} (columns: {', '.join(header)})")
    classes = sorted({v for where, _, rows in tables.values() for v in labels_of(where, rows, label)})
    datasets = {}
    for name, (where, header, rows) in tables.items():
        present = set(labels_of(where, rows, label))
        if len(present) < 2:
            raise GankitError(f"{where}: every row has the label {next(iter(present))!r}; a domain needs at "
                              f"least two classes")
        datasets[name] = domain_dataset(name, header, rows, label, classes, where)
    names = list(datasets)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            shared = set(schema_of(datasets[a]).names()) & set(schema_of(datasets[b]).names())
            if not shared:
                raise GankitError(f"domains {a!r} and {b!r} share no feature column: RadialGAN translates between "
                                  "tables that overlap")
    return datasets


def write_csv(out: Path, header: list[str], rows: list[dict]) -> Path:
    """Rows to a CSV file, written to a temporary name and renamed (never half written)."""
    import io

    from ..train.checkpoint import atomic_write_bytes

    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=header, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out, buffer.getvalue().encode("utf-8"))
    return out


def schema_of(data_or_spec) -> Schema:
    spec = data_or_spec.spec if isinstance(data_or_spec, Dataset) else data_or_spec
    return Schema.from_json(spec.meta["schema"])
