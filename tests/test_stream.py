"""Streamed image folders: the same pixels as the in-memory loader, prefetched by worker processes,
deterministic, resumable, robust to a file that breaks mid-training, and no workers left behind."""

import json
import multiprocessing

import numpy as np
import pytest
import torch
from PIL import Image

import gankit
from gankit.data import load_dataset
from gankit.data.stream import ImageFolderStream
from gankit.errors import GankitError
from gankit.train import Trainer, checkpoint


@pytest.fixture
def folder(tmp_path):
    """20 RGB images of varied sizes and formats in two class sub-folders."""
    rng = np.random.default_rng(0)
    for i in range(20):
        h, w = rng.integers(20, 48, size=2)
        img = Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
        sub = tmp_path / "imgs" / ("cats" if i % 2 else "dogs")
        sub.mkdir(parents=True, exist_ok=True)
        img.save(sub / f"{i:02d}.{'png' if i % 3 else 'jpg'}")
    return tmp_path / "imgs"


def test_a_streamed_batch_equals_the_in_memory_one(folder):
    memory = load_dataset(f"folder:{folder}", resolution=16, stream="memory")
    with ImageFolderStream(str(folder), resolution=16, workers=2) as stream:
        assert stream.spec.shape == memory.spec.shape == (3, 16, 16) and len(stream) == len(memory)
        assert stream.spec.class_names == memory.spec.class_names
        idx = torch.tensor([3, 0, 19, 7, 7])
        a, b = memory.batch(idx), stream.batch(idx)
        assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y)
        stream.prefetch(torch.tensor([1, 2]))
        assert torch.equal(stream.batch(torch.tensor([1, 2])).x, memory.batch(torch.tensor([1, 2])).x)


def test_streaming_is_deterministic_whatever_the_workers(folder):
    idx = torch.tensor([5, 11, 2])
    with ImageFolderStream(str(folder), 16, workers=1) as one, ImageFolderStream(str(folder), 16, workers=3) as three:
        assert torch.equal(one.batch(idx).x, three.batch(idx).x)


def test_a_file_broken_mid_training_is_replaced_with_one_warning(folder, capsys):
    with ImageFolderStream(str(folder), 16, workers=1) as stream:
        broken = stream.files[4]
        broken.write_bytes(b"not an image")
        x = stream.batch(torch.tensor([4, 4])).x
        assert torch.equal(x[0], stream.batch(torch.tensor([5])).x[0])  # the next readable file stands in
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and broken.name in err and "training goes on" in err  # once


def test_bad_folders_are_one_line_errors(tmp_path):
    with pytest.raises(GankitError, match="no such folder"):
        ImageFolderStream(str(tmp_path / "missing"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(GankitError, match="no images found"):
        ImageFolderStream(str(tmp_path / "empty"))


def test_training_on_a_stream_resumes_bit_exactly_and_leaves_no_workers(folder, tmp_path):
    def trainer(run):
        rec, data, _ = gankit.build("gan", f"folder:{folder}", preset="smoke",
                                    overrides={"resolution": 16, "stream": "disk", "steps": 4, "data_workers": 2})
        assert not data.in_memory
        return Trainer(rec, data, tmp_path / run, progress=False)

    straight = trainer("a")
    straight.fit()
    first = trainer("b")
    first.fit(2)
    resumed = trainer("b")
    resumed.restore(checkpoint.latest(tmp_path / "b" / "checkpoints"))
    resumed.fit()
    for name in straight.nets:
        for k, v in straight.nets[name].state_dict().items():
            assert torch.equal(v, resumed.nets[name].state_dict()[k]), (name, k)
    assert not multiprocessing.active_children()  # fit() closed the workers


def test_two_ranks_on_a_streamed_folder_match_one_process(folder, tmp_path):
    # each rank decodes only its shard of every global batch, from the same shuffled order
    from test_distributed import HERE, SETS, torchrun

    sets = [*SETS, "resolution=16", "stream=disk", "data_workers=1", "D.norm=none"]
    torchrun(HERE / "dist_worker.py", tmp_path, "gan", f"folder:{folder}", *sets)
    assert json.loads((tmp_path / "result.json").read_text())["max_rank_diff"] == 0.0
    rec, data, _ = gankit.build("gan", f"folder:{folder}", preset="smoke", overrides=dict(s.split("=") for s in sets))
    single = Trainer(rec, data, None, progress=False)
    single.fit()
    flat = torch.cat([p.detach().flatten() for n in ("G", "D") for p in single.nets[n].parameters()])
    assert torch.allclose(flat, torch.load(tmp_path / "params.pt"), atol=1e-5)
