"""musegan and crnngan beyond the contract: latent modes, binarisation, track-conditional generation,
pretraining, and the CLI from training to .mid/.png/.wav files and metrics."""

import mido
import numpy as np
import pytest
import torch

import gankit
from gankit.cli import main
from gankit.errors import GankitError
from gankit.nets.musegan import MuseCritic, MuseGenerator
from gankit.recipes import resolve_config
from gankit.train import Trainer


def make(name, data, **overrides):
    cls = gankit.get_recipe(name)
    cfg, _ = resolve_config(cls, data.spec.kind, "smoke", overrides)
    return cls(cfg, data.spec)


@pytest.mark.parametrize("mode", ["jamming", "composer", "hybrid"])
def test_latents_are_private_shared_or_both(mode):
    torch.manual_seed(0)
    G = MuseGenerator(mode, tracks=3, z_dim=4, bars=2, steps=8, pitches=20, width=8).eval()
    z = torch.randn(2, MuseGenerator.latent_size(mode, 3, 4))
    out = G(z)
    assert out.shape == (2, 3, 16, 20) and 0 < out.min() and out.max() < 1
    z2 = z.clone()
    z2[:, -8:] += 1.0  # the last latents: track 2's private pair (jamming, hybrid), the shared pair (composer)
    changed = [not torch.allclose(G(z2)[:, k], out[:, k]) for k in range(3)]
    assert changed == {"jamming": [False, False, True], "hybrid": [False, False, True],
                       "composer": [True, True, True]}[mode]


def test_the_critics_chroma_stream_sees_pitch_classes_per_beat_across_octaves(tiny_pianoroll):
    D = MuseCritic(tracks=2, bars=2, steps=8, pitches=30, width=4, chroma=True)     # beats of 2 steps
    x = torch.zeros(1, 2, 16, 30)
    x[0, 0, 0:2, 3] = x[0, 0, 0:2, 15] = 1.0       # track 0: one pitch class in two octaves, all of beat 0
    x[0, 1, 2:3, 27] = 1.0                          # track 1: pitch 27 (class 3) for half of beat 1
    profile = D.chroma_profile(x)
    assert profile.shape == (1, 2, 8, 12)
    expected = torch.zeros(1, 2, 8, 12)
    expected[0, 0, 0, 3], expected[0, 1, 1, 3] = 2.0, 0.5
    assert torch.equal(profile, expected)
    # the same notes one octave apart leave the chroma stream's view unchanged
    moved = x.clone()
    moved[0, 1, 2:3, 27], moved[0, 1, 2:3, 15] = 0.0, 1.0
    assert torch.equal(D.chroma_profile(moved), profile)
    plain = make("musegan", tiny_pianoroll, D_chroma=False).build_nets()["D"]
    assert plain.chroma is None
    trainer = Trainer(make("musegan", tiny_pianoroll), tiny_pianoroll, progress=False)
    before = [p.detach().clone() for p in trainer.nets["D"].chroma.parameters()]
    trainer.train_step()                            # the critic's steps train the chroma stream too
    assert all(not torch.equal(a, p) for a, p in zip(before, trainer.nets["D"].chroma.parameters()))


def test_a_run_saved_before_the_chroma_stream_existed_loads_without_it(tiny_pianoroll, tmp_path):
    from gankit.recipes.base import recipe_from_header
    from gankit.train import checkpoint

    assert make("musegan", tiny_pianoroll).cfg.D_chroma                       # new runs have it
    trainer = Trainer(make("musegan", tiny_pianoroll, D_chroma=False), tiny_pianoroll, tmp_path, progress=False)
    trainer.fit()
    header = checkpoint.read_header(next((tmp_path / "checkpoints").glob("*.safetensors")))
    del header["config"]["D_chroma"]                  # as gankit wrote it before the setting existed
    rec = recipe_from_header(header)
    assert not rec.cfg.D_chroma
    rec.build_nets()["D"].load_state_dict(trainer.nets["D"].state_dict())    # the weights fit


def test_binarisation_threshold_bernoulli_or_none(tiny_pianoroll):
    recipe = make("musegan", tiny_pianoroll)
    nets = recipe.build_nets()

    def draw(how, seed=0):
        return recipe.sample(nets, 4, generator=torch.Generator().manual_seed(seed), binarize=how)

    probs, hard, coin = draw("none"), draw("threshold"), draw("bernoulli")
    assert torch.equal(hard, (probs > 0.5).float()) and set(coin.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(coin, draw("bernoulli")) and not torch.equal(coin, draw("bernoulli", seed=1))
    assert 0.3 < coin.mean() / probs.mean() < 3  # Bernoulli draws keep the density G asks for


@pytest.mark.parametrize("how", ["deterministic", "stochastic"])
def test_binary_neurons_are_0_1_forward_and_straight_through_backward(how):
    from gankit.recipes.musegan import binary_neurons

    torch.manual_seed(0)
    probs = torch.rand(2, 3, 16, 20, requires_grad=True)
    out = binary_neurons(probs, how)
    assert set(out.unique().tolist()) == {0.0, 1.0}
    if how == "deterministic":
        assert torch.equal(out, (probs > 0.5).float())
    else:                                        # on about as often as G asks for, and not just where p > 0.5
        assert abs(out.mean() - probs.mean()) < 0.05 and not torch.equal(out, (probs > 0.5).float())
    weights = torch.randn_like(probs)
    (out * weights).sum().backward()
    assert torch.equal(probs.grad, weights)      # ∂b/∂p := 1: G learns through the hard decision
    assert binary_neurons(probs, "none") is probs


def test_with_binary_neurons_the_critic_judges_binary_phrases(tiny_pianoroll):
    seen = []
    trainer = Trainer(make("musegan", tiny_pianoroll, binary_neurons="deterministic"), tiny_pianoroll,
                      progress=False)
    trainer.nets["D"].register_forward_hook(lambda net, args, out: seen.append(args[0].detach()))
    before = [p.detach().clone() for p in trainer.nets["G"].parameters()]
    trainer.train_step()
    assert seen and all(set(x.unique().tolist()) <= {0.0, 1.0} for x in seen[:2])  # real and fake, no GP mix
    assert any(not torch.equal(a, p) for a, p in zip(before, trainer.nets["G"].parameters()))  # G still learns
    with pytest.raises(GankitError, match="binary_neurons"):
        make("musegan", tiny_pianoroll, binary_neurons="soft")


def test_a_fresh_refiner_returns_gs_probabilities_and_each_track_refines_privately():
    from gankit.nets.musegan import Refiner

    torch.manual_seed(0)
    R = Refiner(tracks=2, units=2, width=3)
    probs = torch.rand(4, 2, 16, 20) * 0.98 + 0.01
    assert torch.allclose(R(probs), probs, atol=1e-5)          # the zero head: stage 2 starts where G was
    opt = torch.optim.Adam(R.parameters(), lr=1e-2)
    for _ in range(5):
        opt.zero_grad()
        R(probs)[:, 1].mean().backward()                      # push track 1's notes down
        opt.step()
    refined = R(probs)
    assert refined[:, 1].mean() < probs[:, 1].mean() - 0.01
    other = probs.clone()
    other[:, 0] = torch.rand(4, 16, 20)
    assert torch.equal(R(other)[:, 1], refined[:, 1])          # track 1 never sees track 0 (grouped convs)


def test_a_dilated_refiner_sees_two_bars_where_the_plain_one_sees_eleven_steps():
    from gankit.nets.musegan import Refiner

    def steps_seen(dilate: bool) -> int:
        torch.manual_seed(0)
        R = Refiner(tracks=1, units=2, width=2, dilate=dilate)
        for conv in (m for m in R.modules() if isinstance(m, torch.nn.Conv2d)):
            torch.nn.init.normal_(conv.weight, std=0.05)            # a trained R, not the zero head
            torch.nn.init.constant_(conv.bias, 0.1)
        probs = (torch.rand(1, 1, 64, 16) * 0.9 + 0.05).requires_grad_()
        R(probs)[0, 0, 32].sum().backward()                         # one step's output ...
        return int((probs.grad[0, 0].abs().sum(1) > 0).sum())       # ... depends on this many steps

    assert steps_seen(dilate=False) == 11
    assert steps_seen(dilate=True) == 33                            # two 16-step bars and one


def test_the_second_stage_trains_the_refiner_and_the_critic_with_g_as_loaded(tiny_pianoroll, tmp_path):
    first = Trainer(make("musegan", tiny_pianoroll), tiny_pianoroll, tmp_path / "first", progress=False)
    first.train_step()
    weights = first.save_checkpoint()
    recipe = make("musegan", tiny_pianoroll, refiner=1, train_G=False, binary_neurons="deterministic")
    second = Trainer(recipe, tiny_pianoroll, tmp_path / "second", progress=False)
    second.warm_start(weights)
    assert set(second.optimizers) == {"R", "D"}
    G_loaded = {k: v.clone() for k, v in second.nets["G"].state_dict().items()}
    assert all(torch.equal(v, first.nets["G"].state_dict()[k]) for k, v in G_loaded.items())
    R_before = [p.detach().clone() for p in second.nets["R"].parameters()]
    seen = []
    second.nets["D"].register_forward_hook(lambda net, args, out: seen.append(args[0].detach()))
    second.train_step()
    assert all(torch.equal(v, second.nets["G"].state_dict()[k]) for k, v in G_loaded.items())  # BN stats too
    assert any(not torch.equal(a, p) for a, p in zip(R_before, second.nets["R"].parameters()))
    assert all(set(x.unique().tolist()) <= {0.0, 1.0} for x in seen[:2])
    out = recipe.sample(second.nets, 3, generator=torch.Generator().manual_seed(0), binarize="none")
    with torch.no_grad():
        second.nets["G"].eval()
        z = recipe.latent(3, torch.Generator().manual_seed(0))
        assert torch.allclose(out, second.nets["R"](second.nets["G"](z)))  # samples go through R
    with pytest.raises(GankitError, match="add a refiner"):
        make("musegan", tiny_pianoroll, train_G=False)


def test_a_refiner_keeps_the_given_melody(tiny_pianoroll):
    recipe = make("musegan", tiny_pianoroll, condition_track="upper", refiner=1)
    trainer = Trainer(recipe, tiny_pianoroll, progress=False)
    trainer.train_step()
    melody = tiny_pianoroll.batch(torch.arange(3)).x[:, 0]
    out = recipe.sample(trainer.nets, 3, generator=torch.Generator().manual_seed(0), condition=melody)
    assert torch.equal(out[:, 0], melody)


def test_track_conditional_generation_keeps_the_given_melody(tiny_pianoroll):
    recipe = make("musegan", tiny_pianoroll, condition_track="upper")
    trainer = Trainer(recipe, tiny_pianoroll, progress=False)
    trainer.train_step()
    melody = tiny_pianoroll.batch(torch.arange(3)).x[:, 0]
    out = recipe.sample(trainer.nets, 3, generator=torch.Generator().manual_seed(0), condition=melody)
    assert torch.equal(out[:, 0], melody)  # the soprano is given, the rest is generated
    banked = recipe.sample(trainer.nets, 2, generator=torch.Generator().manual_seed(0))
    assert int(trainer.nets["melodies"].count) == recipe.cfg.batch_size and banked.shape == (2, *tiny_pianoroll.spec.shape)
    with pytest.raises(GankitError, match="must be"):
        recipe.sample(trainer.nets, 1, condition=torch.zeros(5, 5))
    with pytest.raises(GankitError, match="has the tracks upper, lower"):
        make("musegan", tiny_pianoroll, condition_track="soprano")
    plain = make("musegan", tiny_pianoroll)
    with pytest.raises(GankitError, match="no condition track"):
        plain.sample(plain.build_nets(), 1, condition=melody[:1])


def test_crnngan_pretrains_g_alone_then_plays_the_game(tiny_events):
    recipe = make("crnngan", tiny_events, pretrain_steps=2)
    runs = {p.name: [p.runs_at(s) for s in range(4)] for p in recipe.phases()}
    assert runs == {"G_pretrain": [1, 1, 0, 0], "D": [0, 0, 1, 1], "G": [0, 0, 1, 1]}
    trainer = Trainer(recipe, tiny_events, progress=False)
    trainer.train_step()
    assert "loss/G_pretrain" in trainer.stats.summary() and "loss/D" not in trainer.stats.summary()


def test_crnngan_feature_matching_or_the_adversarial_loss(tiny_events):
    for fm in (True, False):
        trainer = Trainer(make("crnngan", tiny_events, feature_matching=fm), tiny_events, progress=False)
        trainer.train_step()
        assert ("loss/G_adversarial" in trainer.stats.summary()) == fm


def test_teacher_forcing_is_the_free_run_when_fed_its_own_outputs(tiny_events):
    G = make("crnngan", tiny_events).build_nets()["G"]
    z = torch.rand(2, 8, G.z_dim)
    free = G(z)
    assert torch.allclose(G(z, teacher=free), free, atol=1e-6)


def band_folder(tmp_path, monkeypatch):
    """A folder of two small band songs (piano, bass, drums), with gankit's cache inside tmp_path."""
    from test_music_data import band

    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "midi"
    folder.mkdir()
    for i in range(2):
        band(folder / f"song{i}.mid")
    return folder


def test_train_sample_eval_from_the_cli(tmp_path, capsys, monkeypatch):
    folder = band_folder(tmp_path, monkeypatch)
    assert main(["train", "musegan", "--data", f"midi:{folder}", "--preset", "smoke", "--set",
                 "music.tracks=piano,bass,drums", "--set", "music.transpose=false", "--out", str(tmp_path / "runs"),
                 "--no-progress"]) == 0
    [run] = (tmp_path / "runs").iterdir()
    assert sorted(p.name for p in (run / "samples").iterdir()) == ["step-0000001.png", "step-0000002.png"]
    assert main(["sample", str(run), "--n", "2", "--out", str(tmp_path / "songs")]) == 0
    files = sorted(p.name for p in (tmp_path / "songs").iterdir())
    assert files == [f"sample-00{i}.{x}" for i in range(2) for x in ("mid", "png", "wav")]
    mid = mido.MidiFile(tmp_path / "songs" / "sample-000.mid")
    assert [t.name for t in mid.tracks[1:]] == ["piano", "bass", "drums"]
    drums = [m for m in mid.tracks[3] if m.type == "note_on"]
    assert all(m.channel == 9 for m in drums)
    music21 = pytest.importorskip("music21")
    assert len(music21.converter.parse(str(tmp_path / "songs" / "sample-000.mid")).parts) >= 1
    assert main(["sample", str(run), "--n", "2", "--out", str(tmp_path / "x.png")]) == 2
    capsys.readouterr()
    assert main(["eval", str(run), "--n", "16", "--json"]) == 0
    import json

    scores = json.loads(capsys.readouterr().out)["metrics"]
    assert {"EB/piano", "UPC/bass", "QN/drums", "TD/piano-bass", "data/EB/piano", "polyphony"} <= set(scores)
    assert scores["data/EB/bass"] == 0.0  # the bass plays in every bar of the data
    assert np.isfinite(scores["data/TD/piano-bass"])


def test_a_melody_from_a_midi_file_is_harmonised(tiny_pianoroll, tiny_events, tmp_path):
    from gankit.data.midi import write_midi
    from gankit.data.music import melody_roll

    recipe = make("musegan", tiny_pianoroll, condition_track="upper")
    nets = recipe.build_nets()
    lowest = tiny_pianoroll.spec.meta["lowest_pitch"]
    path = write_midi(tmp_path / "tune.mid", np.array([[0, 0, 8, lowest + 3, 90], [0, 8, 40, lowest + 5, 90]],
                                                     np.int32), [{"name": "tune"}])
    melody = melody_roll(path, tiny_pianoroll.spec)
    assert melody.shape == tiny_pianoroll.spec.shape[1:] and melody[:8, 3].all() and melody[8:, 5].all()
    out = recipe.sample(nets, 2, generator=torch.Generator().manual_seed(0), condition=melody)
    assert torch.equal(out[:, 0], melody.expand(2, -1, -1))
    high = write_midi(tmp_path / "high.mid", np.array([[0, 0, 4, 127, 90]], np.int32), [{"name": "x"}])
    with pytest.raises(GankitError, match="outside the run's range"):
        melody_roll(high, tiny_pianoroll.spec)
    with pytest.raises(GankitError, match="draws events data, not pianorolls"):
        melody_roll(path, tiny_events.spec)


def test_the_report_embeds_audio_players(tiny_events, tmp_path):
    from gankit.report import media_files, render_html, render_markdown

    run = gankit.train("crnngan", tiny_events, preset="smoke", out=tmp_path, progress=False)
    media = media_files(run.path, run.path / "report")
    assert [p.name for p in media] == [f"sample-00{i}.wav" for i in range(4)]
    doc = {"title": "t", "summary": [], "warnings": [], "metrics": {}, "final": None, "classes": None,
           "grids": [], "curves": [], "final_stats": {}, "media": media}
    page = render_html(doc)
    assert page.count("<audio controls") == 4 and "data:audio/wav;base64,UklGR" in page  # "RIFF" in base64
    assert "(report/audio/sample-000.wav)" in render_markdown(doc, run.path)


def test_sample_harmonises_a_melody_file_from_the_cli(tmp_path, capsys, monkeypatch):
    from test_music_data import band, midi_file

    from gankit.data.midi import parse_selectors, read_midi

    folder = band_folder(tmp_path, monkeypatch)
    runs = tmp_path / "runs"
    for extra in (["--set", "condition_track=piano"], []):
        assert main(["train", "musegan", "--data", f"midi:{folder}", "--preset", "smoke", "--set",
                     "music.tracks=piano,bass", "--set", "music.transpose=false", "--out", str(runs),
                     "--no-progress", *extra]) == 0
    conditional, plain = sorted(runs.iterdir())
    tune = band(tmp_path / "tune.mid")
    songs = tmp_path / "songs"
    assert main(["sample", str(conditional), "--n", "2", "--melody", str(tune), "--melody-tracks", "piano",
                 "--out", str(songs)]) == 0
    given = read_midi(tune, parse_selectors("piano"))
    steps = gankit.load(conditional).spec.shape[1]
    given = given[given[:, 1] < steps]
    for i in range(2):
        written = read_midi(songs / f"sample-00{i}.mid", parse_selectors("name:piano"))
        assert written[:, 1:4].tolist() == given[:, 1:4].tolist()  # onsets, ends and pitches of the melody
    capsys.readouterr()
    assert main(["sample", str(plain), "--melody", str(tune), "--out", str(tmp_path / "x")]) == 2
    assert "no condition track" in capsys.readouterr().err
    assert main(["sample", str(conditional), "--melody", str(tmp_path / "none.mid"), "--out", str(songs)]) == 2
    assert "none.mid: no such file" in capsys.readouterr().err
    midi_file(tmp_path / "high.mid", [("Piano", 0, 0, [(0, 480, 120)])])
    assert main(["sample", str(conditional), "--melody", str(tmp_path / "high.mid"), "--out", str(songs)]) == 2
    assert "outside the run's range" in capsys.readouterr().err
