import pytest

import gankit

from gankit import config as C
from gankit.errors import GankitError
from gankit.recipes import get_recipe, resolve_config


def wgan_gp_cfg():
    return get_recipe("wgan-gp").Config()


def test_set_values_are_typed_from_field_types():
    cfg = wgan_gp_cfg()
    C.apply(cfg, {"D_opt.lr": "3e-4", "D_opt.betas": "0,0.9", "n_critic": "7", "tensorboard": "false",
                  "G.arch": "mlp", "gp_weight": 5})
    assert cfg.D_opt.lr == 3e-4 and cfg.D_opt.betas == (0.0, 0.9) and cfg.n_critic == 7
    assert cfg.tensorboard is False and cfg.G.arch == "mlp" and cfg.gp_weight == 5.0


@pytest.mark.parametrize("key,value,needle", [
    ("nope", "1", "unknown config key 'nope'"),
    ("D_opt.nope", "1", "unknown config key"),
    ("n_critic", "abc", "n_critic='abc' is not an integer"),
    ("n_critic", "2.5", "not an integer"),
    ("D_opt.lr", "fast", "not a number"),
    ("G.arch", "resnet", "is not one of auto, mlp, dcgan"),
    ("D_opt.betas", "0.5", "needs 2 comma-separated values"),
    ("tensorboard", "maybe", "not a boolean"),
    ("D_opt", "1", "is a group"),
])
def test_bad_keys_and_values_are_clear_errors(key, value, needle):
    with pytest.raises(GankitError, match=needle.replace("(", r"\(")):
        C.apply(wgan_gp_cfg(), {key: value})


def test_unknown_key_error_lists_valid_keys():
    with pytest.raises(GankitError) as e:
        C.apply(wgan_gp_cfg(), {"lamda": "10"})
    assert "gp_weight" in str(e.value) and "D_opt.lr" in str(e.value)


@pytest.mark.parametrize("key,value,needle", [
    ("steps", 0, "below its minimum 1"),
    ("D_opt.lr", 0.0, "must be positive"),
    ("D_opt.betas", (0.5, 1.5), "above its maximum"),
    ("ema", 1.0, "above its maximum"),
    ("channels", 2, "not one of 0, 1, 3"),
])
def test_out_of_range_values_fail_validation(key, value, needle):
    cfg = wgan_gp_cfg()
    C.apply(cfg, {key: value})
    with pytest.raises(GankitError, match=needle):
        C.validate(cfg)


def test_config_round_trips_through_dict():
    cfg = wgan_gp_cfg()
    C.apply(cfg, {"D_opt.betas": (0.0, 0.9), "G.width": 17})
    again = C.from_dict(type(cfg), C.to_dict(cfg))
    assert again == cfg


def test_presets_apply_and_auto_preset_follows_data_kind():
    cls = get_recipe("wgan-gp")
    cfg, preset = resolve_config(cls, "points")
    assert preset == "toy" and cfg.D.norm == "none" and cfg.z_dim == 2
    cfg, preset = resolve_config(cls, "image", "beta0", {"n_critic": 3})
    assert preset == "beta0" and cfg.D_opt.betas == (0.0, 0.9) and cfg.n_critic == 3
    with pytest.raises(GankitError, match="no preset 'turbo'"):
        resolve_config(cls, "image", "turbo")


def test_every_recipe_smoke_preset_validates():
    from gankit.recipes import load_all

    for name, cls in load_all().items():
        for preset in ["default", *cls.presets]:
            resolve_config(cls, "image", preset)


def test_parse_set_args():
    assert C.parse_set_args(["a=1", " b.c = x "]) == {"a": "1", "b.c": "x"}
    with pytest.raises(GankitError, match="key=value"):
        C.parse_set_args(["novalue"])


def test_remedies_are_grouped_and_their_earlier_flat_names_still_work():
    from gankit.recipes.base import config_from_dict

    cls = gankit.get_recipe("gan")
    new, _ = resolve_config(cls, "points", "toy", {"remedy.pack": "2", "remedy.condition": "projection"})
    old, _ = resolve_config(cls, "points", "toy", {"pack": "2", "condition": "projection"})
    assert new.remedy.pack == old.remedy.pack == 2 and new.remedy.condition == old.remedy.condition == "projection"
    stored = C.to_dict(cls.Config())
    flat = {k: v for k, v in stored.items() if k != "remedy"} | {"label_smoothing": 0.1, "unroll_steps": 3}
    cfg = config_from_dict(cls, flat)  # a run folder written before the grouping
    assert cfg.remedy.label_smoothing == 0.1 and cfg.remedy.unroll_steps == 3
    assert "remedy.pack" in C.flat_keys(cfg) and "pack" not in C.flat_keys(cfg)
    with pytest.raises(gankit.GankitError, match="unknown config key 'remedy.packs'"):
        resolve_config(cls, "points", "toy", {"remedy.packs": "2"})
