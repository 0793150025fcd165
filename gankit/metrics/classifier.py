"""The digit classifier whose features every gankit digit metric uses.

A small CNN (two conv blocks, a 128-unit feature layer, 10 logits) trained on
`mnist5k` by `scripts/train_digit_classifier.py`: deterministic (fixed seed,
fixed split, CPU), 4,000 training digits with small random affine distortions, 1,000 held out
(100 per class). Its weights ship in the package
(`gankit/assets/digit_classifier.safetensors`) so that every user's FID, KID,
precision/recall and class-coverage numbers on digit data use the same features.

Inputs: [B, 1, H, W] in [-1, 1] (gankit's image range); anything other than
32×32 is resized. `features(x)` gives the 128-d penultimate activations,
`forward(x)` the class logits.
"""

from importlib import resources
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from ..errors import GankitError

WEIGHTS = "digit_classifier.safetensors"
HELD_OUT_PER_CLASS = 100


def _block(c_in: int, c_out: int) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]


class DigitClassifier(nn.Module):
    num_features = 128  # torchmetrics reads this for FID

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(
            *_block(1, 32), *_block(32, 32), nn.MaxPool2d(2),           # 16x16
            *_block(32, 64), *_block(64, 64), nn.MaxPool2d(2),          # 8x8
            *_block(64, 128), nn.AdaptiveAvgPool2d(2), nn.Flatten(),    # 128 x 2 x 2
            nn.Linear(128 * 4, 128), nn.ReLU(),
        )
        self.dropout = nn.Dropout(0.3)
        self.head = nn.Linear(128, 10)

    @staticmethod
    def prepare(x: Tensor) -> Tensor:
        x = x.float()
        if x.shape[1] != 1:
            raise ValueError(f"the digit classifier takes 1-channel images, got {x.shape[1]} channels")
        if x.shape[-2:] != (32, 32):
            x = F.interpolate(x, size=(32, 32), mode="bilinear", antialias=True, align_corners=False)
        return x

    def features(self, x: Tensor) -> Tensor:
        return self.body(self.prepare(x))

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.dropout(self.features(x)))


def weights_path() -> Path:
    return Path(str(resources.files("gankit") / "assets" / WEIGHTS))


_CACHE: dict[str, DigitClassifier] = {}


def load_digit_classifier(device: str | torch.device = "cpu") -> DigitClassifier:
    """The shipped classifier in eval mode (cached per device)."""
    key = str(device)
    if key not in _CACHE:
        path = weights_path()
        if not path.exists():
            raise GankitError(f"the digit classifier weights are missing ({path}); "
                              "run scripts/train_digit_classifier.py")
        net = DigitClassifier()
        net.load_state_dict(load_file(str(path)))
        _CACHE[key] = net.eval().requires_grad_(False).to(device)
    return _CACHE[key]


def split_mnist5k(labels: Tensor) -> tuple[Tensor, Tensor]:
    """Fixed split: the last 100 digits of each class are held out (indices into mnist5k)."""
    held = torch.cat([torch.nonzero(labels == c).flatten()[-HELD_OUT_PER_CLASS:] for c in range(10)])
    mask = torch.ones(len(labels), dtype=torch.bool)
    mask[held] = False
    return torch.nonzero(mask).flatten(), held.sort().values


def random_affine(x: Tensor, generator: torch.Generator) -> Tensor:
    """Small random rotations (±12°), scalings (±10%), shears and shifts (±2 px): digits stay digits."""
    n = len(x)
    u = lambda lo, hi: lo + (hi - lo) * torch.rand(n, generator=generator)  # noqa: E731
    angle, scale, shear = u(-0.21, 0.21), u(0.9, 1.1), u(-0.15, 0.15)
    shift = (torch.rand(n, 2, generator=generator) * 2 - 1) * (2.0 * 2 / x.shape[-1])
    cos, sin = angle.cos() / scale, angle.sin() / scale
    theta = torch.stack([torch.stack([cos, -sin + shear, shift[:, 0]], 1),
                         torch.stack([sin, cos, shift[:, 1]], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x + 1, grid, align_corners=False, padding_mode="zeros") - 1  # pad with background (-1)


def train_digit_classifier(epochs: int = 40, seed: int = 0, log=print) -> tuple[DigitClassifier, float]:
    """Train on mnist5k's fixed training split; returns (model, held-out accuracy)."""
    from ..data import load_dataset

    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    data = load_dataset("mnist5k")
    x, y = data.all().x, data.y
    train_idx, held_idx = split_mnist5k(y)
    model = DigitClassifier()
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
    for epoch in range(epochs):
        model.train()
        perm = train_idx[torch.randperm(len(train_idx), generator=g)]
        for batch in perm.split(64):
            loss = F.cross_entropy(model(random_affine(x[batch], g)), y[batch])
            opt.zero_grad()
            loss.backward()
            opt.step()
        sched.step()
        acc = accuracy(model, x[held_idx], y[held_idx])
        log(f"epoch {epoch + 1}/{epochs}: loss {loss.item():.4f}, held-out accuracy {acc:.4f}")
    return model.eval(), accuracy(model, x[held_idx], y[held_idx])


@torch.no_grad()
def accuracy(model: nn.Module, x: Tensor, y: Tensor) -> float:
    was = model.training
    model.eval()
    pred = torch.cat([model(chunk).argmax(1) for chunk in x.split(500)])
    model.train(was)
    return (pred == y).float().mean().item()


def save_weights(model: DigitClassifier, path: Path) -> None:
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
