"""The CLI end to end on smoke presets, in-process (fast) and as a real subprocess (exit codes)."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

import gankit
from gankit.cli import main


def run_cli(*args):
    return main([str(a) for a in args])


def test_list(capsys):
    assert run_cli("list") == 0
    out = capsys.readouterr().out
    for name in ("gan", "dcgan", "wgan", "wgan-gp", "r1", "ring8", "grid25", "mnist5k", "digits", "folder:PATH"):
        assert name in out


def test_train_sample_info_on_points(tmp_path, capsys):
    assert run_cli("train", "wgan-gp", "--data", "grid25", "--preset", "smoke", "--steps", "3", "--out", tmp_path,
                   "--no-progress", "--set", "n_critic=1") == 0
    run = tmp_path / "wgan-gp-grid25-000"
    info = json.loads((run / "config.json").read_text())
    assert info["config"]["steps"] == 3 and info["config"]["n_critic"] == 1 and info["preset"] == "smoke"
    assert (run / "stats.jsonl").read_text().count("\n") == 3
    assert (run / "samples" / "step-0000003.png").exists()
    assert (run / "checkpoints" / "latest.json").exists()
    capsys.readouterr()
    assert run_cli("sample", run, "--n", 50, "--out", tmp_path / "pts.npy") == 0
    pts = np.load(tmp_path / "pts.npy")
    assert pts.shape == (50, 2) and (tmp_path / "pts.png").exists()
    assert run_cli("info", run) == 0
    out = capsys.readouterr().out
    assert "wgan-gp" in out and "3 of 3" in out


def test_train_folder_and_sample_grid(tmp_path):
    folder = tmp_path / "faces"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(6):
        Image.fromarray(rng.integers(0, 255, (20, 24, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    assert run_cli("train", "gan", "--data", f"folder:{folder}", "--preset", "smoke", "--set", "resolution=16",
                   "--out", tmp_path / "runs", "--no-progress") == 0
    run = tmp_path / "runs" / "gan-folder-faces-000"
    assert run.exists()
    assert run_cli("sample", run, "--n", 9, "--out", tmp_path / "grid.png", "--no-ema") == 0
    img = Image.open(tmp_path / "grid.png")
    assert img.mode == "RGB" and img.width > 3 * 16


def test_sample_from_checkpoint_file(tmp_path):
    assert run_cli("train", "dcgan", "--data", "digits", "--preset", "smoke", "--set", "resolution=16",
                   "--out", tmp_path, "--no-progress") == 0
    ckpt = sorted((tmp_path / "dcgan-digits-000" / "checkpoints").glob("*.safetensors"))[-1]
    assert run_cli("sample", ckpt, "--n", 4, "--out", tmp_path / "s.png") == 0
    assert (tmp_path / "s.png").exists()


def test_resume_from_cli(tmp_path):
    assert run_cli("train", "gan", "--data", "ring8", "--preset", "smoke", "--steps", "2", "--out", tmp_path,
                   "--no-progress") == 0
    run = tmp_path / "gan-ring8-000"
    assert run_cli("train", "--resume", run, "--steps", "4", "--no-progress") == 0
    assert json.loads((run / "checkpoints" / "latest.json").read_text())["step"] == 4
    steps = [json.loads(line)["step"] for line in (run / "stats.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4]


def test_dry_run_prints_config_and_creates_nothing(tmp_path, capsys):
    assert run_cli("train", "wgan", "--data", "ring8", "--dry-run", "--set", "clip=0.05", "--out", tmp_path) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["config"]["clip"] == 0.05 and out["preset"] == "toy" and out["phases"] == ["D", "G"]
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("args,needle", [
    (["train", "gan", "--data", "ring8", "--set", "nope=1"], "unknown config key 'nope'"),
    (["train", "gan", "--data", "ring8", "--set", "D_opt.lr=-1"], "D_opt.lr=-1.0 must be positive"),
    (["train", "gan", "--data", "ring8", "--steps", "0"], "must be at least 1"),
    (["train", "gan", "--data", "ring8", "--steps", "ten"], "is not an integer"),
    (["train", "gann", "--data", "ring8"], "unknown recipe 'gann'"),
    (["train", "gan", "--data", "mnist"], "unknown dataset 'mnist'"),
    (["train", "gan", "--data", "folder:/nonexistent/imgs"], "no such folder"),
    (["train", "dcgan", "--data", "ring8"], "dcgan trains on image data; ring8"),
    (["train", "gan", "--data", "ring8", "--preset", "huge"], "no preset 'huge'"),
    (["train", "gan"], "needs RECIPE and --data"),
    (["train", "--resume", "/nonexistent/run"], "no such run folder"),
    (["sample", "/nonexistent/run", "--out", "x.png"], "no such run folder or checkpoint"),
    (["sample", "x", "--n", "-3", "--out", "x.png"], "must be at least 1"),
    (["info", "/nonexistent"], "no such run folder"),
    (["bogus"], "invalid choice"),
])
def test_bad_input_is_one_line_error_exit_2(args, needle, capsys, tmp_path):
    assert run_cli(*args, *(["--out", tmp_path] if args[0] == "train" and "--resume" not in args else [])) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and needle in err and len(err.splitlines()) == 1, err


def test_sample_rejects_a_file_that_is_not_a_checkpoint(tmp_path, capsys):
    bogus = tmp_path / "model.safetensors"
    bogus.write_bytes(b"definitely not safetensors")
    assert run_cli("sample", bogus, "--out", tmp_path / "x.png") == 2
    assert "not a readable gankit checkpoint" in capsys.readouterr().err


def test_real_process_exit_codes(tmp_path):
    ok = subprocess.run([sys.executable, "-m", "gankit", "train", "r1", "--data", "ring8", "--preset", "smoke",
                         "--out", str(tmp_path), "--no-progress"], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert "run: " in ok.stdout
    bad = subprocess.run([sys.executable, "-m", "gankit", "train", "r1", "--data", "ring8", "--set", "gamma=x"],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.strip() == "error: gamma='x' is not a number"
    assert "Traceback" not in bad.stderr


def test_sample_by_class_and_class_grid_in_report(tmp_path, capsys):
    assert run_cli("train", "dcgan", "--data", "digits", "--preset", "smoke", "--set", "resolution=16",
                   "--set", "condition=projection", "--out", tmp_path, "--no-progress") == 0
    run = tmp_path / "dcgan-digits-000"
    assert run_cli("sample", run, "--class", "7", "3", "--n", "8", "--out", tmp_path / "c.png") == 0
    img = Image.open(tmp_path / "c.png")
    assert img.width > img.height  # 2 rows of 4
    assert run_cli("sample", run, "--class", "12", "--out", tmp_path / "x.png") == 2
    assert "not a class of digits" in capsys.readouterr().err
    assert run_cli("report", run) == 0
    assert (run / "report" / "classes.png").exists() and "Samples by class" in (run / "report.md").read_text()


def test_out_path_that_is_a_file_is_a_clear_error(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert run_cli("train", "gan", "--data", "ring8", "--preset", "smoke", "--out", blocker / "runs") == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and len(err.splitlines()) == 1


def test_a_torn_newest_checkpoint_falls_back_to_the_previous_one(tmp_path, capsys):
    assert run_cli("train", "gan", "--data", "ring8", "--preset", "smoke", "--out", tmp_path, "--no-progress") == 0
    run = tmp_path / "gan-ring8-000"
    older, newest = sorted((run / "checkpoints").glob("*.safetensors"))[-2:]
    newest.write_bytes(newest.read_bytes()[:100])
    capsys.readouterr()
    assert run_cli("sample", run, "--n", "4", "--out", tmp_path / "pts.npy") == 0
    out = capsys.readouterr()
    assert "not a readable gankit checkpoint" in out.err and newest.name in out.err and "step 1," in out.out
    assert run_cli("train", "--resume", run, "--steps", "5", "--no-progress") == 0
    err = capsys.readouterr().err
    assert "unreadable weights" in err and "resuming from the previous checkpoint (step 1)" in err
    assert gankit.load(run).step == 5


def test_when_every_checkpoint_is_torn_resume_is_a_clear_error(tmp_path, capsys):
    assert run_cli("train", "gan", "--data", "ring8", "--preset", "smoke", "--out", tmp_path, "--no-progress") == 0
    run = tmp_path / "gan-ring8-000"
    for weights in (run / "checkpoints").glob("*.safetensors"):
        weights.write_bytes(weights.read_bytes()[:100])
    capsys.readouterr()
    assert run_cli("train", "--resume", run, "--steps", "5", "--no-progress") == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[0].startswith("warning:") and "resuming from the previous checkpoint (step 1)" in lines[0]
    assert lines[-1].startswith("error:") and "step-0000001.safetensors: unreadable weights" in lines[-1]
    assert len(lines) == 2  # one line per damaged checkpoint, no traceback


def test_sample_to_an_unsupported_extension_names_the_supported_ones(tmp_path, capsys):
    assert run_cli("train", "gan", "--data", "ring8", "--preset", "smoke", "--out", tmp_path, "--no-progress") == 0
    capsys.readouterr()
    assert run_cli("sample", tmp_path / "gan-ring8-000", "--out", tmp_path / "x.weird") == 2
    err = capsys.readouterr().err
    assert "points samples are written as .npy, .png (got .weird)" in err
    assert not (tmp_path / "x.weird").exists() and not (tmp_path / "x.npy").exists()



def test_init_loads_every_net_and_starts_an_absent_ema_copy_as_its_net(tmp_path):
    from gankit import api
    from gankit.train import Trainer

    assert run_cli("train", "gan", "--data", "ring8", "--preset", "smoke", "--steps", "3", "--set", "ema=0",
                   "--out", tmp_path, "--no-progress") == 0
    ckpt = sorted((tmp_path / "gan-ring8-000" / "checkpoints").glob("*.safetensors"))[-1]
    trained = gankit.load(ckpt).nets
    assert set(trained) == {"G", "D"}
    rec, data, _ = api.build("gan", "ring8", "smoke", {"ema": 0.99, "seed": 5})
    trainer = Trainer(rec, data, tmp_path / "probe", progress=False)
    assert not torch.equal(trainer.nets["G"].net[0].weight, trained["G"].net[0].weight)
    trainer.warm_start(ckpt)
    for name, net in trainer.nets.items():
        expected = trained[name.removesuffix("_ema")].state_dict()
        assert all(torch.equal(v, expected[k]) for k, v in net.state_dict().items()), name
    assert trainer.step == 0 and not trainer.optimizers["G"].state  # fresh optimizers


def test_init_from_cli_is_a_new_run_with_changed_settings(tmp_path, capsys):
    assert run_cli("train", "musegan", "--data", "chorales", "--preset", "smoke", "--steps", "2", "--out",
                   tmp_path / "a", "--no-progress") == 0
    first = tmp_path / "a" / "musegan-chorales-000"
    ckpt = sorted((first / "checkpoints").glob("*.safetensors"))[-1]
    assert run_cli("train", "musegan", "--data", "chorales", "--preset", "smoke", "--steps", "2", "--init", first,
                   "--set", "binary_neurons=deterministic", "--out", tmp_path / "b", "--no-progress") == 0
    second = tmp_path / "b" / "musegan-chorales-000"
    info = json.loads((second / "config.json").read_text())
    assert info["config"]["binary_neurons"] == "deterministic"
    assert info["init"] == {"weights": str(ckpt.resolve()), "step": 2}
    assert [json.loads(line)["step"] for line in (second / "stats.jsonl").read_text().splitlines()] == [1, 2]
    capsys.readouterr()
    assert run_cli("info", second) == 0 and f"started at: {ckpt.resolve()} (step 2" in capsys.readouterr().out


@pytest.mark.parametrize("args,needle", [
    (["train", "wgan", "--data", "ring8", "--init", "RUN"], "a checkpoint of gan, not of wgan"),
    (["train", "gan", "--data", "ring8", "--preset", "smoke", "--set", "G.width=16", "--init", "RUN"],
     "--init needs the same nets"),
    (["train", "gan", "--data", "ring8", "--init", "/nonexistent/run"], "no such run folder"),
    (["train", "--resume", "RUN", "--init", "RUN"], "--resume takes only"),
])
def test_init_that_cannot_fit_is_a_one_line_error(args, needle, tmp_path, capsys):
    assert run_cli("train", "gan", "--data", "ring8", "--preset", "smoke", "--steps", "1", "--out", tmp_path,
                   "--no-progress") == 0
    run = tmp_path / "gan-ring8-000"
    args = [run if a == "RUN" else a for a in args]
    capsys.readouterr()
    assert run_cli(*args, *(["--out", tmp_path / "x", "--no-progress"] if "--resume" not in args else [])) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and needle in err and len(err.splitlines()) == 1, err
