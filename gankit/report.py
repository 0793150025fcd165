"""Run reports: `gankit report RUN` writes `report.md` and a self-contained `report.html`.

Both show the run's settings, every health warning raised, the final metrics, training curves (losses,
discriminator outputs, gradient norms, diagnostics, metrics over time) and the fixed-noise samples over
training (2-D runs: the scatter over the real mixture). The HTML embeds its pictures as data URIs, so
the one file can be mailed or uploaded; the Markdown links the PNGs in `report/`.
"""

import base64
import html
from pathlib import Path

import torch

from . import viz
from .train.run import load_info
from .train.stats import read_jsonl, read_stats

CURVE_GROUPS = {
    "losses": ("loss/",),
    "discriminator outputs": ("D/real", "D/fake"),
    "D(x) and D(G(z)) as probabilities": ("D/p_real", "D/p_fake", "D/saturated_fake"),
    "gradient norms": ("grad_norm/",),
    "health diagnostics": ("diag/",),
    "metrics": ("metric/",),
}
MAX_GRIDS = 8


def latest_metrics(run_dir: Path) -> dict:
    rows = read_jsonl(Path(run_dir) / "metrics.jsonl")
    return rows[-1] if rows else {}


def curve_pictures(rows: list[dict], folder: Path) -> list[tuple[str, Path]]:
    keys = sorted({k for r in rows for k in r if k != "step"})
    out = []
    for i, (title, prefixes) in enumerate(CURVE_GROUPS.items()):
        chosen = [k for k in keys if any(k == p or (p.endswith("/") and k.startswith(p)) for p in prefixes)]
        path = viz.plot_curves(rows, folder / f"curves_{i}.png", {title: chosen}) if chosen else None
        if path:
            out.append((title, path))
    return out


def sample_pictures(run_dir: Path) -> list[Path]:
    grids = sorted((run_dir / "samples").glob("step-*.png"))
    if len(grids) <= MAX_GRIDS:
        return grids
    pick = [round(i * (len(grids) - 1) / (MAX_GRIDS - 1)) for i in range(MAX_GRIDS)]
    return [grids[i] for i in sorted(set(pick))]


def step_of(grid: Path) -> int:
    return int(grid.stem.split("-")[1])


def _fmt(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def summary_rows(info: dict, rows: list[dict]) -> list[tuple[str, str]]:
    cfg, last = info["config"], rows[-1] if rows else {}
    nets = ", ".join(f"{n}: {v['arch']} width {v['width']}" for n, v in cfg.items() if isinstance(v, dict) and "arch" in v)
    return [
        ("recipe", f"{info['recipe']} (preset {info.get('preset')})"),
        ("data", f"{info['data']}: {info['data_spec']['kind']} {tuple(info['data_spec']['shape'])}"),
        ("steps", f"{last.get('step', 0)} of {cfg['steps']}, batch {cfg['batch_size']}, seed {cfg['seed']}"),
        ("networks", nets or "-"),
        ("precision", f"{precision(info)}, channels_last {cfg['channels_last']}"),
        ("seconds per step", _fmt(last.get("time/sec_per_step", float("nan")))),
    ]


def precision(info: dict) -> str:
    trial = info.get("precision_auto")
    if not trial:
        return info["config"]["precision"]
    times = ", ".join(f"{p} {t * 1000:.0f} ms" for p, t in trial["sec_per_step"].items())
    return f"auto: {trial['chosen']} ({times} per step)"


def class_grid(run_dir: Path, info: dict, folder: Path, per_class: int = 10, max_classes: int = 20) -> Path | None:
    """For class-conditional runs: one row of samples per class (the first `max_classes`), where the
    data's modality has a picture for it."""
    from .api import load
    from .errors import GankitError
    from .modalities import get_modality

    try:
        pipe = load(run_dir)
    except GankitError:  # no checkpoint yet: the report still renders without this picture
        return None
    if not pipe.recipe.conditional:
        return None
    classes = min(pipe.spec.num_classes, max_classes)
    y = torch.arange(classes).repeat_interleave(per_class)
    return get_modality(pipe.spec.kind).class_picture(pipe.sample(len(y), seed=0, y=y), pipe.spec,
                                                      folder / "classes.png", per_class)


def media_files(run_dir: Path, folder: Path) -> list[Path]:
    """What the data's modality adds to a report besides pictures (music: WAV renderings of samples)."""
    from .api import load
    from .errors import GankitError
    from .modalities import get_modality

    try:
        pipe = load(run_dir)
    except GankitError:  # no checkpoint yet
        return []
    return get_modality(pipe.spec.kind).report_media(pipe, folder)


def write_report(run_dir: Path, final_samples: Path | None = None) -> tuple[Path, Path]:
    """Write report.md and report.html into the run folder; returns their paths."""
    run_dir = Path(run_dir)
    info, rows = load_info(run_dir), read_stats(run_dir)
    folder = run_dir / "report"
    folder.mkdir(exist_ok=True)
    doc = {
        "classes": class_grid(run_dir, info, folder),
        "media": media_files(run_dir, folder),
        "title": f"{info['recipe']} on {info['data']}",
        "summary": summary_rows(info, rows),
        "warnings": read_jsonl(run_dir / "warnings.jsonl"),
        "metrics": {k: v for k, v in latest_metrics(run_dir).items() if isinstance(v, (int, float))},
        "final": final_samples if final_samples and Path(final_samples).exists() else None,
        "curves": curve_pictures(rows, folder),
        "grids": sample_pictures(run_dir),
        "final_stats": {k: v for k, v in (rows[-1] if rows else {}).items() if k != "step"},
    }
    md = run_dir / "report.md"
    md.write_text(render_markdown(doc, run_dir))
    page = run_dir / "report.html"
    page.write_text(render_html(doc))
    return md, page


def render_markdown(doc: dict, run_dir: Path) -> str:
    rel = lambda p: Path(p).relative_to(run_dir).as_posix()  # noqa: E731
    lines = [f"# {doc['title']}", "", "| | |", "|---|---|", *[f"| {k} | {v} |" for k, v in doc["summary"]], ""]
    lines += ["## Health warnings", ""]
    lines += [f"- step {w['step']}: {w['message']}" for w in doc["warnings"]] or ["None raised."]
    lines.append("")
    if doc["metrics"]:
        lines += ["## Metrics (latest `gankit eval`)", "", "| metric | value |", "|---|---|"]
        lines += [f"| {k} | {_fmt(v)} |" for k, v in doc["metrics"].items()] + [""]
    if doc["final"]:
        lines += ["## Final samples (G_ema)", "", f"![final samples]({rel(doc['final'])})", ""]
    if doc["classes"]:
        lines += ["## Samples by class (one row per class)", "", f"![by class]({rel(doc['classes'])})", ""]
    if doc.get("media"):
        lines += ["## Listen (samples, seed 0)", ""] + [f"- [{p.name}]({rel(p)})" for p in doc["media"]] + [""]
    lines += ["## Samples over training (same noise)", ""]
    lines += [f"step {step_of(g)}: ![step {step_of(g)}]({rel(g)})" for g in doc["grids"]] + [""]
    for title, path in doc["curves"]:
        lines += [f"## {title[0].upper() + title[1:]}", "", f"![{title}]({rel(path)})", ""]
    if doc["final_stats"]:
        lines += ["## Last logged stats", "", "| stat | value |", "|---|---|"]
        lines += [f"| {k} | {_fmt(v)} |" for k, v in doc["final_stats"].items()] + [""]
    return "\n".join(lines)


def data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode()


def render_html(doc: dict) -> str:
    e = html.escape
    table = lambda rows: "<table>" + "".join(f"<tr><th>{e(str(k))}</th><td>{e(_fmt(v))}</td></tr>" for k, v in rows) + "</table>"  # noqa: E731
    img = lambda p, alt: f'<img src="{data_uri(p)}" alt="{e(alt)}">'  # noqa: E731
    parts = [f"<h1>{e(doc['title'])}</h1>", table(doc["summary"]), "<h2>Health warnings</h2>"]
    if doc["warnings"]:
        parts.append("<ul>" + "".join(f'<li class="warn">step {w["step"]}: {e(w["message"])}</li>'
                                      for w in doc["warnings"]) + "</ul>")
    else:
        parts.append("<p>None raised.</p>")
    if doc["metrics"]:
        parts += ["<h2>Metrics (latest gankit eval)</h2>", table(doc["metrics"].items())]
    if doc["final"]:
        parts += ["<h2>Final samples (G_ema)</h2>", img(doc["final"], "final samples")]
    if doc["classes"]:
        parts += ["<h2>Samples by class (one row per class)</h2>", img(doc["classes"], "samples by class")]
    if doc.get("media"):
        parts.append("<h2>Listen (samples, seed 0)</h2><div class=grids>")
        parts += [f'<figure><audio controls src="data:audio/wav;base64,{base64.b64encode(p.read_bytes()).decode()}">'
                  f"</audio><figcaption>{e(p.name)}</figcaption></figure>" for p in doc["media"]]
        parts.append("</div>")
    parts.append("<h2>Samples over training (same noise)</h2><div class=grids>")
    parts += [f"<figure>{img(g, g.stem)}<figcaption>step {step_of(g)}</figcaption></figure>" for g in doc["grids"]]
    parts.append("</div>")
    for title, path in doc["curves"]:
        parts += [f"<h2>{e(title[0].upper() + title[1:])}</h2>", img(path, title)]
    if doc["final_stats"]:
        parts += ["<h2>Last logged stats</h2>", table(doc["final_stats"].items())]
    style = ("body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}"
             "table{border-collapse:collapse;margin:.5em 0}th,td{border:1px solid #ccc;padding:.25em .6em;text-align:left}"
             ".grids{display:flex;flex-wrap:wrap;gap:.5em}figure{margin:0}figure img{width:250px}"
             "img{max-width:100%}.warn{color:#a40}")
    return (f"<!doctype html><html><head><meta charset=utf-8><title>{e(doc['title'])}</title>"
            f"<style>{style}</style></head><body>{''.join(parts)}</body></html>")
