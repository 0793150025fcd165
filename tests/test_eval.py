import json

import numpy as np
import torch
from PIL import Image

from gankit.cli import main


def train_smoke(tmp_path, recipe, data, *extra):
    assert main(["train", recipe, "--data", data, "--preset", "smoke", "--out", str(tmp_path), "--no-progress",
                 *extra]) == 0
    return next(p for p in tmp_path.iterdir() if p.name.startswith(recipe))


def test_eval_points_writes_metrics(tmp_path, capsys):
    run = train_smoke(tmp_path, "gan", "ring8")
    capsys.readouterr()
    assert main(["eval", str(run), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out["metrics"]) == {"modes", "high_quality", "reverse_kl"} and out["n"] == 2500
    record = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])
    assert record["step"] == 2 and record["modes"] == out["metrics"]["modes"]


def test_eval_digit_images_with_the_shipped_classifier(tmp_path, capsys):
    run = train_smoke(tmp_path, "dcgan", "digits", "--set", "resolution=16")
    capsys.readouterr()
    assert main(["eval", str(run), "--n", "200", "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)["metrics"]
    for key in ("fid", "kid", "is", "precision", "recall", "density", "coverage", "class_kl", "classes_present"):
        assert key in metrics, key
    assert metrics["fid"] > 0 and 1 <= metrics["classes_present"] <= 10


def test_eval_bad_metric_choices_are_one_line_errors(tmp_path, capsys):
    run = train_smoke(tmp_path, "gan", "ring8")
    capsys.readouterr()
    assert main(["eval", str(run), "--metrics", "fid"]) == 2
    assert "metric 'fid' is for image data; ring8 is points data" in capsys.readouterr().err
    assert main(["eval", str(run), "--metrics", "sharpness"]) == 2
    assert "unknown metric 'sharpness'" in capsys.readouterr().err


def rgb_folder(path):
    path.mkdir()
    rng = np.random.default_rng(0)
    for i in range(8):
        Image.fromarray(rng.integers(0, 255, (20, 20, 3), dtype=np.uint8)).save(path / f"{i}.png")
    return path


class TinyFeatures(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.input_size = [3, 16, 16]
        self.conv = torch.nn.Conv2d(3, 4, 3)

    def forward(self, x):
        return self.conv(x).mean((2, 3))


def test_eval_rgb_needs_features_and_takes_a_torchscript_file(tmp_path, capsys):
    run = train_smoke(tmp_path / "runs", "gan", f"folder:{rgb_folder(tmp_path / 'imgs')}", "--set", "resolution=16")
    capsys.readouterr()
    assert main(["eval", str(run)]) == 2
    assert "pass --features PATH" in capsys.readouterr().err
    torch.jit.script(TinyFeatures()).save(str(tmp_path / "feat.pt"))
    assert main(["eval", str(run), "--features", str(tmp_path / "feat.pt"), "--n", "8", "--json"]) == 0
    assert "fid" in json.loads(capsys.readouterr().out)["metrics"]
    (tmp_path / "bad.pt").write_bytes(b"nope")
    assert main(["eval", str(run), "--features", str(tmp_path / "bad.pt")]) == 2
    assert "bad.pt" in capsys.readouterr().err


def test_trainer_evaluates_every_n_steps(tmp_path):
    run = train_smoke(tmp_path, "wgan-gp", "grid25", "--steps", "4", "--set", "eval_every=2")
    stats = [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines()]
    assert [r["step"] for r in stats if "metric/modes" in r] == [2, 4]
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 2
