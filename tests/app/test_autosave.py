"""Autosave and crash recovery: a real process is killed mid-session and its work comes back in a new window."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from app.case import SegmentationNode
from app.case.autosave import AutosaveStore
from app.case.bundle import save_case

REPO = Path(__file__).resolve().parents[2]

CRASHING_SESSION = textwrap.dedent(
    """
    import sys, time
    sys.path[:0] = [{repo!r}, {fixtures!r}]
    from app.case.autosave import AutosaveStore
    from conftest import synthetic_case
    case = synthetic_case((32, 32, 24))
    seg = case.segmentations[0]
    seg.add_segment("Tumour", (0.9, 0.8, 0.1), seg.labelmap.array == 0)  # work done after the last save
    store = AutosaveStore({root!r})  # kept: the store holds the lock that says "alive"
    store.write(case)
    print("autosaved", flush=True)
    time.sleep(60)
    """
)


def crash_after_autosave(root: Path) -> None:
    """Run a session that autosaves and is then killed with SIGKILL, as a crash would end it."""
    script = CRASHING_SESSION.format(repo=str(REPO), fixtures=str(REPO / "tests" / "app"), root=str(root))
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "autosaved"
        assert AutosaveStore(root).orphans() == []  # alive: its copy is not up for recovery
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)


def test_a_killed_sessions_copy_is_offered_back_with_its_work(tmp_path: Path) -> None:
    crash_after_autosave(tmp_path)
    store = AutosaveStore(tmp_path)
    (entry,) = store.orphans()
    assert entry.case_name == "Synthetic demo"
    case = store.recover(entry)
    names = [s.name for s in case.segmentations[0].segments]
    assert names == ["Bone", "Vessels", "Tumour"]
    assert case.modified
    assert case.path is None
    store.forget(entry)
    assert store.orphans() == []
    assert not entry.bundle.exists()


def test_autosave_copy_leaves_the_case_path_and_unsaved_flag_alone(tmp_path: Path, make_synthetic_case) -> None:
    case = make_synthetic_case((32, 32, 24))
    home = save_case(case, tmp_path / "plan.zip")
    case.segmentations[0].paint(1, np.ones(case.segmentations[0].labelmap.array.shape, bool))
    assert case.modified
    store = AutosaveStore(tmp_path / "autosave")
    copy = store.write(case)
    assert case.path == home
    assert case.modified
    assert (copy / "manifest.json").is_file()
    store.close()  # a clean exit leaves nothing behind
    assert list((tmp_path / "autosave").iterdir()) == []


@pytest.mark.gui
def test_window_autosaves_on_its_timer_and_drops_the_copy_once_saved(
    window, qtbot, tmp_path: Path, make_synthetic_case
) -> None:
    window.autosaver.store = AutosaveStore(tmp_path / "autosave")
    window.set_case(make_synthetic_case((32, 32, 24)))
    assert not window.autosaver.autosave_now()  # nothing unsaved yet: nothing to copy
    segmentation = window.case.of_kind(SegmentationNode)[0]
    segmentation.add_segment("Liver", (0.6, 0.3, 0.2), segmentation.labelmap.array == 0)
    window.autosaver.set_interval(0.002)  # ~120 ms
    with qtbot.waitSignal(window.autosaver.autosaved, timeout=5000) as blocker:
        pass
    copy = Path(blocker.args[0])
    assert copy.is_dir()
    assert window.save_to(tmp_path / "saved.zip")
    assert not copy.exists()  # the saved file holds it all now
    window.autosaver.set_interval(0)


@pytest.mark.gui
def test_window_recovers_a_crashed_sessions_work(window, tmp_path: Path) -> None:
    root = tmp_path / "autosave"
    crash_after_autosave(root)
    window.autosaver.store = AutosaveStore(root)
    asked = []
    case = window.autosaver.offer_recovery(ask=lambda entry: asked.append(entry.describe()) or "recover")
    assert case is window.case
    assert asked
    assert "Synthetic demo" in asked[0]
    assert [s.name for s in window.case.segmentations[0].segments][-1] == "Tumour"
    assert window.windowTitle().startswith("Synthetic demo*")
    # The recovered work is this session's own copy now; the crashed session's copy is gone.
    assert window.autosaver.store.orphans() == []
    assert len(list(root.glob("*.case"))) == 1


@pytest.mark.gui
def test_declining_recovery_deletes_the_copy_and_later_keeps_it(window, tmp_path: Path) -> None:
    root = tmp_path / "autosave"
    crash_after_autosave(root)
    window.autosaver.store = AutosaveStore(root)
    assert window.autosaver.offer_recovery(ask=lambda entry: "later") is None
    assert len(window.autosaver.orphans()) == 1
    assert window.autosaver.offer_recovery(ask=lambda entry: "discard") is None
    assert window.autosaver.orphans() == []
    assert list(root.glob("*.case")) == []
