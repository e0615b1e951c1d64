"""``surgitwin batch`` on Dask: 20 phantom variants on a local cluster and on a separate scheduler and workers.

One module, three runs that build on each other (module-scoped fixtures):

1. the command line on a local cluster of 2 worker processes: 20 variants done, exit 0;
2. the same command again: every finished item skipped, nothing rewritten, no cluster started;
3. the command line on a ``dask scheduler`` and two ``dask worker`` processes on loopback, with one more item that
   cannot work (a folder without images), one worker killed with SIGKILL while items run: the broken item is
   reported (exit 1) and does not stop the others, every item still finishes, and every output hash equals the local
   cluster's.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

SPEC = """
pipeline:
  segment:
    - {preset: bone}
    - {preset: contrast_vessels, name: Vessels, largest_island: true}
  mesh: {smooth: 5}
  export: [labelmap, meshes, dicom_seg, dicom_stl]
variants:
  phantom: {size: 48x48x40, seeds: 1-20}
"""
N_VARIANTS = 20


def _manifests(out: Path) -> dict[str, dict]:
    return {p.parent.name: json.loads(p.read_text()) for p in sorted((out / "items").glob("*/manifest.json"))}


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "app.cli.main", "batch", *args], capture_output=True, text=True,
                          timeout=300)


@pytest.fixture(scope="module")
def spec_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("batch")
    (folder / "not-dicom").mkdir()
    (folder / "not-dicom" / "notes.txt").write_text("not an image")
    path = folder / "spec.yaml"
    path.write_text(SPEC, encoding="utf-8")
    (folder / "spec-with-broken.yaml").write_text(SPEC + "items:\n  - {id: broken, dicom: not-dicom}\n")
    return path


@pytest.fixture(scope="module")
def local_run(spec_path: Path) -> tuple[Path, subprocess.CompletedProcess[str], float]:
    out = spec_path.parent / "local"
    started = time.perf_counter()
    result = _cli(str(spec_path), "--out", str(out), "--workers", "2")
    return out, result, time.perf_counter() - started


def test_local_cluster_runs_every_variant(local_run) -> None:
    out, result, seconds = local_run
    assert result.returncode == 0, result.stderr[-3000:]
    manifests = _manifests(out)
    assert sorted(manifests) == [f"phantom-{s:03d}" for s in range(1, N_VARIANTS + 1)]
    for item_id, manifest in manifests.items():
        assert manifest["id"] == item_id
        names = set(manifest["outputs"])
        assert {"segmentation.nrrd", "meshes/bone.stl", "meshes/vessels.stl", "dicom/segmentation.dcm",
                "dicom/model_bone.dcm", "dicom/model_vessels.dcm"} <= names
        # Complete: every listed file exists with the recorded content.
        from app.batch import content_hash

        for name, digest in manifest["outputs"].items():
            assert content_hash(out / "items" / item_id / name) == digest
        segments = {s["name"]: s for s in manifest["summary"]["segments"]}
        assert segments["Bone"]["volume_ml"] > 0
        assert segments["Vessels"]["triangles"] > 0
    # The variants differ (different seeds), so their outputs do too.
    assert len({m["outputs"]["segmentation.nrrd"] for m in manifests.values()}) == N_VARIANTS
    # The summary table on stdout, the progress bar on stderr.
    assert f"{N_VARIANTS} done, 0 skipped (already finished), 0 failed" in result.stdout
    assert "local cluster, 2 worker process(es)" in result.stdout
    assert f"{N_VARIANTS}/{N_VARIANTS} items, 0 failed" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (out / ".staging").exists()
    print(f"local cluster: {N_VARIANTS} variants in {seconds:.1f} s")


def test_rerun_skips_finished_items(local_run, spec_path: Path) -> None:
    out, _, _ = local_run
    before = {p: p.stat().st_mtime_ns for p in (out / "items").rglob("*") if p.is_file()}
    result = _cli(str(spec_path), "--out", str(out), "--workers", "2")
    assert result.returncode == 0
    assert f"0 done, {N_VARIANTS} skipped (already finished), 0 failed" in result.stdout
    assert "none needed (every item finished)" in result.stdout
    after = {p: p.stat().st_mtime_ns for p in (out / "items").rglob("*") if p.is_file()}
    assert after == before


def _start(args: list[str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(args, stdout=log.open("w"), stderr=subprocess.STDOUT, cwd=log.parent)


def test_scheduler_and_workers_survive_a_killed_worker_with_identical_outputs(local_run, spec_path: Path) -> None:
    from dask.distributed import Client

    dask = str(Path(sys.executable).with_name("dask"))
    work = spec_path.parent / "cluster"
    work.mkdir()
    scheduler_file = work / "scheduler.json"
    processes = [_start([dask, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                         "--scheduler-file", str(scheduler_file)], work / "scheduler.log")]
    try:
        deadline = time.monotonic() + 60
        while not scheduler_file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert scheduler_file.exists(), (work / "scheduler.log").read_text()
        address = json.loads(scheduler_file.read_text())["address"]
        assert address.startswith("tcp://127.0.0.1:")
        workers = [_start([dask, "worker", "--scheduler-file", str(scheduler_file), "--nworkers", "1",
                           "--nthreads", "1", "--no-nanny", "--no-dashboard", "--name", f"w{i}"],
                          work / f"worker{i}.log") for i in (1, 2)]
        processes += workers
        with Client(address, timeout="30s") as client:
            client.wait_for_workers(2, timeout=60)

        out = spec_path.parent / "scheduler-out"
        killed_at: list[int] = []

        def kill_one_worker_mid_run() -> None:
            # Both workers are busy from the first task to the last: kill one once a few items are published.
            deadline = time.monotonic() + 240
            while time.monotonic() < deadline:
                done = len(list((out / "items").glob("*/manifest.json")))
                if done >= 3:
                    os.kill(workers[0].pid, signal.SIGKILL)
                    killed_at.append(done)
                    return
                time.sleep(0.05)

        killer = threading.Thread(target=kill_one_worker_mid_run, daemon=True)
        killer.start()
        result = _cli(str(spec_path.with_name("spec-with-broken.yaml")), "--out", str(out), "--scheduler", address)
        killer.join(timeout=5)

        assert killed_at, "the worker was not killed while items were running"
        assert killed_at[0] < N_VARIANTS
        assert workers[0].wait(timeout=10) == -signal.SIGKILL
        # One item failed (exit 1), named in the summary with its reason; the others all finished.
        assert result.returncode == 1, result.stderr[-3000:]
        broken = next(line for line in result.stdout.splitlines() if line.startswith("broken"))
        assert "failed" in broken
        assert "no DICOM series that forms a 3-D volume" in broken
        assert f"{N_VARIANTS} done, 0 skipped (already finished), 1 failed" in result.stdout
        assert f"on {address}" in result.stdout
        assert "Traceback" not in result.stderr
        local, remote = _manifests(local_run[0]), _manifests(out)
        assert sorted(remote) == sorted(local)
        for item_id in local:
            assert remote[item_id]["outputs"] == local[item_id]["outputs"], item_id
            assert remote[item_id]["input_hash"] == local[item_id]["input_hash"]
        assert not (out / ".staging").exists()
        print(f"scheduler run: worker killed after {killed_at[0]} items, all {N_VARIANTS} finished; "
              f"{result.stdout.splitlines()[-1]}")
    finally:
        for process in reversed(processes):
            if process.poll() is None:
                process.terminate()
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()


def _worker_log_level() -> int:
    import logging

    return logging.getLogger("distributed.worker").getEffectiveLevel()


def test_local_workers_keep_distributed_warnings_out_of_the_terminal() -> None:
    """A worker's heartbeat that races the scheduler's shutdown logs a WARNING with a traceback; the batch's local
    workers log distributed's messages from ERROR up only (the batch reports every item's outcome itself)."""
    import logging

    from app.batch.runner import _client

    client, cluster, _ = _client(None, 1)
    try:
        levels = client.run(_worker_log_level)
    finally:
        client.close()
        cluster.close()
    assert list(levels.values()) == [logging.ERROR]
