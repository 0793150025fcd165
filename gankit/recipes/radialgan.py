"""`radialgan`: Yoon, Jordon & van der Schaar (ICML 2018), "RadialGAN: Leveraging multiple datasets to
improve target-specific predictive models using Generative Adversarial Networks".

N ≥ 2 domains (tables with different, overlapping columns; one named data source each). Domain i has an
encoder F_i(x_i, y) → z into a latent space shared by all domains, a decoder G_i(z, y) → x_i and a
discriminator D_i(x_i, y); a record of domain j is translated to domain i as G_i(F_j(x_j, y), y). As in the
official code (alg/RadialGAN): one tanh hidden layer as wide as the full feature dimension, z as wide too,
label-conditioned nets, Adam at TensorFlow's defaults (1e-3), batch 128;

    L_D = Σ_i [ BCE(D_i(x_i), 1) + mean_{j≠i} BCE(D_i(G_i(F_j(x_j))), 0) ]
    L_G = Σ_i mean_{j≠i} [ −log D_i(G_i(F_j(x_j))) ] + α · mean_{i≠j} √MSE(G_j(F_i(G_i(F_j(x_j)))), x_j)

with α = 0.1 (the cycle-consistency term); `objective=wgan-gp` swaps the BCE game for WGAN-GP (λ = 10).
Decoded rows are mapped back through each domain's schema (gankit/data/tables.py): numeric values
linear, categorical one-hot blocks through a softmax, missing-value flags through a sigmoid.

Unconditional samples (`gankit sample`) decode latent codes drawn from a Gaussian fitted to the encoded
training records (running mean and covariance of z); the method's own use is translation (`gankit
translate`, `gankit augment`), which encodes real records of the other domains.
"""

from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from .. import config as C
from ..config import nested, param
from ..data.tables import Schema
from ..errors import GankitError
from ..objectives.adversarial import d_minimax, d_wasserstein, g_nonsaturating, g_wasserstein
from ..objectives.penalties import gradient_penalty
from .base import SMOKE_RUN, Phase, Recipe, register


@dataclass
class RadialGANConfig(C.TrainConfig):
    steps: int = param(20_000, "training iterations (the official code's)", min=1)
    batch_size: int = param(128, "records per domain per step", min=1)
    label: str = param("", "the label column every table shares (tables:... data)")
    domain: str = param("", "with one table: the column naming each row's domain")
    width: int = param(0, "hidden units of F, G, D (0: the full feature dimension, as the paper)", min=0)
    depth: int = param(1, "hidden layers of F, G, D", min=1, max=8)
    z_dim: int = param(0, "shared latent size (0: the full feature dimension)", min=0)
    alpha: float = param(0.1, "weight of the cycle-consistency term", min=0.0)
    objective: Literal["bce", "wgan-gp"] = param("bce", "adversarial game: the paper's BCE or WGAN-GP")
    gp_weight: float = param(10.0, "WGAN-GP's λ", min=0.0)
    latent_decay: float = param(0.99, "running average of the latent codes' mean and covariance", min=0.0, max=1.0)
    G_opt: C.OptimConfig = nested(lambda: C.OptimConfig(lr=1e-3, betas=(0.9, 0.999)), "F and G optimizer")
    D_opt: C.OptimConfig = nested(lambda: C.OptimConfig(lr=1e-3, betas=(0.9, 0.999)), "D optimizer")


def mlp(inputs: int, width: int, depth: int, outputs: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for _ in range(depth):
        layers += [nn.Linear(inputs, width), nn.Tanh()]
        inputs = width
    return nn.Sequential(*layers, nn.Linear(inputs, outputs))


class Conditioned(nn.Module):
    """net([x, one_hot(y)]): a label-conditioned MLP; `head` shapes the output (G's column activations)."""

    def __init__(self, inputs: int, classes: int, width: int, depth: int, outputs: int, head: nn.Module | None = None):
        super().__init__()
        self.classes = classes
        self.body = mlp(inputs + classes, width, depth, outputs)
        self.head = head or nn.Identity()

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        return self.head(self.body(torch.cat([x, F.one_hot(y, self.classes).to(x.dtype)], 1)))


class ColumnActivations(nn.Module):
    """Per column of a schema: numeric values as they are, missing flags through a sigmoid, categorical
    blocks through a softmax (so translated rows live where encoded real rows do)."""

    def __init__(self, schema: Schema):
        super().__init__()
        self.blocks = [(c.kind, c.missing_flag, a, b) for c, a, b in schema.slices()]

    def forward(self, h: Tensor) -> Tensor:
        parts = []
        for kind, flag, a, b in self.blocks:
            if kind == "categorical":
                parts.append(torch.softmax(h[:, a:b], 1))
            else:
                parts.append(h[:, a:a + 1])
                if flag:
                    parts.append(torch.sigmoid(h[:, a + 1:b]))
        return torch.cat(parts, 1)


class LatentStats(nn.Module):
    """Running mean and covariance of the encoded records' latent codes, to sample the latent space."""

    def __init__(self, z_dim: int):
        super().__init__()
        self.register_buffer("mean", torch.zeros(z_dim))
        self.register_buffer("second", torch.eye(z_dim))

    @torch.no_grad()
    def update(self, z: Tensor, decay: float) -> None:
        z = z.detach().float()
        self.mean.lerp_(z.mean(0), 1 - decay)
        self.second.lerp_(z.T @ z / len(z), 1 - decay)

    def sample(self, n: int, generator=None) -> Tensor:
        cov = self.second - torch.outer(self.mean, self.mean)
        cov = (cov + cov.T) / 2 + 1e-4 * torch.eye(len(self.mean), device=cov.device)
        eps = torch.randn(n, len(self.mean), generator=generator).to(self.mean.device)
        return self.mean + eps @ torch.linalg.cholesky(cov).T


@register
class RadialGAN(Recipe):
    name = "radialgan"
    Config = RadialGANConfig
    description = "Yoon et al. 2018: per-domain encoders/decoders into a shared latent space, table translation"
    presets = {
        "smoke": {**SMOKE_RUN, "batch_size": 16},
        "paper": {},
        # the bundled hospitals in a CPU minute or two (`gankit demo tables`, the benchmark)
        "fast": {"steps": 2000, "batch_size": 64, "log_every": 100, "ckpt_every": 500, "sample_every": 1000,
                 "max_minutes": 3.0},
    }
    data_kinds = ("table",)
    sources = ("domains",)  # placeholder: a multi-domain table names its own sources, one per domain
    sources_from_data = True
    losses = ("loss/D", "loss/G", "loss/cycle")

    def __init__(self, cfg, spec):
        specs = dict(spec) if isinstance(spec, dict) else {"domains": spec}
        self.sources = tuple(specs)
        self.domains = list(specs)
        super().__init__(cfg, specs)

    def check(self) -> None:
        if len(self.domains) < 2:
            raise GankitError(f"radialgan needs at least two domains (tables); got {len(self.domains)}: pass "
                              "--data tables:a.csv,b.csv --set label=COLUMN")
        classes = {s.num_classes for s in self.specs.values()}
        if len(classes) != 1 or not classes.pop():
            raise GankitError("radialgan needs the same labelled classes in every domain (--set label=COLUMN)")

    # -- sizes ------------------------------------------------------------------------------
    def schema(self, domain: str) -> Schema:
        meta = self.specs[domain].meta
        if "schema" in meta:
            return Schema.from_json(meta["schema"])
        from ..data.tables import Column

        return Schema(domain, [Column(f"x{i}", "numeric") for i in range(self.specs[domain].shape[0])], "y",
                      [str(c) for c in range(self.specs[domain].num_classes)])

    @property
    def full_width(self) -> int:
        """Distinct encoded columns over all domains: the paper's hidden and latent size."""
        names = set()
        for d in self.domains:
            names |= {(c.name, i) for c in self.schema(d).columns for i in range(c.width)}
        return len(names)

    @property
    def z_dim(self) -> int:
        return self.cfg.z_dim or self.full_width

    @property
    def classes(self) -> int:
        return self.spec.num_classes

    # -- nets -------------------------------------------------------------------------------
    def build_nets(self):
        cfg, width = self.cfg, self.cfg.width or self.full_width
        nets: dict[str, nn.Module] = {}
        for i, d in enumerate(self.domains):
            schema, features = self.schema(d), self.specs[d].shape[0]
            nets[f"F{i}"] = Conditioned(features, self.classes, width, cfg.depth, self.z_dim)
            nets[f"G{i}"] = Conditioned(self.z_dim, self.classes, width, cfg.depth, features, ColumnActivations(schema))
            nets[f"D{i}"] = Conditioned(features, self.classes, width, cfg.depth, 1)
        nets["latent"] = LatentStats(self.z_dim)
        return nets

    def optimizers(self):
        n = range(len(self.domains))
        return {**{f"F{i}": self.cfg.G_opt for i in n}, **{f"G{i}": self.cfg.G_opt for i in n},
                **{f"D{i}": self.cfg.D_opt for i in n}}

    def phases(self):
        n = range(len(self.domains))
        return [Phase("D", tuple(f"D{i}" for i in n), self.d_loss),
                Phase("G", tuple(f"{k}{i}" for i in n for k in "FG"), self.g_loss)]

    # -- step -------------------------------------------------------------------------------
    def translate_with(self, nets, x: Tensor, y: Tensor, source: int, target: int) -> Tensor:
        return nets[f"G{target}"](nets[f"F{source}"](x, y), y)

    def batches(self, ctx):
        return [ctx.real(d) for d in self.domains]

    def d_loss(self, ctx):
        nets, batches, total = ctx.nets, self.batches(ctx), 0.0
        for i, real in enumerate(batches):
            with torch.no_grad():
                fakes = [(self.translate_with(nets, b.x, b.y, j, i), b.y) for j, b in enumerate(batches) if j != i]
            fake_x, fake_y = torch.cat([f for f, _ in fakes]), torch.cat([y for _, y in fakes])
            D = nets[f"D{i}"]
            real_out, fake_out = D(real.x, real.y), D(fake_x, fake_y)
            if self.cfg.objective == "wgan-gp":
                n = min(len(real.x), len(fake_x))
                total = total + d_wasserstein(real_out, fake_out) + self.cfg.gp_weight * gradient_penalty(
                    D, real.x[:n], fake_x[:n], real.y[:n])
            else:
                total = total + d_minimax(real_out, fake_out)
        ctx.report("loss/D", total)
        return total

    def g_loss(self, ctx):
        nets, batches = ctx.nets, self.batches(ctx)
        adversarial, cycle, pairs = 0.0, 0.0, 0
        g_loss = g_wasserstein if self.cfg.objective == "wgan-gp" else g_nonsaturating
        for j, b in enumerate(batches):
            z = nets[f"F{j}"](b.x, b.y)
            nets["latent"].update(z, self.cfg.latent_decay)
            for i in range(len(batches)):
                if i == j:
                    continue
                translated = nets[f"G{i}"](z, b.y)
                adversarial = adversarial + g_loss(nets[f"D{i}"](translated, b.y))
                back = self.translate_with(nets, translated, b.y, i, j)
                cycle = cycle + (F.mse_loss(back, b.x) + 1e-12).sqrt()
                pairs += 1
        cycle = cycle / pairs
        ctx.report("loss/G", adversarial)
        ctx.report("loss/cycle", cycle)
        return adversarial + self.cfg.alpha * cycle * len(batches)

    # -- sampling ---------------------------------------------------------------------------
    def domain_index(self, domain) -> int:
        if domain is None:
            return 0
        if isinstance(domain, int) and 0 <= domain < len(self.domains):
            return domain
        if domain in self.domains:
            return self.domains.index(domain)
        raise GankitError(f"no domain {domain!r}; the run's domains: {', '.join(self.domains)}")

    @torch.no_grad()
    def sample(self, nets, n, generator=None, condition=None, domain=None, **options):
        """Rows of `domain` (default: the first), encoded as in training ([n, width]). With `condition =
        {"x": encoded rows of a source domain, "y": their labels, "source": its name}`: their translations
        (n is ignored); otherwise decoded latent codes drawn from the codes' running Gaussian, with labels
        drawn uniformly (or `condition` = a class index or a tensor of labels)."""
        target = self.domain_index(domain)
        device = nets["latent"].mean.device
        if isinstance(condition, dict):
            source = self.domain_index(condition["source"])
            return self.translate_with(nets, condition["x"].to(device), condition["y"].to(device), source, target)
        if condition is None:
            y = torch.randint(0, self.classes, (n,), generator=generator)
        else:
            y = torch.as_tensor(condition).reshape(-1).expand(n) if torch.as_tensor(condition).numel() == 1 \
                else torch.as_tensor(condition)[:n]
        z = nets["latent"].sample(n, generator)
        return nets[f"G{target}"](z, y.to(device).long())

    @property
    def conditional(self) -> bool:
        return True

    @torch.no_grad()
    def evaluate(self, nets, data, seed=0):
        """Per domain: how close the rows translated into it from every other domain are to its real rows
        (gankit/metrics/tables.py). The rows are the training rows: the utility protocol with held-out
        test rows, which needs a GAN trained without them, is benchmarks/bench_radialgan.py."""
        from ..metrics.tables import fidelity

        scores = {}
        for i, target in enumerate(self.domains):
            schema, real = self.schema(target), data[target]
            parts = [(self.translate_with(nets, data[d].x, data[d].y, j, i), data[d].y)
                     for j, d in enumerate(self.domains) if d != target]
            fake_x = torch.cat([x for x, _ in parts]).cpu()
            result = fidelity(schema, schema.decode(real.x), schema.decode(fake_x), real.x.cpu().numpy(),
                              fake_x.numpy())
            scores.update({f"{target}/{k}": v for k, v in result.items() if k != "per_column" and v is not None})
        return scores
