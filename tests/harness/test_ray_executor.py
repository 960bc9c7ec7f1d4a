"""Ray executor: same stored numbers as local, a killed task is retried, a failing batch is reported
(finished ones stored), and an interrupted Ray sweep resumes without recomputing stored points.

One local Ray instance per module, loopback only: RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 makes Ray pick
127.0.0.1 as the node address (all its servers then bind to loopback), no dashboard, no usage stats.
Functions replacing `run_batch` are closures: cloudpickle sends them by value to the workers (this test
module is not importable there), while `simulators.*` is imported on the workers by reference.
"""
import contextlib
import dataclasses
import os
import sqlite3
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")   # read when ray is imported
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

import simulators.synthetic as syn  # noqa: E402
from simulators.harness import ConfigError, register, run_experiment  # noqa: E402
from simulators.harness.cli import main  # noqa: E402
from simulators.harness.runner import memory_cap  # noqa: E402

N_SIZES = syn.EXPERIMENT.config("smoke").n_sizes
N_SEEDS = syn.EXPERIMENT.config("smoke").seeds


@pytest.fixture(scope="module")
def ray_local():
    ray = pytest.importorskip("ray", reason="ray is not installed (pip install 'toyscale[ray]'); CI installs it")
    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, object_store_memory=100 * 2**20)
    yield ray
    if started:
        ray.shutdown()


@pytest.fixture
def replaced_run_batch():
    """Register synthetic.power_law with another run_batch for one test; restore it afterwards."""
    def replace(fn):
        register(dataclasses.replace(syn.EXPERIMENT, run_batch=fn))
    yield replace
    register(syn.EXPERIMENT)


def counting(real, calls_dir: Path, fail_seed=None, die_marker: Path | None = None):
    """run_batch that records each call (one file per call, holding its seeds) in `calls_dir` (workers
    are other processes), raises for `fail_seed`, and kills its worker once for seed 1 if `die_marker`."""
    def run_batch(cfg, points, ctx):
        fd, _ = tempfile.mkstemp(dir=calls_dir)
        os.write(fd, ",".join(str(p["seed"]) for p in points).encode())
        os.close(fd)
        if die_marker is not None and points[0]["seed"] == 1 and not die_marker.exists():
            die_marker.touch()
            os._exit(1)                   # the worker process dies mid-sweep
        if fail_seed is not None and any(p["seed"] == fail_seed for p in points):
            raise ValueError(f"bad batch for seed {fail_seed}")
        return real(cfg, points, ctx)
    return run_batch


def calls_by_seed(calls_dir: Path) -> list[str]:
    return sorted(p.read_text() for p in calls_dir.iterdir())


def stored_count(out: Path) -> int:
    return sqlite3.connect(out / "results.sqlite").execute("SELECT COUNT(*) FROM points").fetchone()[0]


@pytest.fixture(scope="module")
def local_run(tmp_path_factory):
    return run_experiment("synthetic.power_law", "smoke", out=tmp_path_factory.mktemp("local") / "r", device="cpu")


# ----------------------------------------------------------------------------- with a local Ray instance
@pytest.mark.slow
def test_ray_executor_stores_the_same_results_as_local(ray_local, local_run, tmp_path):
    res = run_experiment("synthetic.power_law", "smoke", out=tmp_path / "ray", device="cpu", executor="ray",
                         max_instances_per_batch=3)
    assert res.computed == N_SEEDS * N_SIZES and res.reused == 0
    assert [r.key for r in res.records] == [r.key for r in local_run.records]
    assert [r.metrics for r in res.records] == [r.metrics for r in local_run.records]
    assert res.report["rows"][0]["measured_exponent"] == local_run.report["rows"][0]["measured_exponent"]
    assert all(" @ " in r.device for r in res.records)      # provenance: where each batch ran


@pytest.mark.slow
def test_ray_task_killed_mid_sweep_is_retried_and_sweep_completes(ray_local, local_run, tmp_path,
                                                                   replaced_run_batch):
    from simulators.harness.ray_executor import RayExecutor

    (tmp_path / "calls").mkdir()
    marker = tmp_path / "killed-once"
    replaced_run_batch(counting(syn.run_batch, tmp_path / "calls", die_marker=marker))
    res = run_experiment("synthetic.power_law", "smoke", out=tmp_path / "r", device="cpu",
                         executor=RayExecutor(max_retries=2))
    assert marker.exists()                                   # the kill did happen
    seeds = calls_by_seed(tmp_path / "calls")
    assert sum(s.startswith("1,") for s in seeds) == 2       # seed 1's batch ran twice: killed, then retried
    assert [r.metrics for r in res.records] == [r.metrics for r in local_run.records]


@pytest.mark.slow
def test_ray_persistent_exception_is_reported_and_finished_batches_stored(ray_local, local_run, tmp_path,
                                                                          replaced_run_batch):
    from simulators.harness.ray_executor import RayExecutor

    (tmp_path / "calls").mkdir()
    replaced_run_batch(counting(syn.run_batch, tmp_path / "calls", fail_seed=2))
    with pytest.raises(RuntimeError, match=r"1 batch\(es\) failed for good") as err:
        run_experiment("synthetic.power_law", "smoke", out=tmp_path / "r", device="cpu",
                       executor=RayExecutor(exception_retries=1))
    msg = str(err.value)
    assert "'seed': 2" in msg and "ValueError: bad batch for seed 2" in msg and "2 attempt(s)" in msg
    assert stored_count(tmp_path / "r") == (N_SEEDS - 1) * N_SIZES
    assert len(calls_by_seed(tmp_path / "calls")) == N_SEEDS + 1   # one resubmission of the failing batch


@pytest.mark.slow
def test_ray_worker_dying_beyond_max_retries_is_a_failed_batch(ray_local, tmp_path, replaced_run_batch):
    from simulators.harness.ray_executor import RayExecutor

    def always_dies_for_seed_3(cfg, points, ctx):
        if points[0]["seed"] == 3:
            os._exit(1)
        return syn.run_batch(cfg, points, ctx)

    replaced_run_batch(always_dies_for_seed_3)
    with pytest.raises(RuntimeError, match=r"(?s)1 batch\(es\) failed for good.*'seed': 3.*max_retries=0"):
        run_experiment("synthetic.power_law", "smoke", out=tmp_path / "r", device="cpu",
                       executor=RayExecutor(max_retries=0))
    assert stored_count(tmp_path / "r") == (N_SEEDS - 1) * N_SIZES


@pytest.mark.slow
def test_interrupted_ray_sweep_resumes_without_recomputing(ray_local, local_run, tmp_path, replaced_run_batch):
    from simulators.harness.ray_executor import RayExecutor

    class Interrupt(Exception):
        pass

    class StopsAfter(RayExecutor):
        """The driver is interrupted after `n` batches have streamed back (in-flight tasks are cancelled)."""
        def map_batches(self, *args):
            with contextlib.closing(super().map_batches(*args)) as gen:
                for k, res in enumerate(gen):
                    if k == 2:
                        raise Interrupt
                    yield res

    (tmp_path / "calls").mkdir()
    replaced_run_batch(counting(syn.run_batch, tmp_path / "calls"))
    with pytest.raises(Interrupt):
        run_experiment("synthetic.power_law", "smoke", out=tmp_path / "r", device="cpu", executor=StopsAfter())
    assert stored_count(tmp_path / "r") == 2 * N_SIZES
    stored_seeds = {s for (s,) in sqlite3.connect(tmp_path / "r" / "results.sqlite").execute("SELECT seed FROM points")}
    # A cancelled task of the interrupted run may still finish (and record its call) after the interrupt:
    # the resumed run records its calls in a fresh directory, so only its own calls are counted.
    (tmp_path / "calls2").mkdir()
    replaced_run_batch(counting(syn.run_batch, tmp_path / "calls2"))
    res = run_experiment("synthetic.power_law", "smoke", out=tmp_path / "r", device="cpu", executor="ray",
                         resume=True)
    assert res.reused == 2 * N_SIZES and res.computed == (N_SEEDS - 2) * N_SIZES
    resumed = [int(s.split(",")[0]) for s in calls_by_seed(tmp_path / "calls2")]
    assert sorted(resumed) == sorted(set(range(N_SEEDS)) - stored_seeds)   # only the missing batches ran
    assert [r.metrics for r in res.records] == [r.metrics for r in local_run.records]


# ----------------------------------------------------------------------------- without ray
def test_missing_ray_is_a_clear_error_naming_the_extra(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(__import__("sys").modules, "ray", None)       # `import ray` now raises ImportError
    with pytest.raises(ConfigError, match=r"pip install 'toyscale\[ray\]'"):
        run_experiment("synthetic.power_law", "smoke", out=tmp_path / "x", device="cpu", executor="ray")
    assert not (tmp_path / "x").exists()                            # refused before any work
    assert main(["run", "synthetic.power_law", "--scale", "smoke", "--executor", "ray",
                 "--out", str(tmp_path / "y"), "--no-progress"]) == 2
    assert "toyscale[ray]" in capsys.readouterr().err and not (tmp_path / "y").exists()


@pytest.mark.parametrize("kwargs,match", [
    (dict(gpus_per_task=0), "gpus_per_task must be > 0"),
    (dict(max_retries=-1), "max_retries must be an integer >= 0"),
    (dict(max_in_flight=0), "max_in_flight must be an integer >= 1"),
])
def test_ray_executor_rejects_bad_options(kwargs, match):
    from simulators.harness.ray_executor import RayExecutor

    with pytest.raises(ConfigError, match=match):
        RayExecutor(**kwargs)


def test_cli_ray_flags_need_the_ray_executor(tmp_path, capsys):
    assert main(["run", "synthetic.power_law", "--scale", "smoke", "--ray-address", "auto",
                 "--out", str(tmp_path / "z")]) == 2
    assert "need --executor ray" in capsys.readouterr().err


def test_memory_cap_fits_instances_in_free_device_memory(monkeypatch):
    import torch

    exp = dataclasses.replace(syn.EXPERIMENT, instance_bytes=lambda cfg: 100 * cfg.n_sizes)
    cfg = exp.config("smoke")
    assert memory_cap(exp, cfg, torch.device("cpu")) is None              # CPU: no cap
    no_hook = dataclasses.replace(syn.EXPERIMENT, instance_bytes=None)
    assert memory_cap(no_hook, cfg, torch.device("cuda")) is None         # no hook: no cap
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (10_000 * N_SIZES, 20_000 * N_SIZES))
    assert memory_cap(exp, cfg, torch.device("cuda")) == 80               # 0.8 * free / per-instance bytes
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (10, 20))
    assert memory_cap(exp, cfg, torch.device("cuda")) == 1                # never below one instance


def test_ray_task_resources_follow_the_device():
    pytest.importorskip("ray", reason="ray is not installed (pip install 'toyscale[ray]'); CI installs it")
    import torch

    from simulators.harness.ray_executor import RayExecutor
    from simulators.harness.registry import RunContext

    cuda, cpu = RunContext(device=torch.device("cuda", 1)), RunContext(device=torch.device("cpu"))
    assert RayExecutor().resources(cuda) == {"num_gpus": 1, "num_cpus": 1}
    assert RayExecutor(gpus_per_task=0.5, cpus_per_task=4).resources(cuda) == {"num_gpus": 0.5, "num_cpus": 4}
    assert RayExecutor().resources(cpu) == {"num_gpus": 0, "num_cpus": 1}
    with pytest.raises(ConfigError, match="needs a CUDA run"):
        RayExecutor(gpus_per_task=1).resources(cpu)


@pytest.mark.gpu
@pytest.mark.slow
def test_ray_executor_on_cuda_one_gpu_per_task_memory_capped(ray_local, local_run, tmp_path, replaced_run_batch):
    from simulators.harness.ray_executor import RayExecutor

    (tmp_path / "calls").mkdir()
    register(dataclasses.replace(syn.EXPERIMENT, run_batch=counting(syn.run_batch, tmp_path / "calls"),
                                 instance_bytes=lambda cfg: 10**15))          # memory cap: 1 instance per batch
    res = run_experiment("synthetic.power_law", "smoke", out=tmp_path / "r", device="cuda",
                         executor=RayExecutor(gpus_per_task=1))
    assert [r.metrics for r in res.records] == [r.metrics for r in local_run.records]
    assert all(not r.device.startswith("cpu") for r in res.records)
    assert len(calls_by_seed(tmp_path / "calls")) == N_SEEDS * N_SIZES          # one task per instance
