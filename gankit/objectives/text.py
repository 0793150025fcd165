"""Objectives of text-conditioned GANs (StackGAN, Zhang et al. 2017), as pure functions.

- Conditioning augmentation's regulariser (§3.1, eq. 5 and its KL term): ĉ ~ N(μ(φ_t), diag σ²(φ_t)) and
    KL(N(μ, σ²) ‖ N(0, I)) = ½ (μ² + σ² − 1 − log σ²),
  averaged over the batch *and* the c dimensions as the official code does (`KL_loss` of
  hanzhanggit/StackGAN-Pytorch, `kl_loss` of the TensorFlow code), which is what its `COEFF.KL` = 2.0 weighs.
- Matching-aware discriminator (Reed et al. 2016, GAN-CLS; StackGAN §3.2): besides real images with their
  own text (target 1) and fakes with the text they were drawn for (target 0), D sees real images with
  mismatched text (target 0), so it must judge the pair, not the image alone:
    L_D = BCE(D(x, φ), 1) + ½ [BCE(D(x, φ'), 0) + BCE(D(G(z, φ), φ), 0)]
  with the ½ of StackGAN-Pytorch's `compute_discriminator_loss`. G's loss is the non-saturating one.
"""

import torch.nn.functional as F
from torch import Tensor


def kl_standard_normal(mu: Tensor, logvar: Tensor) -> Tensor:
    """Mean over the batch and dimensions of KL(N(mu, exp(logvar)) ‖ N(0, 1)), elementwise."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).mean()


def d_matching_aware(real_right: Tensor, real_wrong: Tensor, fake_right: Tensor) -> Tensor:
    """D logits of (real, its text), (real, another's text) and (fake, its text) -> D's loss to minimise."""
    real = F.softplus(-real_right).mean()          # -log sigmoid(t): BCE with target 1
    wrong = F.softplus(real_wrong).mean()          # -log(1 - sigmoid(t)): BCE with target 0
    fake = F.softplus(fake_right).mean()
    return real + 0.5 * (wrong + fake)
