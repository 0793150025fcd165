"""Each live diagnostic fires on a constructed failure, once, with the course's remedy."""

import json

import pytest
import torch

import gankit
from gankit.errors import TrainingDiverged
from gankit.recipes import resolve_config
from gankit.train import Trainer
from gankit.metrics import histogram_kl
from gankit.train.diagnostics import Diagnostics, mean_pairwise_distance


def trainer_for(name, data, run_dir=None, preset="smoke", **overrides):
    cls = gankit.get_recipe(name)
    cfg, _ = resolve_config(cls, data.spec.kind, preset, overrides)
    return Trainer(cls(cfg, data.spec), data, run_dir, progress=False)


def test_saturating_gan_with_a_strong_discriminator_warns_of_dominance(ring, tmp_path, capsys):
    trainer = trainer_for("gan", ring, tmp_path, saturating=True, steps=120, log_every=40, D_opt={"lr": 5e-3},
                          G_opt={"lr": 1e-5}, D={"width": 64, "depth": 2, "dropout": 0.0}, batch_size=64,
                          sample_every=1000, ckpt_every=1000)
    trainer.fit()
    assert "dominance" in trainer.diagnostics.fired
    err = capsys.readouterr().err
    assert err.count("the discriminator dominates") == 1  # once, not every log step
    assert "non-saturating loss" in err
    logged = [json.loads(line) for line in (tmp_path / "warnings.jsonl").read_text().splitlines()]
    keys = [w["key"] for w in logged]
    assert "dominance" in keys and len(keys) == len(set(keys))  # each problem reported once


def test_non_saturating_loss_does_not_warn_of_dominance_in_the_same_setting(ring):
    trainer = trainer_for("gan", ring, saturating=False, steps=120, log_every=40, D_opt={"lr": 5e-3},
                          G_opt={"lr": 1e-5}, D={"width": 64, "depth": 2, "dropout": 0.0}, batch_size=64)
    trainer.fit()
    assert "dominance" not in trainer.diagnostics.fired


def test_a_constant_generator_is_reported_as_mode_collapse(ring):
    trainer = trainer_for("gan", ring, steps=20, log_every=10, G_opt={"name": "sgd", "lr": 1e-12})
    last = list(trainer.nets["G"].modules())[-1]
    with torch.no_grad():  # every sample is the same point: G(z) = bias
        last.weight.zero_()
        last.bias.fill_(0.5)
    trainer.fit()
    assert "collapse" in trainer.diagnostics.fired
    assert "minibatch discrimination" in trainer.diagnostics.fired["collapse"].message
    assert trainer.diagnostics.fired["collapse"].step >= 2  # not before the warm-up (10% of the run)


def test_class_collapse_is_seen_through_the_digit_classifier():
    data = gankit.load_dataset("mnist5k")
    recipe, _, _ = gankit.build("dcgan", data, preset="smoke", overrides={"steps": 10})
    from gankit.modalities import get_modality

    diag = Diagnostics(recipe, data, get_modality("image").class_probe(data.spec))
    ones = data.batch(torch.nonzero(data.y == 1).flatten()[:100]).x
    scalars = {}
    fired = diag.check_samples(5, scalars, ones)
    assert scalars["diag/classes_present"] <= 2 and scalars["diag/class_kl"] > 1.0
    assert "class_collapse" in {w.key for w in fired}
    mixed = data.batch(torch.arange(0, 5000, 25)).x
    fired = diag.check_samples(6, scalars := {}, mixed)
    assert scalars["diag/class_kl"] < 0.2 and not fired


def test_injected_nan_stops_the_run_with_a_clear_error(tiny_images, tmp_path):
    trainer = trainer_for("wgan-gp", tiny_images, tmp_path, steps=3)
    trainer.fit(1)
    with torch.no_grad():
        next(trainer.nets["G"].parameters()).fill_(float("inf"))
    with pytest.raises(TrainingDiverged, match="NaN or inf .*lower the learning rates"):
        trainer.fit()


def test_helpers():
    assert mean_pairwise_distance(torch.zeros(5, 3)) == 0.0
    assert abs(mean_pairwise_distance(torch.tensor([[0.0], [2.0]])) - 2.0) < 1e-6
    assert histogram_kl(torch.tensor([10, 10]), torch.tensor([50, 50]), smoothing=0.5) == 0.0
    assert histogram_kl(torch.tensor([10, 0]), torch.tensor([50, 50]), smoothing=0.5) > 0.6
