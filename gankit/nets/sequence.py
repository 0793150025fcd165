"""C-RNN-GAN's networks (Mogren 2016, "C-RNN-GAN: Continuous recurrent neural networks with adversarial
training", §3): a recurrent generator and a bidirectional recurrent discriminator over note events.

G: at step t an LSTM stack (paper: 2 layers of 350 units) reads [z_t, x_{t-1}] (its own previous output,
zeros at t = 0) and a linear layer writes event x_t ([B, L, features], standardized units). With
`teacher` (the paper's pretraining) the previous *real* event is read instead, in one pass.
D: a bidirectional LSTM stack over the events and a linear score per step, averaged over time by the
loss (the paper's per-step D loss); its LSTM outputs are the features that feature matching compares.
"""

import torch
from torch import Tensor, nn


class RecurrentGenerator(nn.Module):
    def __init__(self, features: int, z_dim: int, hidden: int, layers: int):
        super().__init__()
        self.features, self.z_dim = features, z_dim
        self.lstm = nn.LSTM(z_dim + features, hidden, layers, batch_first=True)
        self.out = nn.Linear(hidden, features)

    def forward(self, z: Tensor, teacher: Tensor | None = None) -> Tensor:
        """z [B, L, z_dim] -> events [B, L, features]; `teacher` [B, L, features]: previous real events."""
        B, L, _ = z.shape
        if teacher is not None:
            previous = torch.cat([teacher.new_zeros(B, 1, self.features), teacher[:, :-1]], 1)
            h, _ = self.lstm(torch.cat([z, previous], 2))
            return self.out(h)
        x, state, outputs = z.new_zeros(B, 1, self.features), None, []
        for t in range(L):
            h, state = self.lstm(torch.cat([z[:, t:t + 1], x], 2), state)
            x = self.out(h)
            outputs.append(x)
        return torch.cat(outputs, 1)


class RecurrentDiscriminator(nn.Module):
    def __init__(self, features: int, hidden: int, layers: int):
        super().__init__()
        self.lstm = nn.LSTM(features, hidden, layers, batch_first=True, bidirectional=True)
        self.out = nn.Linear(2 * hidden, 1)

    def forward(self, x: Tensor, with_features: bool = False):
        """events [B, L, features] -> per-step logits [B, L] (and features [B, L·2·hidden])."""
        h, _ = self.lstm(x)
        logits = self.out(h).squeeze(2)
        return (logits, h.flatten(1)) if with_features else logits
