"""Adding a non-adversarial trained net: a variational autoencoder (Kingma & Welling 2014).

One phase trains the encoder and decoder together on the negative ELBO: a Gaussian reconstruction term
plus KL(q(z|x) ‖ N(0, I)) (eq. 10, with the reparameterisation trick, §2.4). No discriminator, no EMA,
nothing GAN-specific: the recipe declares its nets, optimizer, phase and losses, and `sample` decodes
z ~ N(0, I). A style-transfer decoder (AdaIN) has this shape too.
"""

import math
from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from gankit.config import OptimConfig, TrainConfig, nested, param
from gankit.data.base import to_data_space
from gankit.recipes.base import Phase, Recipe, StepContext, register


@dataclass
class VAEConfig(TrainConfig):
    z_dim: int = param(8, "latent dimension", min=1)
    width: int = param(128, "hidden units of the encoder and decoder", min=1)
    beta: float = param(1.0, "weight of the KL term (β-VAE; 1 = the ELBO)", min=0.0)
    opt: OptimConfig = nested(lambda: OptimConfig(lr=1e-3, betas=(0.9, 0.999)), "optimizer of both nets")


def mlp(n_in: int, width: int, n_out: int) -> nn.Module:
    return nn.Sequential(nn.Linear(n_in, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU(),
                         nn.Linear(width, n_out))


class VAE(nn.Module):
    def __init__(self, shape: tuple[int, ...], z_dim: int, width: int):
        super().__init__()
        self.shape, features = tuple(shape), math.prod(shape)
        self.encoder = mlp(features, width, 2 * z_dim)      # -> (μ, log σ²)
        self.decoder = mlp(z_dim, width, features)

    def decode(self, z: Tensor) -> Tensor:
        return self.decoder(z).view(len(z), *self.shape)


@register
class VAERecipe(Recipe):
    name = "vae"
    Config = VAEConfig
    description = "Kingma & Welling 2014: variational autoencoder (one phase, no discriminator)"
    presets = {"smoke": {"steps": 2, "batch_size": 8, "z_dim": 2, "width": 8, "log_every": 1, "sample_every": 1,
                         "ckpt_every": 1, "tensorboard": False}}
    losses = ("loss/recon", "loss/KL")
    cfg: VAEConfig

    def build_nets(self) -> dict[str, nn.Module]:
        return {"VAE": VAE(self.spec.shape, self.cfg.z_dim, self.cfg.width)}

    def optimizers(self) -> dict[str, OptimConfig]:
        return {"VAE": self.cfg.opt}

    def phases(self) -> list[Phase]:
        return [Phase("VAE", ("VAE",), self.loss)]

    def loss(self, ctx: StepContext) -> Tensor:
        vae, x = ctx.nets["VAE"], ctx.real().x
        mu, log_var = vae.encoder(x.flatten(1)).chunk(2, dim=1)
        z = mu + (0.5 * log_var).exp() * torch.randn_like(mu)                     # reparameterisation
        recon = (vae.decode(z) - x).pow(2).flatten(1).sum(1).mean()
        kl = 0.5 * (mu.pow(2) + log_var.exp() - 1 - log_var).sum(1).mean()
        ctx.report("loss/recon", recon)
        ctx.report("loss/KL", kl)
        return recon + self.cfg.beta * kl

    @torch.no_grad()
    def sample(self, nets: Mapping[str, nn.Module], n: int, generator: torch.Generator | None = None,
               condition=None) -> Tensor:
        vae = nets["VAE"]
        z = torch.randn(n, self.cfg.z_dim, generator=generator).to(next(vae.parameters()).device)
        x = vae.decode(z).float()
        return to_data_space(self.spec, x.clamp(-1, 1) if self.spec.value_range == (-1.0, 1.0) else x)
