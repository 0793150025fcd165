"""The Dirac-GAN convergence lab: which training methods for GANs actually converge?

Mescheder, Geiger & Nowozin 2018, "Which Training Methods for GANs do actually
Converge?" (ICML), §2-3 and the official notebook `notebooks/DiracGAN.ipynb` of
LMescheder/GAN_stability. The whole game has two scalars:

    p_data = δ_0,   G_θ = δ_θ (every fake is the point θ),   D_ψ(x) = ψ·x.

The unique equilibrium is (θ, ψ) = (0, 0). Both players take plain gradient
steps of size h on their *own* loss, and every loss here is computed by calling
gankit's objectives and penalties on D's outputs, so the lab exercises the real
code the recipes train with:

    gan             L_D = d_minimax(D(0), D(θ)) = softplus(0) + softplus(ψθ)
                    L_G = g_saturating(D(θ))     = -softplus(ψθ)        (the minimax game)
    nsgan           L_G = g_nonsaturating(D(θ)) = softplus(-ψθ)
    wgan            d_wasserstein / g_wasserstein; ψ clipped to [-1, 1] by clip_weights after each step
    wgan-gp         L_D += λ·gradient_penalty(D, real, fake), target 1
    instance-noise  GAN on real = 0 + σε, fake = θ + σε', σ = 0.7, 1,000 fresh samples per loss
    gan-gp-γ        L_D += r1_penalty(D, real, γ) = γ/2 ψ²   (γ = 0.3, and γ = 1 "critical")
    consensus       both losses += c/2 ‖v‖², v = (∂L_G/∂θ, ∂L_D/∂ψ), c = 1   (Mescheder et al. 2017)
    nsgan-gp-0.3    nsgan + r1_penalty with γ = 0.3

Linearised at the equilibrium with f'(0) = ½ (the slope of log σ at 0), the GAN's
vector field (-∂L_G/∂θ, -∂L_D/∂ψ) has the Jacobian [[0, ½], [-½, -γ]] once R1 is
added, with eigenvalues

    λ = -γ/2 ± sqrt(γ²/4 - f'(0)²)                           (paper, §3.3)

γ = 0 gives ±i/2: purely imaginary, so gradient descent circles or spirals out.
Any γ > 0 moves both into the left half-plane; γ = 2 f'(0) = 1 is critical
damping (a double eigenvalue -½). gankit's r1_penalty already uses the paper's
γ/2 convention (R1 = γ/2 ‖∇D‖²), so the paper's γ is passed unchanged.

Two conventions differ from the paper and are adapted on purpose:

* Sign of ψ. The paper writes L = f(D(G(z))) + f(-D(x)) with D maximising, so its
  D is high on *fakes*; gankit's objectives read D's output as the logit of
  "real". gankit's ψ is therefore the paper's -ψ: the lab's run from (θ₀, ψ₀) is
  the notebook's run from (θ₀, -ψ₀) with ψ negated (the tests check this point
  for point). The default start (1, 1) is the notebook's (1, -1); the verdicts
  are the same from either start.
* WGAN-GP weight. The notebook's field is ψ̇ = θ - γ(|ψ| - g₀)sign(ψ), i.e. a
  penalty γ/2 (|ψ| - g₀)² with γ = 0.7; gankit's gradient_penalty has no ½, so
  the lab multiplies it by λ = γ/2 = 0.35 to play the paper's game.

Schemes: `simultaneous` (both players step from the same point), `alternating-1`
and `alternating-5` (one G step, then 1 or 5 D steps, as the notebook's
trajectory_altgd). One recorded step is one G update.

Verdict: converged when the distance to (0, 0) stayed below 0.1 during the last
100 steps (so it ended below 0.1 and did not leave in 100 steps). A run merely
passing by the equilibrium on a cycle or a spiral leaves the ball within 100
steps; instance noise, stochastic by design, stays inside it at its Monte-Carlo
noise floor (~0.01) although its distance no longer shrinks there.

Findings beyond the paper's figures (h = 0.2, 500 steps):

* consensus + alternating-5 diverges: five D steps on L_D + ½‖v‖² drive ψ into
  the saturated region (|ψθ| ≫ 1) where ‖v‖ vanishes, a known pull of consensus
  optimization towards wherever the field is small, and θ is stranded there.
  The notebook's consensus field halves the term of ∂(½‖v‖²)/∂x that comes
  through f'' (its own comment names ½(ψ² + θ²) f'(ψθ)² as the loss); with the
  exact gradient, which autograd computes here, the notebook's code diverges too.
* NS-GAN with alternating updates drifts in slowly (distance ~ t^-½ from the
  nonlinear terms: 0.27 after 500 steps, ~0.05 after 20,000): not the linear
  convergence the regularized methods show, and not converged at 500 steps.
"""

import argparse
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from . import objectives
from .argtypes import positive_int
from .errors import GankitError
from .viz import pyplot

SCHEMES = ("simultaneous", "alternating-1", "alternating-5")

DTYPE = torch.float64
TOLERANCE = 0.1  # verdict: stay within this distance of (0, 0) ...
WINDOW = 100  # ... for this many final steps
ESCAPE_RADIUS = 1e6  # a run this far out has diverged; stop before it overflows
F_PRIME_0 = 0.5  # f'(0) of the GAN's f(t) = -log(1 + exp(-t))

WGAN_CLIP = 1.0
WGAN_GP_WEIGHT = 0.35  # λ = γ/2 with the paper's γ = 0.7 (gradient_penalty has no ½)
WGAN_GP_TARGET = 1.0
NOISE_STD = 0.7
NOISE_SAMPLES = 1000
CONSENSUS_WEIGHT = 1.0


# ------------------------------------------------------------------------------ the two players


class DiracGenerator(nn.Module):
    """G_θ: every generated sample is the point θ."""

    def __init__(self, theta: float):
        super().__init__()
        self.theta = nn.Parameter(torch.tensor(float(theta), dtype=DTYPE))

    def forward(self, n: int) -> Tensor:
        return self.theta.expand(n, 1)  # [n, 1]: a batch of 1-D samples, the shape gankit's penalties expect


class LinearDiscriminator(nn.Module):
    """D_ψ(x) = ψ·x, a logit of "x is real" (a critic value for WGAN)."""

    def __init__(self, psi: float):
        super().__init__()
        self.psi = nn.Parameter(torch.tensor(float(psi), dtype=DTYPE))

    def forward(self, x: Tensor) -> Tensor:
        return self.psi * x[:, 0]  # [n, 1] -> [n]


# ------------------------------------------------------------------------------ the methods


@dataclass(frozen=True)
class Method:
    """One training method: a gankit objective plus the regularizers of the paper."""

    name: str
    objective: str  # key of gankit.objectives.OBJECTIVES
    description: str
    r1_gamma: float = 0.0
    gp_weight: float = 0.0
    clip: float | None = None
    noise_std: float = 0.0
    consensus: float = 0.0


METHOD_SPECS = {m.name: m for m in (
    Method("gan", "minimax", "GAN, saturating (minimax) G loss"),
    Method("nsgan", "nonsaturating", "GAN, non-saturating G loss"),
    Method("wgan", "wasserstein", f"WGAN, ψ clipped to ±{WGAN_CLIP:g}", clip=WGAN_CLIP),
    Method("wgan-gp", "wasserstein", f"WGAN-GP, γ = {2 * WGAN_GP_WEIGHT:g}, target {WGAN_GP_TARGET:g}",
           gp_weight=WGAN_GP_WEIGHT),
    Method("instance-noise", "minimax", f"GAN + instance noise σ = {NOISE_STD:g}", noise_std=NOISE_STD),
    Method("gan-gp-0.3", "minimax", "GAN + R1, γ = 0.3", r1_gamma=0.3),
    Method("gan-gp-1.0", "minimax", "GAN + R1, γ = 1 (critical)", r1_gamma=1.0),
    Method("consensus", "minimax", f"GAN + consensus optimization, c = {CONSENSUS_WEIGHT:g}",
           consensus=CONSENSUS_WEIGHT),
    Method("nsgan-gp-0.3", "nonsaturating", "NS-GAN + R1, γ = 0.3", r1_gamma=0.3),
)}
METHODS = tuple(METHOD_SPECS)


def get_method(name) -> Method:
    """The Method called `name` (a Method passes through, so variants can be tried: dataclasses.replace)."""
    if isinstance(name, Method):
        return name
    if name not in METHOD_SPECS:
        raise GankitError(f"unknown Dirac-GAN method {name!r}; choose from {', '.join(METHODS)}")
    return METHOD_SPECS[name]


def d_steps_per_g_step(scheme: str) -> int:
    """0 for simultaneous updates, else the number of D steps after each G step."""
    if scheme not in SCHEMES:
        raise GankitError(f"unknown update scheme {scheme!r}; choose from {', '.join(SCHEMES)}")
    return 0 if scheme == "simultaneous" else int(scheme.split("-")[1])


def critical_gamma(f_prime_0: float = F_PRIME_0) -> float:
    """The R1 weight where the eigenvalues -γ/2 ± sqrt(γ²/4 - f'(0)²) meet on the real axis."""
    return 2.0 * f_prime_0


def r1_eigenvalues(gamma: float, f_prime_0: float = F_PRIME_0) -> tuple[complex, complex]:
    """Eigenvalues of the Jacobian of the GAN + R1 vector field at (0, 0) (paper, §3.3)."""
    root = complex(gamma ** 2 / 4 - f_prime_0 ** 2) ** 0.5
    return -gamma / 2 + root, -gamma / 2 - root


# ------------------------------------------------------------------------------ losses and steps


def batches(method: Method, G: DiracGenerator, rng: torch.Generator) -> tuple[Tensor, Tensor]:
    """The real batch (the point 0) and the fake batch (the point θ), both blurred by instance noise."""
    n = NOISE_SAMPLES if method.noise_std else 1
    real, fake = torch.zeros(n, 1, dtype=DTYPE), G(n)
    if method.noise_std:  # fresh noise at every evaluation: a Monte-Carlo estimate of the smoothed game
        real = real + method.noise_std * torch.randn(n, 1, dtype=DTYPE, generator=rng)
        fake = fake + method.noise_std * torch.randn(n, 1, dtype=DTYPE, generator=rng)
    return real, fake


def losses(method: Method, G: DiracGenerator, D: LinearDiscriminator, rng: torch.Generator,
           players: str = "GD") -> tuple[Tensor | None, Tensor | None]:
    """(L_G, L_D), each minimised by its own player, built from gankit.objectives.

    `players` names the losses wanted ("G", "D" or "GD"); the other is None (consensus needs both).
    """
    real, fake = batches(method, G, rng)
    objective = objectives.OBJECTIVES[method.objective]  # looked up now, so a patched registry is used
    want_g, want_d = "G" in players or method.consensus, "D" in players or method.consensus
    d_fake = D(fake)
    loss_g = objective.g(d_fake) if want_g else None
    loss_d = objective.d(D(real), d_fake) if want_d else None
    if want_d and method.r1_gamma:
        loss_d = loss_d + objectives.r1_penalty(D, real, method.r1_gamma)
    if want_d and method.gp_weight:
        loss_d = loss_d + method.gp_weight * objectives.gradient_penalty(D, real, fake, target=WGAN_GP_TARGET,
                                                                         generator=rng)
    if method.consensus:
        # c/2 ‖v‖² of the joint field v = (∂L_G/∂θ, ∂L_D/∂ψ), kept in the graph (create_graph) so that
        # each player also descends on it.
        v_theta = player_gradient(loss_g, G.theta, create_graph=True)
        v_psi = player_gradient(loss_d, D.psi, create_graph=True)
        consensus = 0.5 * method.consensus * (v_theta ** 2 + v_psi ** 2)
        loss_g, loss_d = loss_g + consensus, loss_d + consensus
    return loss_g, loss_d


def player_gradient(loss: Tensor, param: nn.Parameter, create_graph: bool = False) -> Tensor:
    """A player's gradient of its own loss (the graph stays: the other player may need it)."""
    return torch.autograd.grad(loss, param, retain_graph=True, create_graph=create_graph)[0]


def descend(param: nn.Parameter, grad: Tensor, h: float) -> None:
    with torch.no_grad():
        param.add_(grad, alpha=-h)


def constrain(method: Method, D: LinearDiscriminator) -> None:
    if method.clip is not None:  # WGAN: clip after every update, as Algorithm 1 of Arjovsky et al.
        objectives.clip_weights(D, method.clip)


def simultaneous_step(method: Method, G: DiracGenerator, D: LinearDiscriminator, h: float,
                      rng: torch.Generator) -> None:
    loss_g, loss_d = losses(method, G, D, rng)
    grad_theta = player_gradient(loss_g, G.theta)  # both gradients at the same point
    grad_psi = player_gradient(loss_d, D.psi)
    descend(G.theta, grad_theta, h)
    descend(D.psi, grad_psi, h)
    constrain(method, D)


def alternating_step(method: Method, G: DiracGenerator, D: LinearDiscriminator, h: float,
                     rng: torch.Generator, d_steps: int) -> None:
    loss_g, _ = losses(method, G, D, rng, players="G")
    descend(G.theta, player_gradient(loss_g, G.theta), h)
    constrain(method, D)
    for _ in range(d_steps):  # D answers the generator's move, seeing the new θ each time
        _, loss_d = losses(method, G, D, rng, players="D")
        descend(D.psi, player_gradient(loss_d, D.psi), h)
        constrain(method, D)


# ------------------------------------------------------------------------------ the lab


def distance(point) -> float:
    return math.hypot(point[0], point[1])


def converged(trajectory: list[list[float]], tolerance: float = TOLERANCE, window: int = WINDOW) -> bool:
    """True when every point of the last `window` steps lies within `tolerance` of (0, 0)."""
    if len(trajectory) <= window:
        return False
    return all(distance(p) < tolerance for p in trajectory[-(window + 1):])


def simulate(method: "str | Method", scheme: str, steps: int = 500, h: float = 0.2, theta0: float = 1.0,
             psi0: float = 1.0, seed: int = 0) -> dict:
    """One training run: `steps` generator updates of size h from (θ₀, ψ₀), and the verdict.

    Returns {method, scheme, final_distance, converged, trajectory: [[θ, ψ], ...] (steps + 1 points)}.
    `seed` drives the instance noise and WGAN-GP's interpolation weights, so runs are reproducible.
    """
    spec, d_steps = get_method(method), d_steps_per_g_step(scheme)
    if steps < 1:
        raise GankitError(f"steps must be at least 1, not {steps}")
    rng = torch.Generator().manual_seed(seed)
    G, D = DiracGenerator(theta0), LinearDiscriminator(psi0)
    constrain(spec, D)  # the notebook also projects the starting point
    trajectory = [[G.theta.item(), D.psi.item()]]
    for _ in range(steps):
        if d_steps:
            alternating_step(spec, G, D, h, rng, d_steps)
        else:
            simultaneous_step(spec, G, D, h, rng)
        point = [G.theta.item(), D.psi.item()]
        if not distance(point) < ESCAPE_RADIUS:  # diverged (or NaN): later points would overflow
            break
        trajectory.append(point)
    return {"method": spec.name, "scheme": scheme, "final_distance": distance(trajectory[-1]),
            "converged": converged(trajectory), "trajectory": trajectory}


def run_lab(methods=None, schemes=None, steps: int = 500) -> list[dict]:
    """`simulate` for every method × scheme (all of them by default), in METHODS × SCHEMES order."""
    methods, schemes = list(methods or METHODS), list(schemes or SCHEMES)
    for name in methods:
        get_method(name)
    for scheme in schemes:
        d_steps_per_g_step(scheme)  # validate everything before the first run
    return [simulate(m, s, steps=steps) for m in methods for s in schemes]


def summary(results: list[dict]) -> list[dict]:
    """The results without trajectories: small and JSON-able."""
    return [{k: v for k, v in r.items() if k != "trajectory"} for r in results]


def format_table(results: list[dict]) -> str:
    header = f"{'method':<16}{'scheme':<16}{'final distance':>16}  converged"
    lines = [header, "-" * len(header)]
    for r in results:
        lines.append(f"{r['method']:<16}{r['scheme']:<16}{r['final_distance']:>16.3g}  "
                     f"{'yes' if r['converged'] else 'no'}")
    return "\n".join(lines)


# ------------------------------------------------------------------------------ the picture


def vector_field(method, theta: float, psi: float) -> tuple[float, float]:
    """(-∂L_G/∂θ, -∂L_D/∂ψ): where plain gradient descent moves the point (θ, ψ)."""
    G, D = DiracGenerator(theta), LinearDiscriminator(psi)
    loss_g, loss_d = losses(get_method(method), G, D, torch.Generator().manual_seed(0))
    return -player_gradient(loss_g, G.theta).item(), -player_gradient(loss_d, D.psi).item()


def plot_lab(results: list[dict], path, grid: int = 10, lim: float = 2.0) -> Path:
    """Per method, its trajectories (one colour per scheme) over its gradient vector field on [-lim, lim]²."""
    plt = pyplot()
    methods = list(dict.fromkeys(r["method"] for r in results))
    cols = min(3, len(methods))
    rows = math.ceil(len(methods) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 4.2 * rows), squeeze=False)
    ticks = np.linspace(-lim, lim, grid)
    colours = {s: c for s, c in zip(SCHEMES, ("tab:blue", "tab:orange", "tab:green"))}
    for ax, method in zip(axes.flat, methods):
        spec = get_method(method)
        field = np.array([[vector_field(spec, t, p) for t in ticks] for p in ticks])  # [ψ, θ, 2]
        ax.quiver(ticks, ticks, field[..., 0], field[..., 1], color="0.55")
        if spec.clip is not None:  # shade where the clipped critic can't go
            ax.axhspan(spec.clip, lim, color="0.2", alpha=0.15)
            ax.axhspan(-lim, -spec.clip, color="0.2", alpha=0.15)
        runs = [r for r in results if r["method"] == method]
        for r in runs:
            points = np.array(r["trajectory"])
            verdict = "converges" if r["converged"] else "does not converge"
            ax.plot(points[:, 0], points[:, 1], "-", lw=1, color=colours.get(r["scheme"]),
                    label=f"{r['scheme']}: {verdict}")
        ax.plot(*runs[0]["trajectory"][0], "ro", ms=4)  # the start
        ax.plot(0, 0, "k*", ms=8)  # the equilibrium
        ax.set(xlim=(-lim, lim), ylim=(-lim, lim), xlabel="θ", ylabel="ψ", title=spec.description)
        ax.legend(fontsize=7, loc="lower left")
    for ax in list(axes.flat)[len(methods):]:
        ax.axis("off")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


# ------------------------------------------------------------------------------ the command


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Adds `gankit dirac`: the convergence lab of Mescheder et al. 2018 on the Dirac-GAN."""
    p = subparsers.add_parser("dirac", help="Dirac-GAN lab: which training methods converge (Mescheder 2018)")
    p.add_argument("--methods", nargs="+", choices=METHODS, metavar="METHOD",
                   help=f"methods to run (default: all): {', '.join(METHODS)}")
    p.add_argument("--schemes", nargs="+", choices=SCHEMES, metavar="SCHEME",
                   help=f"update schemes (default: all): {', '.join(SCHEMES)}")
    p.add_argument("--steps", type=positive_int, default=500, help="generator steps per run (default 500)")
    p.add_argument("--json", action="store_true", help="print the results as JSON (without trajectories)")
    p.add_argument("--plot", metavar="FILE", help="write the trajectories over each vector field to FILE (.png)")
    return p


def run_command(args) -> int:
    results = run_lab(args.methods, args.schemes, steps=args.steps)
    print(json.dumps(summary(results), indent=2) if args.json else format_table(results))
    if args.plot:
        written = plot_lab(results, args.plot)
        if not args.json:  # keep --json output parseable
            print(f"wrote {written}")
    return 0
