import math

import torch

from gankit.data import load_dataset
from gankit.data.toy import grid_means
from gankit.metrics import histogram_kl, mode_stats
from gankit.metrics.classifier import accuracy, load_digit_classifier, split_mnist5k


def test_kl_of_uniform_histogram_is_zero_and_of_one_mode_is_log_k():
    assert histogram_kl(torch.tensor([5, 5, 5, 5])) == 0.0
    assert abs(histogram_kl(torch.tensor([9, 0, 0])) - math.log(3)) < 1e-12
    assert math.isnan(histogram_kl(torch.tensor([0, 0])))


def test_real_data_covers_every_mode_with_high_quality():
    ds = load_dataset("grid25")
    s = mode_stats(ds.x[:2500], ds.spec.meta["means"], ds.spec.meta["std"])
    assert s["modes"] == 25 and s["high_quality"] > 0.98 and s["reverse_kl"] < 0.02


def test_a_collapsed_generator_covers_one_mode():
    means = grid_means()
    samples = means[7] + 0.01 * torch.randn(2500, 2)
    s = mode_stats(samples, means, 0.05)
    assert s["modes"] == 1 and s["high_quality"] == 1.0 and abs(s["reverse_kl"] - math.log(25)) < 1e-9


def test_samples_between_modes_are_not_high_quality():
    means = grid_means()
    samples = means[:5] + torch.tensor([1.0, 1.0])  # halfway between grid points
    s = mode_stats(samples, means, 0.05)
    assert s["high_quality"] == 0.0 and s["modes"] == 0


def test_shipped_digit_classifier_is_accurate_on_held_out_digits():
    data = load_dataset("mnist5k")
    _, held = split_mnist5k(data.y)
    assert len(held) == 1000 and torch.bincount(data.y[held]).tolist() == [100] * 10
    clf = load_digit_classifier()
    assert accuracy(clf, data.batch(held).x, data.y[held]) >= 0.98
    assert clf.features(data.batch(held[:4]).x).shape == (4, clf.num_features)
