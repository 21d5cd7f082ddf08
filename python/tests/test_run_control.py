"""What surrounds a run from Python: the GIL is released while the chains run, the progress
callback sees the work done, and Ctrl-C stops the chains and raises KeyboardInterrupt with the
draws made so far attached (issue 17)."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import numpy as np

import bnnppl

from conftest import MODELS, ROOT


def _regression() -> bnnppl.Posterior:
    return bnnppl.Model.from_file(MODELS / "regression_1d.bnn").bind(MODELS / "regression_1d.json")


def test_the_gil_is_released_while_sampling():
    # The run goes on in a Python thread while this one ticks, needing the GIL for every tick.
    # The progress callback notes the tick count as the chains go: between its first and last
    # call the ticks advance only if the run does not hold the GIL.
    post = _regression()
    done = threading.Event()
    ticks = [0]
    marks: list[tuple[float, int]] = []
    result = {}

    def sample():
        result["idata"] = post.sample(
            chains=1, warmup=40, draws=40, seed=1,
            progress=lambda *_: marks.append((time.perf_counter(), ticks[0])),
        )  # fmt: skip
        done.set()

    runner = threading.Thread(target=sample)
    runner.start()
    while not done.is_set():
        ticks[0] += 1
        time.sleep(0.002)
    runner.join()
    assert result["idata"].posterior["sigma"].shape == (1, 40)
    (t0, k0), (t1, k1) = marks[0], marks[-1]
    assert t1 - t0 > 0.2, f"the chains ran only {t1 - t0:.3f} s; make the run longer"
    # At most one tick per 2 ms of sleep; a run holding the GIL would allow almost none.
    assert k1 - k0 >= 0.25 * (t1 - t0) / 0.002, f"{k1 - k0} ticks in {t1 - t0:.2f} s"


def test_the_progress_callback_counts_every_draw():
    calls = []
    post = _regression()
    post.sample(chains=2, warmup=40, draws=30, seed=1,
                progress=lambda done, total, div: calls.append((done, total, div)))  # fmt: skip
    assert calls, "the callback was never called"
    done = [c[0] for c in calls]
    assert done == sorted(done)
    assert {c[1] for c in calls} == {2 * (40 + 30)}
    assert all(c[0] <= c[1] for c in calls)


def test_the_progress_callback_counts_svi_steps_then_draws():
    # About half a second of optimizer steps, then the draws from the guide.
    calls = []
    post = _regression()
    post.svi(steps=20000, draws=50, seed=1, progress=lambda *c: calls.append(c))
    assert calls, "the callback was never called"
    assert {c[1] for c in calls} == {20000 + 50}
    done = [c[0] for c in calls]
    assert done == sorted(done) and done[-1] <= 20000 + 50


# The child restores Python's own SIGINT handler first: a parent that ignores SIGINT (a shell's
# background job does) passes that on, and Python then leaves Ctrl-C ignored.
INTERRUPTED = """
import os, signal, sys, threading, time
signal.signal(signal.SIGINT, signal.default_int_handler)
import bnnppl
post = bnnppl.Model.from_file("models/eight_schools.bnn").bind("models/eight_schools.json")
threading.Timer(1.0, lambda: os.kill(os.getpid(), signal.SIGINT)).start()
started = time.perf_counter()
try:
    post.sample(chains=2, warmup=100, draws=10**9, seed=1)
except KeyboardInterrupt as stop:
    idata = stop.draws
    print("interrupted after", round(time.perf_counter() - started, 1), "s")
    print("draws", idata.posterior.sizes["chain"], idata.posterior.sizes["draw"])
    print("finite", bool((idata.posterior["mu"].values == idata.posterior["mu"].values).all()))
    print("note", " ".join(getattr(stop, "__notes__", [])))
    sys.exit(0)
print("not interrupted")
sys.exit(1)
"""


def test_ctrl_c_raises_keyboard_interrupt_and_keeps_the_draws():
    done = subprocess.run(
        [sys.executable, "-c", INTERRUPTED], cwd=ROOT, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    lines = dict(line.split(" ", 1) for line in done.stdout.splitlines())
    assert float(lines["interrupted"].split()[1]) < 10
    chains, draws = map(int, lines["draws"].split())
    assert chains == 2 and draws > 0
    assert lines["finite"] == "True"
    assert f"{draws} draws per chain are kept in this exception's .draws" in lines["note"]


def test_a_run_draws_the_same_with_or_without_a_progress_callback():
    post = bnnppl.Model.from_file(MODELS / "eight_schools.bnn").bind(MODELS / "eight_schools.json")
    a = post.sample(chains=2, warmup=100, draws=50, seed=6, return_inferencedata=False)
    b = post.sample(chains=2, warmup=100, draws=50, seed=6, return_inferencedata=False,
                    progress=lambda *c: None)  # fmt: skip
    np.testing.assert_array_equal(a["posterior"]["mu"], b["posterior"]["mu"])
