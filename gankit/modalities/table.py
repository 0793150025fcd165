"""Tables of numeric vectors [N, F]: written as CSV (a header row of column names) or .npy."""

import csv

from .base import Modality, check_extension, register


@register
class TableModality(Modality):
    kind = "table"
    extensions = (".csv", ".npy")
    preview_count = 0  # no picture of a table during training
    serve_max_n = 1000

    def write(self, samples, spec, out, rows=None, title=""):
        out = check_extension(out, self.extensions, spec)
        if out.suffix.lower() == ".npy":
            return super().write(samples, spec, out)
        x = samples.detach().float().cpu().flatten(1)
        if "schema" in spec.meta:  # a table with a schema: back to the user's columns, units and categories
            from ..data.tables import Schema, write_csv

            schema = Schema.from_json(spec.meta["schema"])
            return [write_csv(out, schema.names(), schema.decode(x))]
        names = spec.meta.get("columns") or [f"x{i}" for i in range(x.shape[1])]
        with open(out, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(names)
            writer.writerows([[f"{v:.6g}" for v in row] for row in x.tolist()])
        return [out]
