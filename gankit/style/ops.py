"""The arithmetic of neural style transfer, as pure functions of feature maps [B, C, H, W].

* Gram matrix G = F Fᵀ / (C·H·W) (Gatys et al. 2016, eq. 3, normalised as jcjohnson/neural-style does,
  so the loss does not grow with the image size); style loss = mean squared Gram difference.
* AdaIN(x, y) = σ(y)·(x − μ(x))/σ(x) + μ(y) (Huang & Belongie 2017, eq. 8), μ and σ per sample and
  channel over space; its style loss matches μ and σ (eq. 13), its content loss is the distance of the
  decoded image's features to the AdaIN target t (eq. 12).
* Total variation: mean squared difference of neighbouring pixels.
* Luminance-only transfer (Gatys et al. 2017, "Preserving colour in neural artistic style transfer"):
  YIQ conversion, and matching the style's luminance mean and spread to the content's.
"""

import torch
from torch import Tensor
from torch.nn import functional as F

EPS = 1e-5


def gram(features: Tensor) -> Tensor:
    b, c, h, w = features.shape
    flat = features.reshape(b, c, h * w)
    return flat @ flat.transpose(1, 2) / (c * h * w)


def mean_std(features: Tensor, eps: float = EPS) -> tuple[Tensor, Tensor]:
    """Per-sample, per-channel mean and standard deviation over space: two [B, C, 1, 1] tensors."""
    flat = features.flatten(2)
    mean = flat.mean(-1)
    std = (flat.var(-1, unbiased=False) + eps).sqrt()
    return mean[..., None, None], std[..., None, None]


def adain(content: Tensor, style: Tensor) -> Tensor:
    """Renormalise `content` features to the channel statistics of `style` (batch sizes broadcast)."""
    c_mean, c_std = mean_std(content)
    s_mean, s_std = mean_std(style)
    return s_std * (content - c_mean) / c_std + s_mean


def adain_stats(content: Tensor, s_mean: Tensor, s_std: Tensor) -> Tensor:
    """AdaIN with given target statistics (a weighted mix of several styles' statistics)."""
    c_mean, c_std = mean_std(content)
    return s_std * (content - c_mean) / c_std + s_mean


def content_loss(features: Tensor, target: Tensor) -> Tensor:
    return F.mse_loss(features, target)


def gram_loss(features: Tensor, target_gram: Tensor) -> Tensor:
    return F.mse_loss(gram(features), target_gram.expand(features.shape[0], -1, -1))


def stats_loss(features: Tensor, target: Tensor) -> Tensor:
    """AdaIN's style loss at one layer: ‖μ(f) − μ(s)‖² + ‖σ(f) − σ(s)‖², averaged over channels."""
    f_mean, f_std = mean_std(features)
    t_mean, t_std = mean_std(target)
    return F.mse_loss(f_mean, t_mean.expand_as(f_mean)) + F.mse_loss(f_std, t_std.expand_as(f_std))


def total_variation(x: Tensor) -> Tensor:
    return (x[..., 1:, :] - x[..., :-1, :]).pow(2).mean() + (x[..., :, 1:] - x[..., :, :-1]).pow(2).mean()


# ------------------------------------------------------------------------------ colour

RGB_TO_YIQ = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])


def rgb_to_yiq(x: Tensor) -> Tensor:
    return torch.einsum("ij,bjhw->bihw", RGB_TO_YIQ.to(x), x)


def yiq_to_rgb(x: Tensor) -> Tensor:
    return torch.einsum("ij,bjhw->bihw", torch.linalg.inv(RGB_TO_YIQ).to(x), x)


def luminance(x: Tensor) -> Tensor:
    """[B, 3, H, W] RGB -> its Y channel replicated to 3 channels (what the feature net sees)."""
    return rgb_to_yiq(x)[:, :1].expand(-1, 3, -1, -1).contiguous()


def match_luminance(style: Tensor, content: Tensor) -> Tensor:
    """The style's luminance image, shifted and scaled to the content's luminance mean and spread."""
    ys, yc = rgb_to_yiq(style)[:, :1], rgb_to_yiq(content)[:, :1]
    matched = (ys - ys.mean()) / (ys.std() + EPS) * yc.std() + yc.mean()
    return matched.clamp(0, 1).expand(-1, 3, -1, -1).contiguous()


def with_content_colour(stylized: Tensor, content: Tensor) -> Tensor:
    """The output's luminance with the content's chrominance (I, Q), back in RGB."""
    if content.shape[-2:] != stylized.shape[-2:]:
        content = F.interpolate(content, size=stylized.shape[-2:], mode="bilinear", align_corners=False)
    y = rgb_to_yiq(stylized)[:, :1]
    iq = rgb_to_yiq(content)[:, 1:].expand(stylized.shape[0], -1, -1, -1)
    return yiq_to_rgb(torch.cat([y, iq], 1)).clamp(0, 1)
