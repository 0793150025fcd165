"""gankit: a tested, fast GAN toolkit (GAN, WGAN, WGAN-GP, R1, DCGAN, ...) with one CLI and one Python API."""

__version__ = "0.1.0"

from .paths import route_third_party_caches

route_third_party_caches()

from .api import Model, Run, build, load, resume, train  # noqa: E402
from .pipelines import Pipeline, Samples  # noqa: E402
from .data import Dataset, from_tensors, load_dataset  # noqa: E402
from .errors import GankitError  # noqa: E402
from .recipes import RECIPES, get_recipe, load_all  # noqa: E402
from .style import stylize  # noqa: E402

__all__ = ["GankitError", "Dataset", "Model", "Pipeline", "RECIPES", "Run", "Samples", "build", "from_tensors",
           "get_recipe", "load",
           "load_all", "load_dataset", "resume", "stylize", "train", "__version__"]
