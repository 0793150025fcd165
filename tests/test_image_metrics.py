"""Feature-based image metrics: known cases, cross-checks against torchmetrics and brute force, and
user TorchScript feature networks (good and bad files)."""

import math

import pytest
import torch
from torch import Tensor, nn

from gankit.data import load_dataset
from gankit.errors import GankitError
from gankit.metrics.classifier import split_mnist5k
from gankit.metrics.features import FeatureExtractor, digit_features, load_torchscript_features
from gankit.metrics.image import (class_coverage, fid_from_features, image_metrics, inception_score_from_logits,
                                  kid_from_features, stacked_mnist_modes)
from gankit.metrics import histogram_kl
from gankit.metrics.prdc import DensityCoverage, PrecisionRecall, density_coverage, knn_radii, precision_recall

# torch 2.13 marks torch.jit.script/load deprecated; TorchScript files are still what users hand us.
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit:DeprecationWarning")


@pytest.fixture(scope="module")
def mnist():
    return load_dataset("mnist5k")


@pytest.fixture(scope="module")
def held(mnist) -> Tensor:
    """Indices of the 1,000 held-out digits (100 per class, never seen by the classifier)."""
    return split_mnist5k(mnist.y)[1]


@pytest.fixture(scope="module")
def digit() -> FeatureExtractor:
    return digit_features()


@pytest.fixture(scope="module")
def halves(mnist, held) -> tuple[Tensor, Tensor]:
    """Two disjoint sets of 500 real held-out digits, 50 per class each."""
    x = mnist.batch(held).x
    return x[0::2], x[1::2]


@pytest.fixture(scope="module")
def half_features(digit, halves) -> dict[str, Tensor]:
    """Features of the halves and of the first half shifted right by 2 and 4 pixels, extracted once."""
    a, b = halves
    out = {"b": digit.extract(b)[0]}
    for s in (0, 2, 4):
        out[f"a{s}"] = digit.extract(a.roll(s, -1))[0]
    return out


# ---------------------------------------------------------------------------------------------- FID


def test_fid_from_features_is_zero_for_identical_sets_and_a_mean_shift_adds_its_square_norm():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(400, 16, generator=g) @ torch.randn(16, 16, generator=g)
    assert fid_from_features(x, x) < 1e-8
    delta = torch.linspace(-1, 1, 16)
    # Same covariance, means δ apart: FID = ‖δ‖² exactly.
    assert fid_from_features(x, x + delta) == pytest.approx(float(delta.square().sum()), rel=1e-6)


def test_fid_of_singular_covariances_is_finite_and_nonnegative():
    x = torch.zeros(100, 8)
    x[:, :3] = torch.randn(100, 3)  # 5 dead features, as ReLU layers have
    assert 0 <= fid_from_features(x, x) < 1e-8
    assert math.isfinite(fid_from_features(x, x * 2))


def test_fid_matches_torchmetrics_with_the_same_feature_module(digit, mnist, held):
    from torchmetrics.image.fid import FrechetInceptionDistance

    real, fake = mnist.batch(held[:150]).x, mnist.batch(held[150:300]).x.roll(2, -1)
    tm = FrechetInceptionDistance(feature=digit)  # the extractor has an int num_features: no dummy probe
    tm.update(real, real=True)
    tm.update(fake, real=False)
    ours = image_metrics(fake, real, digit, metrics=("fid",))["fid"]
    assert ours == pytest.approx(float(tm.compute()), rel=1e-3)


def test_fid_is_zero_for_identical_images_small_for_real_halves_and_grows_with_shift(half_features):
    f = half_features
    assert fid_from_features(f["a0"], f["a0"]) < 1e-6
    fids = [fid_from_features(f[f"a{s}"], f["b"]) for s in (0, 2, 4)]  # fakes shifted by 0, 2, 4 pixels
    assert fids[0] < 10
    assert fids[0] < fids[1] < fids[2] and fids[2] > 3 * fids[0]


def test_kid_is_near_zero_for_real_halves_and_large_for_shifted_fakes(half_features):
    f = half_features
    same, same_std = kid_from_features(f["b"], f["a0"])
    shifted, _ = kid_from_features(f["b"], f["a4"])
    assert same_std == 0.0  # 500 vs 500 samples: the one subset is the whole set
    assert shifted > 5 * abs(same)
    # Unequal sizes: real random subsets of 300, seeded, so the result is reproducible.
    assert kid_from_features(f["b"], f["a0"][:300], subsets=5) == kid_from_features(f["b"], f["a0"][:300], subsets=5)


# ----------------------------------------------------------------------------------------------- IS


def test_inception_score_equals_its_formula_and_is_one_for_a_collapsed_set():
    g = torch.Generator().manual_seed(0)
    logits = 3 * torch.randn(300, 10, generator=g)
    p = logits.double().softmax(1)
    expected = math.exp(float((p * (p.log() - p.mean(0).log())).sum(1).mean()))
    assert inception_score_from_logits(logits, splits=1)[0] == pytest.approx(expected, rel=1e-9)
    assert inception_score_from_logits(logits[:1].repeat(50, 1))[0] == pytest.approx(1.0, abs=1e-9)


def test_digit_score_of_real_digits_is_near_ten(digit, halves, monkeypatch):
    monkeypatch.setattr(digit, "extract", _counting(digit.extract, calls := []))
    out = image_metrics(halves[0], halves[1], digit, metrics=("is",))
    assert set(out) == {"is", "is_std"} and 8.5 < out["is"] <= 10
    assert calls == [500]  # IS needs no real images


# ----------------------------------------------------------------------------------- precision/recall


def _blob(n: int, d: int = 8, seed: int = 0, shift: float = 0.0) -> Tensor:
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed)) + shift


def test_knn_radii_exclude_the_point_itself_but_count_duplicates():
    x = torch.tensor([[0.0], [1.0], [3.0], [3.0]])
    assert knn_radii(x, 1).tolist() == [1.0, 1.0, 0.0, 0.0]
    assert knn_radii(x, 2).tolist() == [3.0, 2.0, 2.0, 2.0]
    with pytest.raises(GankitError):
        knn_radii(x, 4)


def test_identical_sets_have_full_precision_recall_coverage_and_density_k_plus_one_over_k():
    x = _blob(300)
    assert {k: float(v) for k, v in precision_recall(x, x).items()} == {"precision": 1.0, "recall": 1.0}
    dc = density_coverage(x, x, k=5)
    assert float(dc["coverage"]) == 1.0
    assert float(dc["density"]) == pytest.approx(6 / 5)  # each ball holds its centre and its 5 neighbours


def test_two_samples_of_one_distribution_score_near_one():
    pr, dc = precision_recall(_blob(500, seed=1), _blob(500, seed=2)), density_coverage(_blob(500, seed=1), _blob(500, seed=2))
    assert pr["precision"] > 0.8 and pr["recall"] > 0.8
    assert 0.8 < dc["density"] < 1.2 and dc["coverage"] > 0.8


def test_disjoint_far_apart_sets_score_zero():
    real, fake = _blob(200), _blob(200, seed=1, shift=100.0)
    assert all(float(v) == 0.0 for v in {**precision_recall(real, fake), **density_coverage(real, fake)}.values())


def test_dropping_half_the_data_keeps_precision_and_loses_recall_and_coverage():
    real = _blob(400, d=2)
    fake = real[real[:, 0] > 0]  # the generator only produces the right half
    pr, dc = precision_recall(real, fake), density_coverage(real, fake)
    assert pr["precision"] == 1.0 and dc["density"] > 1.0
    assert 0.4 < pr["recall"] < 0.7 and 0.4 < dc["coverage"] < 0.7


def _brute_force(real: Tensor, fake: Tensor, k_pr: int, k_dc: int) -> dict[str, float]:
    """The paper definitions, written out with full distance matrices and explicit loops."""
    def radii(x, k):
        d = torch.cdist(x, x, compute_mode="donot_use_mm_for_euclid_dist")
        return torch.tensor([sorted(row[:i].tolist() + row[i + 1:].tolist())[k - 1] for i, row in enumerate(d)])
    d_rf = torch.cdist(real, fake, compute_mode="donot_use_mm_for_euclid_dist")  # [N, M]
    r3, f3, r5 = radii(real, k_pr), radii(fake, k_pr), radii(real, k_dc)
    return {
        "precision": sum(any(d_rf[i, j] <= r3[i] for i in range(len(real))) for j in range(len(fake))) / len(fake),
        "recall": sum(any(d_rf[i, j] <= f3[j] for j in range(len(fake))) for i in range(len(real))) / len(real),
        "density": float((d_rf <= r5[:, None]).sum()) / (k_dc * len(fake)),
        "coverage": float((d_rf.min(1).values <= r5).double().mean()),
    }


def test_precision_recall_density_coverage_match_brute_force_in_chunks_and_batches():
    real, fake = _blob(60, d=4, seed=3), _blob(45, d=4, seed=4, shift=0.5)
    expected = _brute_force(real.double(), fake.double(), 3, 5)
    got = {**precision_recall(real, fake, chunk=7), **density_coverage(real, fake, chunk=7)}
    assert {k: float(v) for k, v in got.items()} == pytest.approx(expected, abs=1e-12)
    pr, dc = PrecisionRecall(k=3), DensityCoverage(k=5)
    for metric in (pr, dc):
        for part in real.split(25):
            metric.update(part, real=True)
        for part in fake.split(20):
            metric.update(part, real=False)
    got = {**pr.compute(), **dc.compute()}
    assert {k: float(v) for k, v in got.items()} == pytest.approx(expected, abs=1e-12)


def test_prdc_metrics_need_both_sets_and_a_valid_k():
    m = PrecisionRecall()
    m.update(_blob(10), real=True)
    with pytest.raises(GankitError):
        m.compute()
    with pytest.raises(GankitError):
        DensityCoverage(k=0)


def _counting(extract, calls: list):
    return lambda x, **kw: calls.append(len(x)) or extract(x, **kw)


def test_image_metrics_computes_every_metric_from_one_extraction(digit, halves, monkeypatch):
    monkeypatch.setattr(digit, "extract", _counting(digit.extract, calls := []))
    out = image_metrics(halves[0], halves[1], digit)
    assert calls == [500, 500]  # fakes (features and logits together), reals
    assert set(out) == {"fid", "kid", "kid_std", "is", "is_std", "precision", "recall", "density", "coverage"}
    assert all(isinstance(v, float) and math.isfinite(v) for v in out.values())
    assert out["precision"] > 0.8 and out["recall"] > 0.8 and out["coverage"] > 0.8
    with pytest.raises(GankitError, match="unknown image metric"):
        image_metrics(halves[0], halves[1], digit, metrics=("fid", "lpips"))


# ---------------------------------------------------------------------------------- class coverage


def test_real_held_out_digits_cover_every_class_evenly(digit, mnist, held):
    out = class_coverage(mnist.batch(held).x, digit)
    assert out["classes"] == 10 and out["kl"] < 0.05 and out["confident"] > 0.9 and out["n"] == 1000


def test_copies_of_one_digit_cover_one_class_with_kl_log_ten(digit, mnist, held):
    copies = mnist.batch(held[:1]).x.repeat(200, 1, 1, 1)
    out = class_coverage(copies, digit)
    assert out["classes"] == 1 and out["kl"] == pytest.approx(math.log(10), abs=1e-12)
    assert max(out["counts"]) == 200
    # Against the data's own class histogram: balanced labels (mnist5k) = uniform; data of that one class: KL 0.
    assert class_coverage(copies, digit, data_labels=mnist.y)["kl"] == pytest.approx(math.log(10), abs=1e-12)
    one_class = torch.full((50,), out["counts"].index(200))
    assert class_coverage(copies, digit, data_labels=one_class)["kl"] == pytest.approx(0.0, abs=1e-12)


def test_kl_divergence_against_a_class_histogram():
    assert histogram_kl(torch.tensor([3, 1]), torch.tensor([1, 1])) == pytest.approx(histogram_kl(torch.tensor([3, 1])))
    assert histogram_kl(torch.tensor([1, 3]), torch.tensor([1, 3])) == pytest.approx(0.0, abs=1e-12)
    assert histogram_kl(torch.tensor([1, 1]), torch.tensor([1, 0])) == math.inf  # samples of a class the data lacks


def test_stacked_mnist_counts_the_digit_triples_of_real_stacks(digit, mnist, held):
    g = torch.Generator().manual_seed(0)
    idx = held[torch.randint(0, len(held), (400, 3), generator=g)]  # [400, 3]: one digit per channel
    stacks = mnist.batch(idx.flatten()).x.reshape(400, 3, 32, 32)
    out = stacked_mnist_modes(stacks, digit)
    labels = mnist.y[idx]
    true_modes = len((labels[:, 0] * 100 + labels[:, 1] * 10 + labels[:, 2]).unique())  # ~1000·(1 − e^−0.4)
    assert out["max_modes"] == 1000 and out["n"] == 400
    assert abs(out["modes"] - true_modes) <= 10 and out["modes"] > 300
    collapsed = stacked_mnist_modes(stacks[:1].repeat(50, 1, 1, 1), digit)
    assert collapsed["modes"] == 1 and collapsed["kl"] == pytest.approx(math.log(1000), abs=1e-12)
    with pytest.raises(GankitError):
        stacked_mnist_modes(stacks[:, :1], digit)


# ---------------------------------------------------------------------------------- feature networks


def test_extractor_adapts_channels_sizes_and_uint8(digit, mnist, held):
    x8 = mnist.x[held[:8]]
    gray = mnist.decode(x8)
    f = digit.features(gray)
    assert f.shape == (8, 128) and digit.num_features == 128 and digit.input_size == (1, 32, 32)
    assert torch.allclose(digit.features(x8), f)                           # uint8 is decoded
    assert torch.allclose(digit.features(gray.repeat(1, 3, 1, 1)), f, atol=1e-4)  # RGB gray → luma = gray
    assert digit.features(torch.nn.functional.pad(gray, (4, 4, 4, 4), value=-1)).shape == (8, 128)  # 40x40 resized
    assert digit.logits(gray).shape == (8, 10) and digit.has_logits
    with pytest.raises(GankitError):
        digit.features(gray.repeat(1, 2, 1, 1))


class ChannelMeans(nn.Module):
    """Features = the mean of each input channel: shows exactly which values the module receives."""

    def __init__(self, input_size=None, input_range=None):
        super().__init__()
        if input_size is not None:
            self.input_size = input_size
        if input_range is not None:
            self.input_range = input_range

    def forward(self, x: Tensor) -> Tensor:
        return x.mean((2, 3))


class FixedSize(nn.Module):
    """Runs on 1×28×28 inputs only (a Linear over the flattened image), 4-D output; exports logits."""

    def __init__(self):
        super().__init__()
        self.body = nn.Linear(28 * 28, 6)
        self.head = nn.Linear(6, 3)

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x.flatten(1))[:, :, None, None]  # [B, 6, 1, 1]: flattened by the loader

    @torch.jit.export
    def logits(self, x: Tensor) -> Tensor:
        return self.head(self.body(x.flatten(1)))


def _save(module: nn.Module, path) -> str:
    torch.jit.script(module).save(str(path))
    return str(path)


def test_torchscript_module_with_input_size_receives_images_in_zero_one(tmp_path):
    ex = load_torchscript_features(_save(ChannelMeans(input_size=(3, 8, 8)), tmp_path / "means.pt"))
    assert ex.input_size == (3, 8, 8) and ex.num_features == 3 and not ex.has_logits
    x = torch.stack([torch.full((1, 16, 16), -1.0), torch.full((1, 16, 16), 1.0), torch.zeros(1, 16, 16)])
    assert torch.allclose(ex.features(x), torch.tensor([[0.0] * 3, [1.0] * 3, [0.5] * 3]))  # [-1,1] → [0,1], gray → RGB
    assert ex.logits(x) is None
    out = image_metrics(x.repeat(4, 1, 1, 1), x.repeat(4, 1, 1, 1), ex, metrics=("fid", "is"))
    assert set(out) == {"fid"}  # no logits: no Inception Score


def test_torchscript_module_can_ask_for_gankit_range(tmp_path):
    ex = load_torchscript_features(_save(ChannelMeans(input_size=[1, 4, 4], input_range=[-1.0, 1.0]), tmp_path / "m.pt"))
    x = torch.full((2, 3, 9, 9), -0.5)
    assert ex.input_size == (1, 4, 4) and torch.allclose(ex.features(x), torch.full((2, 1), -0.5))  # RGB → luma


def test_torchscript_module_without_input_size_is_probed(tmp_path):
    ex = load_torchscript_features(_save(ChannelMeans(), tmp_path / "any.pt"))
    assert ex.input_size == (3, 299, 299)  # runs on any size: the first probe wins
    fixed = load_torchscript_features(_save(FixedSize(), tmp_path / "fixed.pt"))
    assert fixed.input_size == (1, 28, 28) and fixed.num_features == 6 and fixed.has_logits
    x = torch.rand(20, 1, 32, 32) * 2 - 1
    assert fixed.features(x).shape == (20, 6) and fixed.logits(x).shape == (20, 3)
    out = image_metrics(x[:10], x[10:], fixed, metrics=("fid", "is", "pr"))
    assert set(out) == {"fid", "is", "is_std", "precision", "recall"}


class WrongRank(nn.Module):
    def forward(self, x: Tensor) -> Tensor:
        return x.mean(1)  # [B, H, W]


class NoSizeWorks(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(5, 4)

    def forward(self, x: Tensor) -> Tensor:
        return self.lin(x.flatten(1))


def _bad_files(tmp_path) -> dict[str, str]:
    (tmp_path / "text.pt").write_text("not a model")
    torch.save({"weight": torch.zeros(3)}, tmp_path / "state.pt")
    return {
        "missing": str(tmp_path / "missing.pt"),
        "text": str(tmp_path / "text.pt"),
        "state_dict": str(tmp_path / "state.pt"),
        "wrong_rank": _save(WrongRank(), tmp_path / "rank.pt"),
        "no_size": _save(NoSizeWorks(), tmp_path / "nosize.pt"),
        "bad_declared": _save(ChannelMeans(input_size=(4, 8, 8)), tmp_path / "declared.pt"),
    }


@pytest.mark.parametrize("case", ["missing", "text", "state_dict", "wrong_rank", "no_size", "bad_declared"])
def test_bad_feature_files_raise_one_line_errors_naming_the_file(tmp_path, case):
    path = _bad_files(tmp_path)[case]
    with pytest.raises(GankitError) as info:
        load_torchscript_features(path)
    message = str(info.value)
    assert path in message and "\n" not in message
