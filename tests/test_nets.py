import pytest
import torch

from gankit.nets.config import NetConfig
from gankit.data import DataSpec
from gankit.errors import GankitError
from gankit.nets import DCGANDiscriminator, DCGANGenerator, MLPDiscriminator, MLPGenerator, build_generator


@pytest.mark.parametrize("resolution", [16, 32, 64, 128])
@pytest.mark.parametrize("channels", [1, 3])
def test_dcgan_shapes(resolution, channels):
    G = DCGANGenerator(z_dim=12, resolution=resolution, channels=channels, width=8)
    D = DCGANDiscriminator(resolution=resolution, channels=channels, width=8, norm="layer")
    x = G(torch.randn(3, 12))
    assert x.shape == (3, channels, resolution, resolution)
    assert x.abs().max() <= 1.0
    assert D(x).shape == (3,)


@pytest.mark.parametrize("norm", ["batch", "layer", "none"])
def test_dcgan_discriminator_norms(norm):
    D = DCGANDiscriminator(32, 1, 8, norm=norm, dropout=0.3)
    kinds = {type(m).__name__ for m in D.modules()}
    assert ("BatchNorm2d" in kinds) == (norm == "batch") and ("GroupNorm" in kinds) == (norm == "layer")
    assert "Dropout" in kinds
    assert D(torch.randn(4, 1, 32, 32)).shape == (4,)


def test_dcgan_rejects_unsupported_resolution():
    with pytest.raises(ValueError, match="resolution"):
        DCGANGenerator(8, resolution=48)


def test_mlp_any_shape_and_dropout():
    G = MLPGenerator(4, (3, 5), width=16, depth=2, out_activation="tanh")
    D = MLPDiscriminator((3, 5), width=16, depth=2, dropout=0.5)
    x = G(torch.randn(6, 4))
    assert x.shape == (6, 3, 5) and x.abs().max() <= 1
    assert D(x).shape == (6,)
    D.train()
    torch.manual_seed(0)
    a = D(x)
    torch.manual_seed(1)
    assert not torch.equal(a, D(x))  # dropout is active in training
    D.eval()
    assert torch.equal(D(x), D(x))


def test_build_generator_auto_arch():
    img = DataSpec("img", "image", (3, 32, 32), value_range=(-1.0, 1.0))
    odd = DataSpec("odd", "image", (1, 8, 8), value_range=(-1.0, 1.0))
    pts = DataSpec("pts", "points", (2,))
    assert isinstance(build_generator(NetConfig(), img, 8), DCGANGenerator)
    assert isinstance(build_generator(NetConfig(), odd, 8), MLPGenerator)
    assert isinstance(build_generator(NetConfig(), pts, 8), MLPGenerator)
    with pytest.raises(GankitError, match="DCGAN nets need square images"):
        build_generator(NetConfig(arch="dcgan"), pts, 8)
