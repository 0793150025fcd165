"""`wgan`: Wasserstein GAN, Arjovsky, Chintala, Bottou 2017 (Algorithm 1).

Linear critic (no sigmoid); L_C = -(D_real - D_fake), L_G = -D_fake, exactly as
the course writes them. The critic takes `n_critic` steps per generator step and
its weights are clipped to [-c, c] after every critic step (a post-step
constraint, so G always faces a clipped critic). Momentum-free optimizers, as
the course advises for the critic's non-stationary output: RMSprop by default
(lr 5e-5 both nets, the paper's values), or Adam with beta1 = 0, or plain SGD.
`critic_boost` reproduces the paper code's 100 critic steps for the first 25
generator steps and every 500th one.
"""

from dataclasses import dataclass

from ..config import OptimConfig, nested, param
from ..nets.config import DNetConfig, d_net
from ..objectives import OBJECTIVES, Objective, weight_clipper
from .adversarial import AdversarialConfig, AdversarialRecipe
from .base import register
from .gan import SMOKE, TOY


def rmsprop(lr: float) -> OptimConfig:
    return OptimConfig(name="rmsprop", lr=lr)


@dataclass
class WGANConfig(AdversarialConfig):
    G_opt: OptimConfig = nested(lambda: rmsprop(5e-5), "generator optimizer")
    D_opt: OptimConfig = nested(lambda: rmsprop(5e-5), "critic optimizer")
    D: DNetConfig = nested(lambda: d_net(norm="batch"), "critic network")
    n_critic: int = param(5, "critic steps per generator step", min=1, max=1000)
    clip: float = param(0.01, "weight clipping bound c: critic weights stay in [-c, c]", positive=True)
    critic_boost: bool = param(True, "100 critic steps for the first 25 G steps and every 500th (paper code)")


@register
class WGAN(AdversarialRecipe):
    name = "wgan"
    Config = WGANConfig
    description = "Arjovsky et al. 2017: linear critic, weight clipping, RMSprop, n_critic 5"
    presets = {
        "smoke": {**SMOKE, "critic_boost": False, "n_critic": 2},
        "toy": {**TOY, "D.norm": "none", "clip": 0.1},
        "adam-beta0": {"G_opt.name": "adam", "D_opt.name": "adam", "G_opt.lr": 1e-4, "D_opt.lr": 1e-4,
                       "G_opt.betas": (0.0, 0.9), "D_opt.betas": (0.0, 0.9)},
        "sgd": {"G_opt.name": "sgd", "D_opt.name": "sgd", "G_opt.lr": 5e-3, "D_opt.lr": 5e-3},
    }
    cfg: WGANConfig

    def base_objective(self) -> Objective:
        return OBJECTIVES["wasserstein"]

    def n_critic(self, step: int) -> int:
        if self.cfg.critic_boost and (step < 25 or step % 500 == 0):
            return max(100, self.cfg.n_critic)
        return self.cfg.n_critic

    def d_hooks(self):
        clip = weight_clipper(self.cfg.clip)
        return (lambda nets: clip(nets["D"]),)
