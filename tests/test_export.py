"""`gankit export`: every registered recipe with a traceable generator, as ONNX (run in onnxruntime) and
TorchScript, equals PyTorch within 1e-4 at several batch sizes (a dynamic batch axis)."""

import numpy as np
import onnxruntime as ort
import pytest
import torch

import gankit
from gankit.cli import main
from gankit.errors import GankitError
from gankit.export import export_pipeline
from gankit.recipes import load_all, resolve_config
from gankit.train import Trainer

from conftest import load_examples

load_examples()
CASES = [(r, kind) for kind in ("image", "points") for r in sorted(load_all()) if kind in gankit.get_recipe(r).data_kinds]


def trained(name, data, tmp_path, **overrides):
    cls = gankit.get_recipe(name)
    cfg, _ = resolve_config(cls, data.spec.kind, "smoke", overrides)
    sources = ("a", "b") if cls.sources_from_data else cls.sources  # every source of the recipe fed the data
    Trainer(cls(cfg, {s: data.spec for s in sources}), {s: data for s in sources}, tmp_path, progress=False).fit()
    return gankit.load(tmp_path)


@pytest.mark.parametrize("name,kind", CASES, ids=[f"{r}-{k}" for r, k in CASES])
def test_every_traceable_recipe_exports_to_onnx_and_torchscript(name, kind, tiny_images, ring, tmp_path):
    pipe = trained(name, tiny_images if kind == "image" else ring, tmp_path)
    if pipe.module() is None:
        with pytest.raises(GankitError, match="no traceable sampling network"):
            export_pipeline(pipe, "onnx", tmp_path / "g.onnx")
        return
    for fmt, suffix in (("onnx", ".onnx"), ("torchscript", ".pt")):
        path, diff = export_pipeline(pipe, fmt, tmp_path / f"g{suffix}")
        assert path.exists() and diff <= 1e-4
    # the ONNX file alone reproduces pipe's samples from the same latent codes, at a batch size it never saw
    module, inputs, names = pipe.module()
    z = torch.randn(17, inputs[0].shape[1])
    session = ort.InferenceSession(str(tmp_path / "g.onnx"), providers=["CPUExecutionProvider"])
    got = session.run(None, {"z": z.numpy()})[0]
    with torch.no_grad():
        expected = module(z).numpy()
    assert got.shape == (17, *pipe.spec.shape) and np.abs(got - expected).max() <= 1e-4


def test_demodulated_stylegan_exports_at_any_batch_size(tiny_images, tmp_path):
    """StyleGAN2's demodulation is written unfused (no per-sample grouped conv), so the batch axis stays free."""
    pipe = trained("stylegan", tiny_images, tmp_path, demodulate=True)
    path, diff = export_pipeline(pipe, "onnx", tmp_path / "g.onnx")
    assert diff <= 1e-4
    module, inputs, _ = pipe.module()
    z = torch.randn(5, inputs[0].shape[1])
    got = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"z": z.numpy()})[0]
    with torch.no_grad():
        assert np.abs(got - module(z).numpy()).max() <= 1e-4


def test_conditional_generator_exports_with_its_labels(tiny_images, tmp_path):
    pipe = trained("dcgan", tiny_images, tmp_path, **{"remedy.condition": "projection"})
    path, diff = export_pipeline(pipe, "onnx", tmp_path / "c.onnx")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["z", "y"] and diff <= 1e-4
    z = np.random.default_rng(0).standard_normal((6, pipe.recipe.cfg.z_dim)).astype(np.float32)
    a = session.run(None, {"z": z, "y": np.zeros(6, dtype=np.int64)})[0]
    b = session.run(None, {"z": z, "y": np.full(6, 2, dtype=np.int64)})[0]
    assert np.abs(a - b).max() > 1e-6  # the label input is used


def test_cli_export_writes_beside_the_run_and_checks_it(tmp_path, ring, capsys):
    trained("gan", ring, tmp_path / "run")
    assert main(["export", str(tmp_path / "run"), "--format", "torchscript"]) == 0
    out = capsys.readouterr().out
    assert (tmp_path / "run" / "export" / "generator.pt").exists() and "max abs difference" in out
    assert main(["export", str(tmp_path / "run"), "--format", "tflite"]) == 2
    assert "invalid choice: 'tflite'" in capsys.readouterr().err
    assert main(["export", str(tmp_path / "nope")]) == 2
    assert "no such run folder" in capsys.readouterr().err
