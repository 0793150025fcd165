"""Where gankit keeps its caches.

One folder holds everything gankit caches (decoded datasets, and the caches of
TorchInductor, scikit-learn and matplotlib), so users can find and delete it: `$GANKIT_CACHE`, or
`~/.cache/gankit` by default.
"""

import os
from pathlib import Path


def cache_dir(*parts: str) -> Path:
    root = Path(os.environ.get("GANKIT_CACHE") or Path.home() / ".cache" / "gankit")
    path = root.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def route_third_party_caches() -> None:
    """Point libraries that cache on their own at gankit's cache folder (unless the user set them)."""
    os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(cache_dir("inductor")))
    os.environ.setdefault("SCIKIT_LEARN_DATA", str(cache_dir("sklearn")))
    os.environ.setdefault("MPLCONFIGDIR", str(cache_dir("matplotlib")))
