"""Neural style transfer: the arithmetic (Gram, AdaIN, colour), the feature-network loaders (torchvision and
vgg_normalised layouts checked against reference nn.Sequential nets built here), Gatys, the AdaIN recipe
end to end through the CLI, and bad input."""

import json

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

import gankit
from gankit.cli import main
from gankit.style import adain as A
from gankit.style import ops
from gankit.style.features import ADAIN_INDEX, TORCHVISION_INDEX, load_features, random_features
from gankit.style.gatys import GatysOptions, normalised_weights
from gankit.style.gatys import stylize as gatys
from gankit.style.images import read_image


def rand_image(h=32, w=32, seed=0):
    return torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(seed))


def save_png(path, array, mode=None):
    Image.fromarray(array, mode).save(path) if mode else Image.fromarray(array).save(path)
    return path


# ------------------------------------------------------------------ arithmetic


def test_gram_matrix_by_hand():
    f = torch.tensor([[[[1.0, 2.0], [0.0, -1.0]], [[3.0, 0.0], [1.0, 1.0]]]])  # C=2, H=W=2
    # rows: channel 0 = (1, 2, 0, -1), channel 1 = (3, 0, 1, 1); G = F F^T / (C H W) = / 8
    expected = torch.tensor([[6.0, 2.0], [2.0, 11.0]]) / 8
    assert torch.allclose(ops.gram(f)[0], expected)


def test_adain_gives_content_the_style_statistics_and_keeps_its_normalised_shape():
    content = torch.randn(2, 4, 8, 8) * 3 + 1
    style = torch.randn(2, 4, 6, 6) * 0.5 - 2
    out = ops.adain(content, style)
    (om, os_), (sm, ss), (cm, cs) = ops.mean_std(out), ops.mean_std(style), ops.mean_std(content)
    assert torch.allclose(om, sm, atol=1e-4) and torch.allclose(os_, ss, atol=1e-3)
    assert torch.allclose((out - om) / os_, (content - cm) / cs, atol=1e-3)
    assert ops.stats_loss(out, style).item() < 1e-6 < ops.stats_loss(content, style).item()


def test_total_variation_by_hand():
    x = torch.tensor([[[[0.0, 1.0], [2.0, 4.0]]]])
    # vertical diffs 2, 3 -> mean 6.5; horizontal diffs 1, 2 -> mean 2.5
    assert ops.total_variation(x).item() == pytest.approx(9.0)


def test_colour_helpers_round_trip_and_keep_the_contents_chrominance():
    x, y = rand_image(seed=1), rand_image(seed=2)
    assert torch.allclose(ops.yiq_to_rgb(ops.rgb_to_yiq(x)), x, atol=1e-5)
    mixed = ops.with_content_colour(x, y)
    inside = (mixed > 0.01) & (mixed < 0.99)  # where no clamping happened
    yiq_m, yiq_x, yiq_y = ops.rgb_to_yiq(mixed), ops.rgb_to_yiq(x), ops.rgb_to_yiq(y)
    ok = inside.all(1, keepdim=True)
    assert torch.allclose(yiq_m[:, :1][ok], yiq_x[:, :1][ok], atol=1e-4)      # luminance of the output
    assert torch.allclose(yiq_m[:, 1:2][ok], yiq_y[:, 1:2][ok], atol=1e-4)    # chrominance of the content


def test_style_weights_are_normalised_and_checked():
    assert normalised_weights([3, 1], 2) == [0.75, 0.25]
    assert normalised_weights(None, 4) == [0.25] * 4
    with pytest.raises(gankit.GankitError, match="sum to a positive number"):
        normalised_weights([1, -1], 2)
    with pytest.raises(gankit.GankitError, match="one weight per style"):
        normalised_weights([1], 2)


# ------------------------------------------------------------------ feature networks


def torchvision_features(seed=0) -> nn.Sequential:
    """torchvision's vgg19().features layout up to relu5_1 (29 modules), with random values."""
    torch.manual_seed(seed)
    layers, c = [], 3
    for v in [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512]:
        if v == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(c, v, 3, padding=1), nn.ReLU()]
            c = v
    return nn.Sequential(*layers)


def adain_vgg_normalised(seed=0) -> nn.Sequential:
    """The PyTorch port's vgg_normalised layout up to relu5_1 (1x1 colour conv, reflection pads, ceil pools)."""
    torch.manual_seed(seed)
    layers, c = [nn.Conv2d(3, 3, 1)], 3
    for v in [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512]:
        if v == "M":
            layers.append(nn.MaxPool2d(2, 2, ceil_mode=True))
        else:
            layers += [nn.ReflectionPad2d(1), nn.Conv2d(c, v, 3), nn.ReLU()]
            c = v
    return nn.Sequential(*layers)


def test_torchvision_vgg19_state_dict_loads_and_matches_the_reference_layout(tmp_path):
    ref = torchvision_features()
    torch.save({f"features.{k}": v for k, v in ref.state_dict().items()}, tmp_path / "vgg19.pth")
    net = load_features(f"vgg19:{tmp_path / 'vgg19.pth'}")
    x = rand_image(24, 24)
    mean, std = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1), torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    want = ref[:TORCHVISION_INDEX["conv4_1"] + 2]((x - mean) / std)  # up to relu4_1
    assert torch.allclose(net(x, ["relu4_1"])["relu4_1"], want, atol=1e-4)


def test_converted_vgg_normalised_matches_the_adain_layout(tmp_path):
    ref = adain_vgg_normalised(seed=1)
    torch.save(ref.state_dict(), tmp_path / "vgg_normalised.pth")
    assert main(["convert-vgg", str(tmp_path / "vgg_normalised.pth"), "--out", str(tmp_path / "v.safetensors")]) == 0
    net = load_features(f"vgg19:{tmp_path / 'v.safetensors'}")
    x = rand_image(27, 21)  # odd sizes: ceil-mode pooling must match too
    want = ref[:ADAIN_INDEX["conv4_1"] + 2](x)
    got = net(x, ["relu4_1"])["relu4_1"]
    assert got.shape == want.shape and torch.allclose(got, want, atol=1e-4)


def test_wrong_feature_files_are_one_line_errors(tmp_path, capsys):
    ref = torchvision_features()
    state = {f"features.{k}": v for k, v in ref.state_dict().items()}
    state["features.10.weight"] = torch.zeros(256, 128, 1, 1)
    torch.save(state, tmp_path / "bad_shape.pth")
    with pytest.raises(gankit.GankitError, match=r"features.10.weight has shape \[256, 128, 1, 1\]"):
        load_features(f"vgg19:{tmp_path / 'bad_shape.pth'}")
    torch.save({"fc.weight": torch.zeros(2, 2)}, tmp_path / "other.pth")
    with pytest.raises(gankit.GankitError, match="no features.0.weight|no 0.weight"):
        load_features(f"vgg19:{tmp_path / 'other.pth'}")
    (tmp_path / "text.pth").write_text("not weights")
    with pytest.raises(gankit.GankitError, match="not a readable weights file"):
        load_features(f"vgg19:{tmp_path / 'text.pth'}")
    with pytest.raises(gankit.GankitError, match="use random, vgg19:PATH"):
        load_features("resnet")
    assert main(["convert-vgg", str(tmp_path / "other.pth"), "--out", str(tmp_path / "o.safetensors")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no 2.weight" in err and not (tmp_path / "o.safetensors").exists()


def test_random_features_are_fixed_and_torchscript_features_work_in_gatys(tmp_path):
    a, b = random_features(), random_features()
    x = rand_image()
    assert torch.equal(a(x, ["relu3_1"])["relu3_1"], b(x, ["relu3_1"])["relu3_1"])

    class Tiny(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 8, 3, padding=1)

        def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
            f = torch.relu(self.conv(x))
            return {"relu1_1": f, "relu4_2": torch.nn.functional.avg_pool2d(f, 2)}

    torch.jit.script(Tiny()).save(str(tmp_path / "tiny.pt"))
    net = load_features(f"script:{tmp_path / 'tiny.pt'}")
    out, history = gatys(net, rand_image(seed=3), [rand_image(seed=4)],
                         opts=GatysOptions(iterations=5, style_layers=("relu1_1",)))
    assert out.shape == (1, 3, 32, 32) and history[-1]["loss"] < history[0]["loss"]
    with pytest.raises(gankit.GankitError, match="lack relu2_1, relu3_1, relu4_1, relu5_1"):
        gatys(net, rand_image(), [rand_image()], opts=GatysOptions(iterations=1))


# ------------------------------------------------------------------ images


def test_grey_rgba_palette_and_16_bit_images_read_as_rgb(tmp_path):
    rng = np.random.default_rng(0)
    grey = save_png(tmp_path / "g.png", rng.integers(0, 256, (20, 30), dtype=np.uint8))
    rgba = save_png(tmp_path / "a.png", rng.integers(0, 256, (20, 30, 4), dtype=np.uint8))
    deep = tmp_path / "d16.png"
    Image.fromarray(rng.integers(0, 65536, (20, 30), dtype=np.uint16).astype(np.uint16)).save(deep)
    palette = tmp_path / "p.png"
    Image.fromarray(rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)).convert("P").save(palette)
    for path in (grey, rgba, deep, palette):
        x = read_image(path)
        assert x.shape == (1, 3, 20, 30) and 0 <= x.min() and x.max() <= 1, path
    x16 = read_image(deep)
    assert len(torch.unique(x16)) > 256  # the 16 bits survive


def test_huge_images_are_resized_with_a_note(tmp_path, capsys):
    big = save_png(tmp_path / "big.png", np.zeros((300, 600, 3), np.uint8))
    x = read_image(big, max_side=100)
    assert x.shape == (1, 3, 50, 100)
    assert "resized to 100x50" in capsys.readouterr().err


# ------------------------------------------------------------------ Gatys


def test_gatys_moves_towards_the_style_and_preserves_colour_on_request():
    content, style = read_image("bundled:chelsea", 48), read_image("bundled:waves", 48)
    net = random_features()
    out, history = gatys(net, content, [style], opts=GatysOptions(iterations=30))
    assert history[-1]["style"] < 0.2 * history[0]["style"] and history[-1]["loss"] < history[0]["loss"]
    assert out.shape == content.shape and not torch.allclose(out, content, atol=0.05)
    kept, _ = gatys(net, content, [style], opts=GatysOptions(iterations=10, preserve_color=True))
    iq_kept, iq_content = ops.rgb_to_yiq(kept)[:, 1:], ops.rgb_to_yiq(content)[:, 1:]
    iq_plain = ops.rgb_to_yiq(out)[:, 1:]
    assert (iq_kept - iq_content).abs().mean() < 0.3 * (iq_plain - iq_content).abs().mean()


def test_gatys_blend_with_a_zero_weight_equals_the_single_style():
    content, s1, s2 = rand_image(seed=5), rand_image(seed=6), rand_image(seed=7)
    net = random_features()
    opts = GatysOptions(iterations=3)
    one, _ = gatys(net, content, [s1], opts=opts)
    blend, _ = gatys(net, content, [s1, s2], [1.0, 0.0], opts=opts)
    other, _ = gatys(net, content, [s1, s2], [0.5, 0.5], opts=opts)
    assert torch.allclose(one, blend, atol=1e-6) and not torch.allclose(one, other, atol=1e-3)


def test_gatys_cli_writes_the_image_and_its_loss_curve(tmp_path, capsys):
    out = tmp_path / "cat.png"
    code = main(["stylize", "--method", "gatys", "bundled:chelsea", "--style", "bundled:mosaic", "--size", "32",
                 "--iterations", "4", "--out", str(out), "--no-progress"])
    assert code == 0, capsys.readouterr().err
    assert Image.open(out).size == (32, 21)
    rows = json.loads((tmp_path / "cat_loss.json").read_text())
    assert len(rows) == 4 and {"content", "style", "tv", "loss"} <= set(rows[0])
    assert (tmp_path / "cat_loss.png").exists()


@pytest.mark.parametrize("args, message", [
    (["--weights", "1,-1", "--style", "bundled:waves"], "must sum to a positive number"),
    (["--style", "BROKEN"], "cannot read it as an image"),
    (["--style", "missing.png"], "no such file"),
    (["--style", "bundled:nothing"], "no such bundled image"),
    (["--alpha", "2", "--style", "bundled:waves"], "must be in"),
])
def test_bad_stylize_input_is_one_line_and_leaves_no_output(tmp_path, capsys, args, message):
    broken = tmp_path / "broken.png"
    broken.write_text("this is text, not a PNG")
    args = [str(broken) if a == "BROKEN" else a for a in args]
    out = tmp_path / "out.png"
    code = main(["stylize", "--method", "gatys", "bundled:chelsea", "--style", "bundled:waves", "--iterations", "2",
                 "--size", "16", "--out", str(out), "--no-progress", *args])
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("\n") == 1, err
    assert not out.exists() and not list(tmp_path.glob("out*"))


def test_stylize_without_a_run_asks_for_one_or_gatys(capsys):
    assert main(["stylize", "bundled:chelsea", "--style", "bundled:waves"]) == 2
    assert "--method gatys" in capsys.readouterr().err


# ------------------------------------------------------------------ AdaIN


def test_adain_mask_selects_the_style_per_region():
    f = torch.randn(1, 8, 4, 4)
    stats = [ops.mean_std(torch.randn(1, 8, 5, 5) + 3), ops.mean_std(torch.randn(1, 8, 5, 5) - 3)]
    everywhere = A._masked_target(f, torch.ones(1, 1, 4, 4), stats)
    assert torch.allclose(everywhere, ops.adain_stats(f, *stats[0]), atol=1e-4)
    nowhere = A._masked_target(f, torch.zeros(1, 1, 4, 4), stats[:1])
    assert torch.equal(nowhere, f)  # one style, empty mask: content features everywhere


def folder_of_images(root, n, seed, size=24):
    root.mkdir()
    rng = np.random.default_rng(seed)
    for i in range(n):
        save_png(root / f"{i}.png", rng.integers(0, 256, (size, size + 8, 3), dtype=np.uint8))
    return root


def test_adain_trains_from_two_folders_and_stylizes_through_the_cli(tmp_path, capsys):
    content = folder_of_images(tmp_path / "content", 6, 0)
    style = folder_of_images(tmp_path / "style", 6, 1)
    code = main(["train", "adain", "--data", f"content=folder:{content}", "--data", f"style=folder:{style}",
                 "--preset", "smoke", "--set", "resolution=24", "--set", "crop=16", "--out", str(tmp_path / "runs"),
                 "--no-progress"])
    assert code == 0, capsys.readouterr().err
    run = next((tmp_path / "runs").iterdir())
    photo = content / "0.png"
    out = tmp_path / "styled.png"
    assert main(["stylize", str(run), str(photo), "--style", str(style / "1.png"), "--style", str(style / "2.png"),
                 "--weights", "0.3,0.7", "--alpha", "0.5", "--preserve-color", "--out", str(out)]) == 0
    assert Image.open(out).size == Image.open(photo).size
    mask = save_png(tmp_path / "mask.png", np.zeros((24, 32), np.uint8))
    assert main(["stylize", str(run), str(photo), "--style", str(style / "1.png"), "--mask", str(mask),
                 "--out", str(tmp_path / "masked.png")]) == 0
    capsys.readouterr()
    small_mask = save_png(tmp_path / "small.png", np.zeros((8, 8), np.uint8))
    assert main(["stylize", str(run), str(photo), "--style", str(style / "1.png"), "--mask", str(small_mask),
                 "--out", str(tmp_path / "bad.png")]) == 2
    assert "must have the content's size" in capsys.readouterr().err and not (tmp_path / "bad.png").exists()


def test_adain_alpha_interpolates_between_content_and_style_features(tmp_path):
    from gankit.recipes.adain import AdaIN, AdaINConfig
    from gankit.data import from_tensors

    data = from_tensors(torch.randint(0, 256, (4, 3, 16, 16), dtype=torch.uint8))
    recipe = AdaIN(AdaINConfig(), {"content": data.spec, "style": data.spec})
    nets = recipe.build_nets()
    seen = []
    nets["decoder"] = lambda t: seen.append(t) or torch.zeros(1, 3, 16, 16)
    content, style = rand_image(16, 16, 1), rand_image(16, 16, 2)
    for alpha in (0.0, 0.5, 1.0):
        A.stylize(nets["encoder"], nets["decoder"], content, [style], alpha=alpha)
    f = nets["encoder"](content, ["relu4_1"])["relu4_1"]
    t = ops.adain(f, nets["encoder"](style, ["relu4_1"])["relu4_1"])
    assert torch.allclose(seen[0], f) and torch.allclose(seen[2], t, atol=1e-5)
    assert torch.allclose(seen[1], (f + t) / 2, atol=1e-5)


def test_adain_with_vgg19_weights_restores_without_the_file(tmp_path, capsys):
    ref = torchvision_features()
    weights = tmp_path / "vgg19.pth"
    torch.save({f"features.{k}": v for k, v in ref.state_dict().items()}, weights)
    content = folder_of_images(tmp_path / "c", 4, 2, size=16)
    code = main(["train", "adain", "--data", f"content=folder:{content}", "--data", f"style=folder:{content}",
                 "--preset", "smoke", "--set", "resolution=16", "--set", f"features=vgg19:{weights}",
                 "--out", str(tmp_path / "runs"), "--no-progress"])
    assert code == 0, capsys.readouterr().err
    run = next((tmp_path / "runs").iterdir())
    pipe = gankit.load(run)
    expected = ref[TORCHVISION_INDEX["conv4_1"]].weight
    assert torch.equal(pipe.nets["encoder"].conv4_1.weight, expected)
    weights.unlink()  # the checkpoint carries the encoder
    again = gankit.load(run)
    assert torch.equal(again.nets["encoder"].conv4_1.weight, expected)
    assert main(["train", "adain", "--data", f"content=folder:{content}", "--data", f"style=folder:{content}",
                 "--preset", "smoke", "--set", f"features=vgg19:{weights}", "--out", str(tmp_path / "r2")]) == 2
    assert "no such feature-weights file" in capsys.readouterr().err


def test_style_demo_trains_and_writes_its_figures(tmp_path, capsys):
    from gankit import demo

    assert demo.run_demo("style", out=tmp_path, minutes=0.01, progress=False) == 0
    printed = capsys.readouterr().out
    run = next(tmp_path.iterdir())
    assert (run / "samples" / "final.png").exists() and (run / "samples" / "alpha_sweep.png").exists()
    assert (run / "report.html").exists() and "gankit stylize" in printed
    assert Image.open(run / "samples" / "final.png").size == (7 * 128 + 6 * 4, 5 * 128 + 4 * 4)
