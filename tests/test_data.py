import math

import numpy as np
import pytest
import torch
from PIL import Image

from gankit.data import BatchSampler, load_dataset
from gankit.data.toy import grid_means, ring_means
from gankit.errors import GankitError


def test_ring8_protocol():
    ds = load_dataset("ring8")
    means = torch.tensor(ds.spec.meta["means"])
    assert means.shape == (8, 2) and ds.spec.meta["std"] == 0.01
    angles = torch.atan2(means[:, 1], means[:, 0]) % (2 * math.pi)
    assert torch.allclose(angles.sort().values, torch.arange(8) * 2 * math.pi / 8, atol=1e-5)  # 2πk/8, no repeat
    assert torch.allclose(means.norm(dim=1), torch.ones(8), atol=1e-6)
    offsets = ds.x - means[ds.y]
    assert abs(offsets.std().item() - 0.01) < 5e-4
    assert torch.equal(ring_means(), ring_means())


def test_grid25_protocol():
    ds = load_dataset("grid25")
    assert ds.spec.num_classes == 25 and len(ds) == 100_000
    means = grid_means()
    assert set(means[:, 0].tolist()) == {-4.0, -2.0, 0.0, 2.0, 4.0}
    offsets = ds.x - means[ds.y]
    assert abs(offsets.std().item() - 0.05) < 1e-3
    counts = torch.bincount(ds.y, minlength=25).float()
    assert counts.min() > 0.9 * counts.mean()
    assert torch.equal(load_dataset("grid25").x[:10], ds.x[:10])  # fixed data seed


def test_mnist5k_is_padded_labelled_and_cached():
    from gankit.paths import cache_dir

    ds = load_dataset("mnist5k")
    assert ds.x.shape == (5000, 1, 32, 32) and ds.x.dtype == torch.uint8
    assert torch.bincount(ds.y).tolist() == [500] * 10
    assert ds.x[:, :, :2].max() == 0 and ds.x[:, :, -2:].max() == 0  # the 2-pixel zero padding
    assert (cache_dir("datasets") / "mnist5k_x.npy").exists()
    batch = ds.batch(torch.arange(4))
    assert batch.x.min() >= -1 and batch.x.max() <= 1 and batch.x.dtype == torch.float32
    assert load_dataset("mnist5k", resolution=16).x.shape == (5000, 1, 16, 16)


def test_digits():
    ds = load_dataset("digits")
    assert ds.x.shape == (1797, 1, 8, 8) and ds.spec.num_classes == 10
    assert load_dataset("digits", resolution=16).spec.shape == (1, 16, 16)


def test_unknown_dataset():
    with pytest.raises(GankitError, match="unknown dataset 'mnist'"):
        load_dataset("mnist")


# ----------------------------------------------------------------------------- folder:PATH


def write_image(path, size=(40, 30), color=(200, 10, 10), mode="RGB"):
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = np.zeros((size[1], size[0], 3), dtype=np.uint8)
    arr[...] = color
    arr[: size[1] // 2] = 255 - np.array(color, dtype=np.uint8)
    Image.fromarray(arr).convert(mode).save(path)


def test_folder_rgb_any_format_resized_and_cropped(tmp_path):
    write_image(tmp_path / "a.png")
    write_image(tmp_path / "b.jpg", size=(64, 20))
    write_image(tmp_path / "c.bmp", size=(20, 80))
    write_image(tmp_path / "d.webp")
    (tmp_path / "notes.txt").write_text("not an image; ignored")
    ds = load_dataset(f"folder:{tmp_path}", resolution=16)
    assert ds.x.shape == (4, 3, 16, 16) and ds.spec.num_classes == 0 and ds.y is None
    assert ds.spec.name == f"folder-{tmp_path.name}"


def test_folder_grayscale_detected(tmp_path):
    for i in range(3):
        write_image(tmp_path / f"{i}.png", color=(i * 50,) * 3, mode="L")
    assert load_dataset(f"folder:{tmp_path}", resolution=16).x.shape == (3, 1, 16, 16)
    assert load_dataset(f"folder:{tmp_path}", resolution=16, channels=3).x.shape == (3, 3, 16, 16)


def test_folder_subfolders_are_classes(tmp_path):
    for cls in ("cats", "dogs"):
        for i in range(2):
            write_image(tmp_path / cls / f"{i}.png")
    ds = load_dataset(f"folder:{tmp_path}", resolution=16)
    assert ds.spec.class_names == ("cats", "dogs") and ds.y.tolist() == [0, 0, 1, 1]


def test_folder_skips_corrupt_files_with_one_warning(tmp_path, capsys):
    for i in range(5):
        write_image(tmp_path / f"{i}.png")
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    good = (tmp_path / "0.png").read_bytes()
    (tmp_path / "truncated.png").write_bytes(good[: len(good) // 2])
    ds = load_dataset(f"folder:{tmp_path}", resolution=16)
    assert len(ds) == 5
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "skipped 2 of 7" in err[0] and "broken.png" in err[0]


@pytest.mark.parametrize("setup,needle", [
    (lambda p: None, "no images found"),
    (lambda p: (p / "x.png").write_bytes(b"not a png at all"), "none of the 1 images could be read; x.png"),
])
def test_folder_bad_input_errors(tmp_path, setup, needle):
    setup(tmp_path)
    with pytest.raises(GankitError, match=needle):
        load_dataset(f"folder:{tmp_path}")


def test_folder_path_errors(tmp_path):
    with pytest.raises(GankitError, match="no such folder"):
        load_dataset(f"folder:{tmp_path / 'missing'}")
    f = tmp_path / "file.txt"
    f.write_text("hi")
    with pytest.raises(GankitError, match="is a file, not a folder"):
        load_dataset(f"folder:{f}")
    with pytest.raises(GankitError, match="needs a path"):
        load_dataset("folder:")


# ----------------------------------------------------------------------------- sampler


def test_batch_sampler_covers_epochs_and_resumes_exactly():
    a = BatchSampler(10, 4, seed=3)
    first = torch.cat([a.next() for _ in range(5)])  # 20 indices = 2 epochs
    assert sorted(first[:10].tolist()) == list(range(10))   # batches straddle epochs without gaps
    assert sorted(first[10:].tolist()) == list(range(10))
    assert not torch.equal(first[:10], first[10:])           # a new order each epoch
    b = BatchSampler(10, 4, seed=3)
    b.next()
    state = b.state_dict()
    expected = [b.next() for _ in range(4)]
    c = BatchSampler(10, 4, seed=99)
    c.load_state_dict(state)
    assert all(torch.equal(x, y) for x, y in zip(expected, [c.next() for _ in range(4)]))


def test_batch_sampler_each_epoch_is_a_permutation():
    s = BatchSampler(12, 3, seed=0)
    epoch = torch.cat([s.next() for _ in range(4)])
    assert sorted(epoch.tolist()) == list(range(12))


def test_batch_sampler_batch_larger_than_dataset():
    s = BatchSampler(3, 8, seed=0)
    assert len(s.next()) == 8


def test_vector_data_is_standardized_for_the_nets_and_mapped_back():
    from gankit.data.base import to_data_space

    ds = load_dataset("grid25")
    z = ds.all().x
    assert z.mean(0).abs().max() < 1e-3 and abs(z.std().item() - 1.0) < 1e-3  # one scale for both axes
    assert len(set(ds.spec.meta["scale"])) == 1
    assert torch.allclose(to_data_space(ds.spec, z), ds.x, atol=1e-5)
    table = torch.randn(100, 3) * torch.tensor([1.0, 10.0, 100.0]) + 5
    from gankit.data import from_tensors

    t = from_tensors(table)
    assert t.spec.kind == "table" and torch.allclose(t.all().x.std(0), torch.ones(3), atol=1e-4)
    images = load_dataset("digits")
    assert "shift" not in images.spec.meta


def test_stacked_mnist_has_independent_digit_channels():
    ds = load_dataset("stacked-mnist")
    mnist = load_dataset("mnist5k")
    assert ds.x.shape == (50_000, 3, 32, 32) and ds.spec.num_classes == 1000
    assert len(torch.unique(ds.y)) > 990  # nearly every one of the 1,000 triples occurs
    # channel c of sample i is an mnist5k digit whose label is the c-th decimal digit of the mode
    i = 123
    for c, digit in enumerate((int(ds.y[i]) // 100, int(ds.y[i]) // 10 % 10, int(ds.y[i]) % 10)):
        matches = (mnist.x[:, 0] == ds.x[i, c]).flatten(1).all(1)
        assert matches.any() and (mnist.y[matches] == digit).all()
