"""The examples in examples/ run as scripts (reduced sizes with --quick) and reach what they promise."""
from __future__ import annotations

import os
import pathlib
import re
import subprocess
import sys

EXAMPLES = pathlib.Path(__file__).resolve().parents[1] / "examples"


def run_example(name: str, *args, env: dict | None = None) -> subprocess.CompletedProcess:
    environment = None if env is None else {**os.environ, **env}
    done = subprocess.run([sys.executable, str(EXAMPLES / name), *args], capture_output=True, text=True,
                          timeout=300, env=environment)
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def test_digits_mlp_quick_trains_with_a_progress_bar():
    done = run_example("digits_mlp.py", "--quick")
    assert float(re.search(r"test accuracy: ([\d.]+)%", done.stdout).group(1)) >= 85
    assert "training: 100%" in done.stderr and "loss=" in done.stderr  # tqdm's bar, with the loss


def test_digits_mlp_full_reaches_95_percent():
    # 40 epochs of 42 batches take a fraction of a second once compiled: the promise itself is checked.
    done = run_example("digits_mlp.py")
    assert float(re.search(r"test accuracy: ([\d.]+)%", done.stdout).group(1)) >= 95


def test_lbfgs_quick_converges_to_the_known_optima():
    done = run_example("lbfgs.py", "--quick")
    out = done.stdout
    assert float(re.search(r"max \|x - 1\| = (\S+) ", out).group(1)) < 1e-4
    assert float(re.search(r"\|gradient\| = (\S+)", out).group(1)) < 1e-6
    assert float(re.search(r"max \|theta - theta_ref\| = (\S+)", out).group(1)) < 1e-5
    assert "all converged to the known optimum" in out


def test_gaussian_process_quick_matches_the_hand_derived_gradient_and_fits():
    done = run_example("gaussian_process.py", "--quick")
    out = done.stdout
    value, by_hand = (float(v) for v in re.search(r"nll (\S+) \(by hand (\S+)\)", out).groups())
    assert abs(value - by_hand) <= 1e-10 * abs(by_hand)
    assert float(re.search(r"max \|gradient - by hand\| / max \|gradient\| = (\S+)", out).group(1)) < 1e-10
    assert float(re.search(r"\|gradient\| = (\S+)$", out.strip()).group(1)) < 1e-3  # a fitted optimum


def test_njit_training_loop_quick_matches_the_python_loop():
    done = run_example("njit_training_loop.py", "--quick")
    losses = [float(v) for v in re.findall(r"mean batch loss ([\d.]+)", done.stdout)]
    assert losses[-1] < losses[0] / 2
    assert float(re.search(r"weights\(Python loop\)\| = (\S+)", done.stdout).group(1)) < 1e-9


def test_njit_training_loop_without_numba_blas():
    # Without SciPy, Numba has no np.dot and graphc calls NumPy's BLAS from objmode: that kernel must
    # still be callable from the user's own @njit loop.
    code = ("import runpy, sys, graphc.ops.linalg as linalg\n"
            "linalg.numba_has_blas = lambda: False\n"
            "sys.argv = ['njit_training_loop.py', '--quick']\n"
            f"runpy.run_path({str(EXAMPLES / 'njit_training_loop.py')!r}, run_name='__main__')\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "trained" in done.stdout.splitlines()[-1]


def test_readme_quick_start_runs():
    readme = (EXAMPLES.parent / "README.md").read_text()
    code = re.search(r"## Quick start\n\n```python\n(.*?)```", readme, re.S).group(1)
    assert len(code.strip().splitlines()) <= 16
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "graph (W: f64[3], b: f64[], X: f64[100,3], y: f64[100]) -> f64[]" in done.stdout
    assert "def kernel(" in done.stdout


def test_damped_oscillator_quick_recovers_the_parameters_with_a_checked_gradient():
    # Tiered, as users run it: the NumPy tier answers while Numba compiles (the suite's default waits).
    done = run_example("damped_oscillator.py", "--quick", env={"GRAPHC_TIERED": "1"})
    out = done.stdout
    assert float(re.search(r"largest relative difference: (\S+)", out).group(1)) < 1e-6
    assert float(re.search(r"max \|fitted - true\| = (\S+) ", out).group(1)) < 1e-6
