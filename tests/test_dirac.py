"""The Dirac-GAN lab against Mescheder et al. 2018: verdicts, the notebook's trajectories, hand-computed steps.

The lab runs once per module (27 runs of 500 steps); everything else is cheap.
"""

import argparse
import dataclasses
import json
import math

import numpy as np
import pytest

from gankit import dirac, objectives
from gankit.errors import GankitError

# The paper (§3, Fig. 3) and the notebook: unregularized GAN, NS-GAN, WGAN and WGAN-GP do not converge;
# instance noise, zero-centred gradient penalties and consensus optimization do.
CONVERGENT = {"instance-noise", "gan-gp-0.3", "gan-gp-1.0", "consensus", "nsgan-gp-0.3"}
# Not in the paper's figures: with five D steps per G step and the *exact* gradient of ½‖v‖², consensus
# optimization drives D into saturation and diverges (the notebook's field halves a term; see below).
BEYOND_THE_PAPER = {("consensus", "alternating-5"): False}


def expected_verdict(method: str, scheme: str) -> bool:
    return BEYOND_THE_PAPER.get((method, scheme), method in CONVERGENT)


@pytest.fixture(scope="module")
def lab() -> dict:
    return {(r["method"], r["scheme"]): r for r in dirac.run_lab()}


@pytest.mark.parametrize("scheme", dirac.SCHEMES)
@pytest.mark.parametrize("method", dirac.METHODS)
def test_verdicts_agree_with_the_paper(lab, method, scheme):
    result = lab[method, scheme]
    assert result["converged"] is expected_verdict(method, scheme), result["final_distance"]
    if result["converged"]:  # linear convergence to machine-level distances; noise stays at its MC floor
        assert result["final_distance"] < (0.05 if method == "instance-noise" else 1e-4)
    else:
        assert result["final_distance"] > dirac.TOLERANCE


def test_results_are_jsonable(lab):
    results = [lab[m, s] for m in dirac.METHODS for s in dirac.SCHEMES]
    assert json.loads(json.dumps(results)) == results
    for r in results:
        assert set(r) == {"method", "scheme", "final_distance", "converged", "trajectory"}
        assert len(r["trajectory"]) == 501 and all(len(p) == 2 for p in r["trajectory"])
        assert r["final_distance"] == pytest.approx(math.hypot(*r["trajectory"][-1]))
    assert json.loads(json.dumps(dirac.summary(results)))[0] == {
        "method": "gan", "scheme": "simultaneous", "final_distance": lab["gan", "simultaneous"]["final_distance"],
        "converged": False}


# ------------------------------------------------------------------------------ the notebook, in numpy
# LMescheder/GAN_stability, notebooks/diracgan/gans.py and simulate.py, in the paper's coordinates, where
# D is high on fakes: ψ_paper = -ψ_gankit.


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def fp(x):
    return sigmoid(-x)


def fp2(x):
    return -sigmoid(-x) * sigmoid(x)


def consensus_field(term: float):
    """The notebook's GAN_Consensus(1.0) with `term` = 0.5 as written, 1.0 for the exact ∇(½‖v‖²)."""

    def field(theta, psi):
        v1, v2 = -psi * fp(psi * theta), theta * fp(psi * theta)
        norm2, d = psi ** 2 + theta ** 2, fp(psi * theta) * fp2(psi * theta)
        return (v1 - (theta * fp(psi * theta) ** 2 + term * psi * norm2 * d),
                v2 - (psi * fp(psi * theta) ** 2 + term * theta * norm2 * d))

    return field


NOTEBOOK_FIELDS = {
    "gan": lambda t, p: (-p * fp(p * t), t * fp(p * t)),
    "nsgan": lambda t, p: (-p * fp(-p * t), t * fp(p * t)),
    "wgan": lambda t, p: (-p, t),
    "wgan-gp": lambda t, p: (-p, t - 0.7 * (abs(p) - 1.0) * np.sign(p)),
    "gan-gp-0.3": lambda t, p: (-p * fp(p * t), t * fp(p * t) - 0.3 * p),
    "gan-gp-1.0": lambda t, p: (-p * fp(p * t), t * fp(p * t) - 1.0 * p),
    "nsgan-gp-0.3": lambda t, p: (-p * fp(-p * t), t * fp(p * t) - 0.3 * p),
    "consensus": consensus_field(1.0),
}


def notebook_trajectory(field, scheme, theta, psi, steps=500, h=0.2, clip=None):
    project = (lambda p: float(np.clip(p, -clip, clip))) if clip else (lambda p: p)
    d_steps = dirac.d_steps_per_g_step(scheme)
    psi = project(psi)
    points = [(theta, psi)]
    for _ in range(steps):
        if not d_steps:  # trajectory_simgd
            v1, v2 = field(theta, psi)
            theta, psi = theta + h * v1, project(psi + h * v2)
        else:  # trajectory_altgd
            theta += h * field(theta, psi)[0]
            for _ in range(d_steps):
                psi = project(psi + h * field(theta, psi)[1])
        points.append((theta, psi))
    return np.array(points, dtype=float)


@pytest.mark.parametrize("scheme", dirac.SCHEMES)
@pytest.mark.parametrize("method", list(NOTEBOOK_FIELDS))
def test_trajectories_are_the_notebooks_mirrored(lab, method, scheme):
    # gankit's start (1, 1) is the notebook's (1, -1); every point is the notebook's with ψ negated.
    clip = 1.0 if method == "wgan" else None
    notebook = notebook_trajectory(NOTEBOOK_FIELDS[method], scheme, 1.0, -1.0, clip=clip)
    ours = np.array(lab[method, scheme]["trajectory"])
    atol = 1e-7 if method == "wgan-gp" else 1e-9  # gradient_penalty's norm is sqrt(‖∇D‖² + 1e-12)
    np.testing.assert_allclose(ours, notebook * [1, -1], rtol=1e-7, atol=atol)


@pytest.mark.parametrize("scheme", dirac.SCHEMES)
@pytest.mark.parametrize("method", list(NOTEBOOK_FIELDS))
def test_verdicts_hold_from_the_notebooks_own_start(method, scheme):
    clip = 1.0 if method == "wgan" else None
    notebook = notebook_trajectory(NOTEBOOK_FIELDS[method], scheme, 1.0, 1.0, clip=clip)
    assert dirac.converged(notebook.tolist()) is expected_verdict(method, scheme)


def test_consensus_alternating_5_diverges_only_with_the_exact_gradient(lab):
    written = notebook_trajectory(consensus_field(0.5), "alternating-5", 1.0, -1.0)
    exact = notebook_trajectory(consensus_field(1.0), "alternating-5", 1.0, -1.0)
    assert dirac.converged(written.tolist()) and not dirac.converged(exact.tolist())
    theta, psi = lab["consensus", "alternating-5"]["trajectory"][-1]
    assert theta * psi < -3  # D saturated: σ(ψθ) ≈ 0, so ‖v‖ and both gradients have all but vanished


# ------------------------------------------------------------------------------ by hand

S = 1 / (1 + math.exp(-1))  # σ(ψθ) at the start (1, 1)


@pytest.mark.parametrize("method, start, first_step", [
    # ∂L_G/∂θ = -ψσ(ψθ), ∂L_D/∂ψ = θσ(ψθ): the minimax game's field at (1, 1).
    ("gan", (1.0, 1.0), (1 + 0.2 * S, 1 - 0.2 * S)),
    # non-saturating: ∂L_G/∂θ = -ψσ(-ψθ).
    ("nsgan", (1.0, 1.0), (1 + 0.2 * (1 - S), 1 - 0.2 * S)),
    # R1 = γ/2 ψ² adds γψ to ∂L_D/∂ψ.
    ("gan-gp-0.3", (1.0, 1.0), (1 + 0.2 * S, 1 - 0.2 * (S + 0.3))),
    # WGAN-GP: ∂L_D/∂ψ = θ + 2λ(|ψ| - 1)sign ψ with λ = 0.35, at ψ = 2.
    ("wgan-gp", (1.0, 2.0), (1 + 0.2 * 2, 2 - 0.2 * (1 + 2 * 0.35 * 1))),
    # WGAN: ψ = 0.95 + 0.2·1 = 1.15 is clipped back to 1.
    ("wgan", (-1.0, 0.95), (-1 + 0.2 * 0.95, 1.0)),
    # consensus: ∂(½‖v‖²)/∂θ = σσ'ψ(θ² + ψ²) + σ²θ, the same with θ and ψ swapped for ψ; σ' = σ(1 - σ).
    ("consensus", (1.0, 1.0), (1 - 0.2 * (-S + 2 * S * S * (1 - S) + S * S),
                               1 - 0.2 * (S + 2 * S * S * (1 - S) + S * S))),
])
def test_first_simultaneous_step_by_hand(method, start, first_step):
    result = dirac.simulate(method, "simultaneous", steps=1, theta0=start[0], psi0=start[1])
    assert result["trajectory"] == [list(start), pytest.approx(list(first_step), abs=1e-12)]


def test_alternating_d_steps_see_the_new_theta():
    _, (theta1, psi1) = dirac.simulate("gan", "alternating-1", steps=1)["trajectory"]
    assert theta1 == pytest.approx(1 + 0.2 * S)
    assert psi1 == pytest.approx(1 - 0.2 * theta1 * (1 / (1 + math.exp(-theta1)))), "D's step uses θ₁"


# ------------------------------------------------------------------------------ it is gankit's code


def test_lab_calls_gankits_r1_penalty(monkeypatch):
    calls = []

    def spy(D, real, gamma, *args, **kwargs):
        calls.append(gamma)
        return 0 * objectives.penalties.r1_penalty(D, real, gamma)

    monkeypatch.setattr(objectives, "r1_penalty", spy)
    silenced = dirac.simulate("gan-gp-0.3", "alternating-1", steps=20)["trajectory"]
    assert silenced == dirac.simulate("gan", "alternating-1", steps=20)["trajectory"]
    assert calls == [0.3] * 20


def test_lab_calls_gankits_gradient_penalty_and_clipping(monkeypatch):
    targets = []
    real_gp = objectives.gradient_penalty

    def spy(D, real, fake, *args, target=1.0, **kwargs):
        targets.append(target)
        return real_gp(D, real, fake, *args, target=target, **kwargs)

    monkeypatch.setattr(objectives, "gradient_penalty", spy)
    dirac.simulate("wgan-gp", "simultaneous", steps=3)
    assert targets == [1.0] * 3

    clipped = dirac.simulate("wgan", "simultaneous", steps=60)["trajectory"]
    monkeypatch.setattr(objectives, "clip_weights", lambda net, bound: None)
    unclipped = dirac.simulate("wgan", "simultaneous", steps=60)["trajectory"]
    assert max(abs(p[1]) for p in clipped) <= 1.0 < max(abs(p[1]) for p in unclipped)


def test_lab_uses_gankits_objective_registry(monkeypatch):
    base = objectives.OBJECTIVES["minimax"]
    doubled = dataclasses.replace(base, d=lambda real, fake: 2 * base.d(real, fake))
    monkeypatch.setitem(objectives.OBJECTIVES, "minimax", doubled)
    _, (theta1, psi1) = dirac.simulate("gan", "simultaneous", steps=1)["trajectory"]
    assert (theta1, psi1) == pytest.approx((1 + 0.2 * S, 1 - 2 * 0.2 * S))


# ------------------------------------------------------------------------------ eigenvalues, critical γ


def lab_jacobian(method, eps=1e-6) -> np.ndarray:
    """Central differences of the lab's vector field at the equilibrium: column j is ∂v/∂(θ, ψ)_j."""
    columns = [np.subtract(dirac.vector_field(method, *step), dirac.vector_field(method, *-step)) / (2 * eps)
               for step in (np.array([eps, 0.0]), np.array([0.0, eps]))]
    return np.stack(columns, axis=1)


@pytest.mark.parametrize("gamma", [0.0, 0.3, 1.0, 2.0])
def test_r1_eigenvalues_of_the_lab_are_the_papers(gamma):
    # −γ/2 ± sqrt(γ²/4 − f'(0)²) with f'(0) = ½: gankit's γ/2 convention is the paper's, no rescaling.
    method = dataclasses.replace(dirac.get_method("gan-gp-0.3"), r1_gamma=gamma)
    measured = np.sort_complex(np.linalg.eigvals(lab_jacobian(method)))
    np.testing.assert_allclose(measured, np.sort_complex(np.array(dirac.r1_eigenvalues(gamma))), atol=1e-6)


def test_critical_gamma_is_where_the_eigenvalues_turn_real():
    assert dirac.critical_gamma() == 1.0 == dirac.get_method("gan-gp-1.0").r1_gamma
    assert dirac.r1_eigenvalues(1.0) == (-0.5, -0.5)  # a double real eigenvalue: critical damping
    assert all(abs(e.imag) > 0 and e.real == pytest.approx(-0.15) for e in dirac.r1_eigenvalues(0.3))
    assert dirac.r1_eigenvalues(0.0) == pytest.approx((0.5j, -0.5j))  # unregularized: purely imaginary


# ------------------------------------------------------------------------------ plot, table, command


def test_plot_writes_a_png(lab, tmp_path):
    results = [lab[m, s] for m in ("gan", "wgan", "instance-noise", "consensus") for s in dirac.SCHEMES]
    path = dirac.plot_lab(results, tmp_path / "plots" / "dirac.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000


def test_table_lists_every_run(lab):
    table = dirac.format_table(list(lab.values()))
    assert len(table.splitlines()) == 2 + len(dirac.METHODS) * len(dirac.SCHEMES)
    assert "gan-gp-1.0" in table and "alternating-5" in table and " yes" in table and " no" in table


def parse(*argv):
    parser = argparse.ArgumentParser(prog="gankit")
    dirac.add_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(["dirac", *argv])


def test_command_json_and_plot(tmp_path, capsys):
    args = parse("--methods", "gan", "gan-gp-1.0", "--schemes", "simultaneous", "--steps", "200", "--json",
                 "--plot", str(tmp_path / "lab.png"))
    assert dirac.run_command(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert [(r["method"], r["converged"]) for r in out] == [("gan", False), ("gan-gp-1.0", True)]
    assert all("trajectory" not in r for r in out)
    assert (tmp_path / "lab.png").exists()


def test_command_prints_the_table(capsys):
    assert dirac.run_command(parse("--methods", "wgan", "--steps", "5")) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == ["method", "scheme", "final", "distance", "converged"]
    assert out.count("wgan") == len(dirac.SCHEMES)


def test_unknown_names_are_one_line_gankit_errors():
    for call in (lambda: dirac.simulate("dcgan", "simultaneous"), lambda: dirac.run_lab(["gan", "lsgan"]),
                 lambda: dirac.run_lab(schemes=["alternating-2"])):
        with pytest.raises(GankitError) as err:
            call()
        assert "\n" not in str(err.value) and "choose from" in str(err.value)
    with pytest.raises(SystemExit):  # argparse's choices; gankit's CLI parser turns this into a GankitError
        parse("--methods", "dcgan")
