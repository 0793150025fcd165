"""Adding an adversarial method: LSGAN (Mao et al. 2017, "Least Squares Generative Adversarial Networks").

D minimises ½E[(D(x) - 1)²] + ½E[D(G(z))²] and G minimises ½E[(D(G(z)) - 1)²] (eq. 2 with a = 0, b = c = 1).
Everything else (nets for any data, the D/G phases, EMA, remedies, conditioning, sampling, export) comes
from the adversarial layer: a method of this shape is its objective, its defaults and its presets.
"""

from dataclasses import dataclass

from gankit.objectives import OBJECTIVES, Objective
from gankit.recipes.adversarial import AdversarialConfig, AdversarialRecipe
from gankit.recipes.base import register
from gankit.recipes.gan import SMOKE, TOY


@dataclass
class LSGANConfig(AdversarialConfig):
    pass  # the family's settings are enough; a method adds its own fields here (with `param`)


@register
class LSGAN(AdversarialRecipe):
    name = "lsgan"
    Config = LSGANConfig
    description = "Mao et al. 2017: least-squares D and G losses"
    presets = {"smoke": SMOKE, "toy": {**TOY, "D.norm": "none"}}

    def base_objective(self) -> Objective:
        return OBJECTIVES["least_squares"]
