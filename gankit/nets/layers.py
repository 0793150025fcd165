"""Small building blocks shared by the networks (modules only, no losses)."""

import torch
from torch import Tensor, nn

ACTIVATIONS = {
    "relu": lambda: nn.ReLU(),
    "leaky_relu": lambda: nn.LeakyReLU(0.2),
    "tanh": lambda: nn.Tanh(),
    "elu": lambda: nn.ELU(),
    "gelu": lambda: nn.GELU(),
    "silu": lambda: nn.SiLU(),
}


def activation(name: str) -> nn.Module:
    return ACTIVATIONS[name]()


def norm1d(kind: str, features: int) -> nn.Module:
    return {"batch": lambda: nn.BatchNorm1d(features), "layer": lambda: nn.LayerNorm(features),
            "none": nn.Identity}[kind]()


def norm2d(kind: str, channels: int) -> nn.Module:
    # "layer" normalizes each sample over (C, H, W), as the WGAN-GP critic does;
    # GroupNorm with one group is exactly that, with a per-channel affine.
    return {"batch": lambda: nn.BatchNorm2d(channels), "layer": lambda: nn.GroupNorm(1, channels),
            "none": nn.Identity}[kind]()


def dcgan_init(module: nn.Module) -> None:
    """Radford et al. 2015, §4: weights from N(0, 0.02); norm scales from N(1, 0.02)."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)) and m.weight is not None:
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


class MinibatchDiscrimination(nn.Module):
    """Salimans et al. 2016, §3.2: features f(x_i) ∈ ℝᴬ times T ∈ ℝ^{A×B×C} give M_i ∈ ℝ^{B×C};
    c_b(x_i, x_j) = exp(-‖M_{i,b} - M_{j,b}‖₁) and o(x_i)_b = Σ_j c_b(x_i, x_j) (j = i included,
    contributing exp(0) = 1, as in the paper). Output: [f(x), o(x)] ∈ ℝ^{A+B}. The batch it sees is the
    batch D is called on, so real and fake batches go through it separately."""

    def __init__(self, in_features: int, kernels: int = 100, kernel_dim: int = 5):
        super().__init__()
        self.kernels, self.kernel_dim = kernels, kernel_dim
        self.twice_differentiable = False  # set by `need_double_backward` (penalties, unrolling)
        # scaled so that M's entries start O(1) whatever the feature width A
        self.T = nn.Parameter(torch.randn(in_features, kernels * kernel_dim) / in_features ** 0.5)

    def forward(self, f: Tensor) -> Tensor:
        M = (f @ self.T).view(-1, self.kernels, self.kernel_dim)                  # [N, B, C]
        if self.twice_differentiable:
            l1 = (M.unsqueeze(0) - M.unsqueeze(1)).abs().sum(3)                   # [N, N, B]
            o = torch.exp(-l1).sum(1)                                              # [N, B]
        else:
            # cdist never builds the [N, N, B, C] differences (4x faster at N = 256), but its
            # backward cannot itself be differentiated
            Mb = M.transpose(0, 1).contiguous()                                    # [B, N, C]
            o = torch.exp(-torch.cdist(Mb, Mb, p=1)).sum(2).T                      # [N, B]
        return torch.cat([f, o.to(f.dtype)], 1)


def need_double_backward(net: nn.Module) -> None:
    """Make every layer of `net` differentiable twice (a loss will differentiate its gradient)."""
    for layer in net.modules():
        if isinstance(layer, MinibatchDiscrimination):
            layer.twice_differentiable = True


class MinibatchStd(nn.Module):
    """ProGAN (Karras et al. 2018, §3): the standard deviation of each feature over groups of
    `group_size` samples, averaged to one number per group and appended as an extra channel."""

    def __init__(self, group_size: int = 4):
        super().__init__()
        self.group_size = group_size

    def forward(self, x: Tensor) -> Tensor:
        n = x.shape[0]
        g = next(d for d in range(min(self.group_size, n), 0, -1) if n % d == 0)  # groups must tile the batch
        spatial = x.shape[2:]
        y = x.reshape(g, n // g, *x.shape[1:]).float()                  # [G, M, C, ...]
        y = (y.var(0, unbiased=False) + 1e-8).sqrt()                      # [M, C, ...]
        y = y.flatten(1).mean(1).to(x.dtype)                              # [M]
        y = y.view(-1, 1, *([1] * len(spatial))).repeat(g, 1, *spatial)   # [N, 1, ...]
        return torch.cat([x, y], 1)


def pack(x: Tensor, m: int) -> Tensor:
    """PacGAN (Lin et al. 2018): m consecutive samples become one D input, stacked along channels
    ([N, C, ...] -> [N/m, m·C, ...])."""
    if m == 1:
        return x
    n = x.shape[0] - x.shape[0] % m
    return x[:n].reshape(n // m, m * x.shape[1], *x.shape[2:])
