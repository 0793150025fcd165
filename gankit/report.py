"""Run reports: a short `report.md` with the final samples and training curves."""

from pathlib import Path

from . import viz
from .train.run import load_info
from .train.stats import read_stats


def write_report(run_dir: Path, final_samples: Path | None = None) -> Path:
    run_dir = Path(run_dir)
    info, rows = load_info(run_dir), read_stats(run_dir)
    curves = viz.plot_curves(rows, run_dir / "loss_curves.png")
    grids = sorted((run_dir / "samples").glob("step-*.png"))
    last = rows[-1] if rows else {}
    cfg = info["config"]
    lines = [
        f"# {info['recipe']} on {info['data']}",
        "",
        f"- run folder: `{run_dir}`",
        f"- preset: `{info.get('preset')}`; steps done: {last.get('step', 0)} of {cfg['steps']}; "
        f"batch {cfg['batch_size']}; seed {cfg['seed']}; precision {cfg['precision']}",
        f"- time per step (last interval): {last.get('time/sec_per_step', float('nan')):.3f} s",
        "",
        "## Final losses and discriminator outputs",
        "",
        "| stat | value |",
        "|---|---|",
        *[f"| {k} | {v:.4g} |" for k, v in last.items() if k != "step" and not k.startswith("time/")],
        "",
    ]
    if final_samples is not None:
        lines += ["## Samples from G_ema (final)", "", f"![final samples]({Path(final_samples).relative_to(run_dir)})", ""]
    if grids:
        lines += ["## Fixed-noise samples over training", ""]
        lines += [f"- step {int(g.stem.split('-')[1])}: ![{g.stem}]({g.relative_to(run_dir)})" for g in grids[-4:]]
        lines.append("")
    if curves:
        lines += ["## Training curves", "", f"![curves]({curves.relative_to(run_dir)})", ""]
    path = run_dir / "report.md"
    path.write_text("\n".join(lines))
    return path
