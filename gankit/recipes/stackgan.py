"""`stackgan`: Zhang et al. 2017, "StackGAN: Text to Photo-realistic Image Synthesis with Stacked Generative
Adversarial Networks" (ICCV), images from sentences in two stages.

A sentence embedding φ_t (data/text.py: MiniLM, a model directory, or the `hash` stand-in) is averaged over
`captions_per_image` random captions of each image (the official code averages 4); conditioning
augmentation (§3.1) draws ĉ = μ(φ_t) + σ(φ_t) ⊙ ε and adds `kl_weight` · KL(N(μ, σ²) ‖ N(0, I)) to G's loss
(objectives/text.py; the official config's `COEFF.KL` = 2.0, the paper writes λ = 1; `ca=false` switches it
off). Stage I (§3.2) draws a coarse image from [ĉ, z]; Stage II (§3.3) refines it to twice the side with the
text conditioned again. Both discriminators are matching-aware (real + right text, real + wrong text, fake +
right text; objectives/text.py), and G's loss is the non-saturating one. D joins image and text by
default as a projection discriminator (Miyato & Koyama 2018) over its 4×4 feature map, not by the paper's
concatenation (`d_join=concat`): at equal steps on `shapes` only the projection taught G the named colours and
positions (benchmarks/README.md §16). Steps, per stage trained:
  1. D phase: fakes G(z, φ) (their graph kept for the G phase, as the adversarial family does), then
     L_D = BCE(D(x, φ), 1) + ½ [BCE(D(x, φ_wrong), 0) + BCE(D(G, φ), 0)], φ_wrong = the batch's texts rolled by one.
  2. G phase: L_G = −log D(G(z, φ), φ) + kl_weight · KL.
`stage=1` trains Stage I at `resolution`. `stage=2` trains Stage II at `resolution` on a frozen Stage-I run at
half the side (`stage1=RUN`, whose G_ema is copied into this run, so the run samples on its own), or both
stages jointly when `stage1` is empty (Stage II then refines the Stage-I output, detached, so each stage is
trained by its own discriminator only). G_ema copies of the trained generators. Official settings: Adam 2e-4
(β1 = 0.5) for G and D, batch 64, c 128, z 100, Stage I 64², Stage II 256²; the CPU presets scale the sides
and widths down (README, benchmarks).

Data: captioned images (`--data shapes`, `--data captions:FILE.jsonl`); class-labelled images without
captions are captioned by their class names (so the recipe runs on any labelled image set).
"""

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .. import config as C
from ..config import nested, param
from ..errors import GankitError
from ..nets.stackgan import StageOneGenerator, StageTwoGenerator, TextDiscriminator
from ..objectives import g_nonsaturating
from ..objectives.text import d_matching_aware, kl_standard_normal
from .base import SMOKE_RUN, Phase, Recipe, register

SAMPLE_CHUNK = 256
PREVIEW_CAPTIONS = 8
EMBEDDINGS_KEPT = 10_000  # sentences whose embeddings a recipe object keeps (sampling, serving)


@dataclass
class StackGANConfig(C.TrainConfig):
    steps: int = param(3000, "training steps (generator updates)", min=1)
    resolution: int = param(32, "side of the trained stage's images (Stage II: twice Stage I's)", min=8, max=1024)
    stage: int = param(1, "1: train Stage I; 2: train Stage II (on stage1=RUN, or both stages jointly)",
                       choices=(1, 2))
    stage1: str = param("", "stage=2: a Stage-I run folder or checkpoint (at half the side) to refine, frozen; "
                            "empty: train both stages jointly")
    text_encoder: str = param("minilm", "sentence encoder: minilm (packaged all-MiniLM-L6-v2), hash (hashed bag "
                                        "of words: tests, smoke runs) or a sentence-transformers model directory")
    captions_per_image: int = param(4, "caption embeddings averaged per image and step (the official code: 4)",
                                    min=1)
    z_dim: int = param(100, "noise dimension", min=1)
    c_dim: int = param(128, "conditioning augmentation's output ĉ", min=1)
    ca: bool = param(True, "conditioning augmentation: ĉ ~ N(μ, σ²) with the KL term (false: ĉ = μ, no KL)")
    kl_weight: float = param(2.0, "weight of the CA KL term in G's loss (official COEFF.KL = 2; paper λ = 1)",
                             min=0.0)
    g_width: int = param(32, "generator channels at its last stage (the official code: 64 at 4×4 ×16)", min=4)
    d_width: int = param(32, "discriminator channels at its first stage", min=4)
    text_width: int = param(128, "D's compressed text code (official ef_dim 128; d_join=concat)", min=1)
    d_join: str = param("projection", "how D joins image and text: concat (the paper's: the text code replicated over "
                                  "4×4 and concatenated) or projection (Miyato & Koyama 2018: logit += ⟨V φ_t, h⟩, "
                                  "h the 4×4 feature map)", choices=("concat", "projection"))
    residual: int = param(2, "Stage II's residual blocks (official 4)", min=0, max=16)
    ema: float = param(0.999, "EMA decay of G1_ema / G2_ema (0 = none)", min=0.0, max=0.99999)
    G_opt: C.OptimConfig = nested(C.OptimConfig, "generators' optimizer (Adam 2e-4, β1 0.5)")
    D_opt: C.OptimConfig = nested(C.OptimConfig, "discriminators' optimizer")


@register
class StackGAN(Recipe):
    name = "stackgan"
    Config = StackGANConfig
    description = "Zhang et al. 2017: text-to-image in two stages (CA, matching-aware D, Stage-II refinement)"
    presets = {
        "smoke": {**SMOKE_RUN, "batch_size": 8, "text_encoder": "hash", "g_width": 8, "d_width": 8, "c_dim": 16,
                  "z_dim": 16, "text_width": 16, "resolution": 16, "residual": 1},
        # `shapes` on a CPU in a few minutes (benchmarks/bench_stackgan.py): Stage I at 32², then Stage II at 64²
        "shapes": {"steps": 5000, "batch_size": 64, "g_width": 16, "d_width": 16, "D_opt.lr": 1e-4, "log_every": 100,
                   "sample_every": 1000, "ckpt_every": 1000, "tensorboard": False},
        "shapes-stage2": {"stage": 2, "resolution": 64, "steps": 3000, "batch_size": 32, "g_width": 16, "d_width": 16,
                          "D_opt.lr": 1e-4,
                          "log_every": 100, "sample_every": 1000, "ckpt_every": 1000, "tensorboard": False},
        # the paper's sides, halved for the official widths' cost on a CPU: Stage I at 64², Stage II at 128²
        "stage1-64": {"resolution": 64, "g_width": 64, "d_width": 64},
        "stage2-128": {"stage": 2, "resolution": 128, "g_width": 64, "d_width": 64, "residual": 4},
    }
    data_kinds = ("image",)
    serve_form = "sample"
    condition_kind = "text"
    losses = ("loss/D", "loss/G", "loss/KL")
    former_defaults = {"d_join": "concat"}  # runs saved before d_join existed were trained with the paper's D

    def check(self) -> None:
        cfg, meta = self.cfg, self.spec.meta
        if not meta.get("captioned") and not self.spec.num_classes:
            raise GankitError(f"stackgan needs captioned images (--data shapes or captions:FILE.jsonl) or class-"
                              f"labelled ones; {self.spec.name} has neither")
        if meta.get("captioned") and meta.get("text_encoder") != cfg.text_encoder:
            raise GankitError(f"{self.spec.name}'s captions are embedded by {meta.get('text_encoder') or 'no encoder'}"
                              f"; this run's text_encoder is {cfg.text_encoder} (load the data with it)")
        side = self.spec.shape[-1]
        if self.spec.shape[-2] != side or side & (side - 1) or side < 8 << (cfg.stage - 1):
            raise GankitError(f"stackgan needs square images of a power-of-two side ≥ {8 << (cfg.stage - 1)}; "
                              f"{self.spec.name} is {tuple(self.spec.shape)} (set resolution=32 or 64)")
        if cfg.stage == 1 and cfg.stage1:
            raise GankitError("stage1=RUN is for stage=2 (refining a Stage-I run)")

    # -- sizes ------------------------------------------------------------------------------
    @property
    def side(self) -> int:
        return self.spec.shape[-1]

    @property
    def stage_one_side(self) -> int:
        return self.side // 2 if self.cfg.stage == 2 else self.side

    @property
    def text_dim(self) -> int:
        from ..data.text import encoder_dim

        return self.spec.meta.get("text_dim") or encoder_dim(self.cfg.text_encoder)

    @property
    def trained(self) -> tuple[str, ...]:
        """The stages whose G and D train: "1", "2" or both."""
        if self.cfg.stage == 1:
            return ("1",)
        return ("2",) if self.cfg.stage1 else ("1", "2")

    # -- nets -------------------------------------------------------------------------------
    def build_nets(self) -> dict[str, nn.Module]:
        cfg, ch = self.cfg, self.spec.shape[0]
        nets: dict[str, nn.Module] = {
            "G1": StageOneGenerator(self.text_dim, cfg.z_dim, cfg.c_dim, self.stage_one_side, cfg.g_width, cfg.ca, ch)}
        if "1" in self.trained:
            nets["D1"] = TextDiscriminator(self.text_dim, self.stage_one_side, cfg.d_width, cfg.text_width, ch,
                                           cfg.d_join)
        if cfg.stage == 2:
            nets["G2"] = StageTwoGenerator(self.text_dim, cfg.c_dim, self.side, cfg.g_width, cfg.residual, cfg.ca, ch)
            nets["D2"] = TextDiscriminator(self.text_dim, self.side, cfg.d_width, cfg.text_width, ch, cfg.d_join)
        if "1" not in self.trained:
            self.load_stage_one(nets["G1"])
        return nets

    def load_stage_one(self, G1: nn.Module) -> None:
        """Stage-I weights (its G1_ema) from `stage1=RUN`, frozen in eval mode. A run restored later without
        that folder keeps the copy its own checkpoints hold (they are loaded over these weights)."""
        G1.eval().requires_grad_(False)
        if not Path(self.cfg.stage1).expanduser().exists():
            return  # restored from this run's checkpoint, which carries G1
        from ..pipelines import RunPipeline

        source = RunPipeline.load(Path(self.cfg.stage1).expanduser(), "cpu")
        other = source.recipe
        if other.name != self.name or other.cfg.stage != 1:
            raise GankitError(f"stage1={self.cfg.stage1}: not a Stage-I stackgan run")
        if other.side != self.stage_one_side or other.cfg.text_encoder != self.cfg.text_encoder:
            raise GankitError(f"stage1={self.cfg.stage1}: its images are {other.side}² with text_encoder="
                              f"{other.cfg.text_encoder}; this Stage II needs {self.stage_one_side}² and "
                              f"{self.cfg.text_encoder}")
        try:
            G1.load_state_dict(source.nets.get("G1_ema", source.nets["G1"]).state_dict())
        except RuntimeError as e:
            raise GankitError(f"stage1={self.cfg.stage1}: its Stage-I generator does not fit these settings "
                              f"(z_dim, c_dim, g_width, ca): {str(e).splitlines()[0]}") from None

    def optimizers(self) -> dict[str, C.OptimConfig]:
        return {**{f"G{s}": self.cfg.G_opt for s in self.trained}, **{f"D{s}": self.cfg.D_opt for s in self.trained}}

    def phases(self) -> list[Phase]:
        gs, ds = tuple(f"G{s}" for s in self.trained), tuple(f"D{s}" for s in self.trained)
        return [Phase("D", ds, self.d_loss, keeps_graph=gs), Phase("G", gs, self.g_loss)]

    def ema_nets(self) -> dict[str, float]:
        return {f"G{s}": self.cfg.ema for s in self.trained} if self.cfg.ema > 0 else {}

    def latent(self, n: int, generator: torch.Generator | None = None, device="cpu") -> Tensor:
        return torch.randn(n, self.cfg.z_dim, generator=generator).to(device)

    # -- text -------------------------------------------------------------------------------
    def scaled(self, text: Tensor) -> Tensor:
        """Unit-length sentence embeddings (MiniLM's, the hash encoder's) times √E: entries of unit spread, as
        the official char-CNN-RNN embeddings roughly have. At unit length each entry is ~0.05, so μ(φ_t) starts
        ~20× below CA's unit noise and the text is drowned (our first shapes run ignored it)."""
        return text * self.text_dim ** 0.5

    def batch_text(self, batch) -> Tensor:
        """One embedding per image: the mean of up to `captions_per_image` of its captions, drawn at random
        (class-labelled data without captions: its class names' embeddings)."""
        if batch.cond is None:
            return self.scaled(self.embed(self.class_captions(batch.y)).to(batch.x.device))
        text, mask = batch.cond["text"], batch.cond["text_mask"]                     # [B, K, E], [B, K]
        k = min(self.cfg.captions_per_image, text.shape[1])
        scores = torch.rand(mask.shape).to(mask.device).masked_fill(~mask, -1.0)    # invalid captions last
        pick = scores.topk(k, dim=1).indices                                        # [B, k]
        chosen = text.gather(1, pick[..., None].expand(-1, -1, text.shape[-1]))     # [B, k, E]
        weight = mask.gather(1, pick).to(chosen.dtype)[..., None]
        return self.scaled((chosen * weight).sum(1) / weight.sum(1).clamp(min=1.0))

    def class_captions(self, y: Tensor) -> list[str]:
        names = self.spec.class_names or tuple(str(i) for i in range(self.spec.num_classes))
        return [names[i] for i in y.tolist()]

    def embed(self, captions: list[str]) -> Tensor:
        """Embeddings of sentences ([n, E]), each distinct sentence encoded once per recipe object while it is
        among the last EMBEDDINGS_KEPT (a server's prompts must not grow memory without end)."""
        from ..data.text import encode

        cache = self.__dict__.setdefault("_embedded", {})
        new = sorted({c for c in captions if c not in cache})
        if new:
            cache.update(zip(new, encode(new, self.cfg.text_encoder)))
        out = torch.stack([cache[c] for c in captions])
        for oldest in list(cache)[:max(0, len(cache) - EMBEDDINGS_KEPT)]:  # dicts keep insertion order
            del cache[oldest]
        return out

    # -- the step ---------------------------------------------------------------------------
    def generate(self, nets: Mapping[str, nn.Module], z: Tensor, text: Tensor, eps: dict | None = None,
                 names=("G1", "G2")) -> dict[str, tuple[Tensor, Tensor, Tensor]]:
        """{stage: (image, μ, log σ²)} of Stage I and (stage=2) Stage II; Stage II refines Stage I detached."""
        eps = eps or {}
        out = {"1": nets[names[0]](z, text, eps.get("1"))}
        if self.cfg.stage == 2:
            out["2"] = nets[names[1]](out["1"][0].detach(), text, eps.get("2"))
        return out

    def d_loss(self, ctx) -> Tensor:
        batch = ctx.real()
        text = self.batch_text(batch)
        fakes = self.generate(ctx.nets, ctx.z(len(text)), text)
        ctx.stash["fakes"] = (fakes, text)   # G has not stepped yet: the G phase reuses these exactly
        total = 0.0
        for s in self.trained:
            D = ctx.nets[f"D{s}"]
            real = batch.x if s == "2" or self.cfg.stage == 1 else F.avg_pool2d(batch.x, 2)  # Stage I's side
            features = D.features(real)
            loss = d_matching_aware(D.logits(features, text), D.logits(features, text.roll(1, 0)),
                                    D(fakes[s][0].detach(), text))
            ctx.report(f"loss/D{s}", loss)
            total = total + loss
        ctx.report("loss/D", total)
        return total

    def g_loss(self, ctx) -> Tensor:
        fakes, text = ctx.stash.pop("fakes", (None, None))
        if fakes is None:  # the phase run on its own
            text = self.batch_text(ctx.real())
            fakes = self.generate(ctx.nets, ctx.z(len(text)), text)
        adversarial, kl = 0.0, 0.0
        for s in self.trained:
            image, mu, logvar = fakes[s]
            adversarial = adversarial + g_nonsaturating(ctx.nets[f"D{s}"](image, text))
            if self.cfg.ca:
                kl = kl + kl_standard_normal(mu, logvar)
        ctx.report("loss/G", adversarial)
        ctx.report("loss/KL", kl)
        return adversarial + self.cfg.kl_weight * kl

    # -- sampling ---------------------------------------------------------------------------
    def preview_conditions(self) -> list[str]:
        """The progress previews: 8 of the data's captions (or its class names), one row each."""
        return list(self.spec.meta.get("example_captions") or
                    self.class_captions(torch.arange(self.spec.num_classes)))[:PREVIEW_CAPTIONS]

    @property
    def conditional(self) -> bool:
        return not self.spec.meta.get("captioned")  # class names as captions: classes can be asked for

    def sample_texts(self, n: int, condition, generator: torch.Generator | None) -> list[str] | Tensor:
        """The n sentences (or embeddings) to draw: `condition` = a sentence, a list of sentences (each
        repeated in a block of n/len), [m, E] embeddings, or class indices (data captioned by class names);
        None: the data's example captions (or class names) at random."""
        if condition is None:
            pool = self.spec.meta.get("example_captions") or self.class_captions(torch.arange(self.spec.num_classes))
            return [pool[i] for i in torch.randint(len(pool), (n,), generator=generator).tolist()]
        if torch.is_tensor(condition) and condition.is_floating_point():
            if condition.dim() != 2 or condition.shape[1] != self.text_dim or not len(condition):
                raise GankitError(f"text embeddings must be [m, {self.text_dim}]; got {tuple(condition.shape)}")
            return condition.float().repeat_interleave(-(-n // len(condition)), 0)[:n]
        if isinstance(condition, str):
            condition = [condition]
        if isinstance(condition, (list, tuple)) and condition and all(isinstance(c, str) for c in condition):
            texts = list(condition)
        else:
            y = torch.as_tensor(condition, dtype=torch.long).flatten()
            if not self.conditional or not len(y) or ((y < 0) | (y >= self.spec.num_classes)).any():
                raise GankitError("this stackgan run takes sentences as its condition, not class indices")
            texts = self.class_captions(y)
        return [t for t in texts for _ in range(-(-n // len(texts)))][:n]

    @torch.no_grad()
    def sample(self, nets, n, generator=None, condition=None, ema: bool = True, stage: int = 0,
               augment: bool = True, **options) -> Tensor:
        """n images for sentences (see `sample_texts`) from G1_ema/G2_ema (or G1/G2 with ema=False), in [-1, 1].
        `stage=1` gives a Stage-II run's Stage-I images upsampled to its side (for comparisons); `augment=False`
        draws ĉ = μ (no CA noise at sampling)."""
        if stage not in (0, 1, 2) or stage > self.cfg.stage:
            raise GankitError(f"stage={stage}: this run has stage(s) 1..{self.cfg.stage}")
        texts = self.sample_texts(n, condition, generator)
        names = [f"G{s}_ema" if ema and f"G{s}_ema" in nets else f"G{s}" for s in ("1", "2")]
        device = next(nets[names[0]].parameters()).device
        text = self.scaled((texts if torch.is_tensor(texts) else self.embed(texts)).to(device))
        z = self.latent(n, generator, device)
        eps = {s: torch.randn(n, self.cfg.c_dim, generator=generator).to(device) * float(augment) for s in "12"}
        out = []
        with eval_mode(*(nets[m] for m in names if m in nets)):
            for idx in torch.arange(n).split(SAMPLE_CHUNK):
                images = self.generate(nets, z[idx], text[idx], {s: e[idx] for s, e in eps.items()}, names)
                image = images[str(stage or self.cfg.stage)][0]
                out.append(F.interpolate(image, size=self.side, mode="nearest") if image.shape[-1] != self.side
                           else image)
        return torch.cat(out).float() if out else torch.empty(0, *self.spec.shape)


class eval_mode:
    """Nets in eval mode inside the block (BatchNorm's running statistics: a sample does not depend on its
    batch), restored after."""

    def __init__(self, *nets: nn.Module):
        self.nets = nets

    def __enter__(self):
        self.modes = [net.training for net in self.nets]
        for net in self.nets:
            net.eval()

    def __exit__(self, *exc):
        for net, mode in zip(self.nets, self.modes):
            net.train(mode)
