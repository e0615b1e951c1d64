"""Segmentation tools users install themselves: TotalSegmentator and nnU-Net v2, run as background processes.

Neither is a dependency: each is detected by its command on ``PATH``. A run writes the image as NIfTI into a
private temporary folder, starts the tool there (its own process, so a crash or an out-of-memory cannot take the
application down), relays its output lines as progress, stops it on cancel, and reads its label files back as
named masks on the image's grid. When a tool is missing the error says how to install it.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from imaging.volume import Volume

__all__ = ["PLUGINS", "Plugin", "PluginError", "available_plugins", "run_plugin"]


class PluginError(RuntimeError):
    """A plug-in is missing, failed or was cancelled; the message is meant for the user."""


@dataclass(frozen=True)
class Plugin:
    """An external segmentation tool."""

    key: str
    name: str
    command: str
    install_hint: str
    path: str | None = None

    @property
    def available(self) -> bool:
        """Whether its command was found."""
        return self.path is not None


PLUGINS = (
    Plugin("totalsegmentator", "TotalSegmentator", "TotalSegmentator",
           "pip install TotalSegmentator (it fetches its weights on first use, which needs internet access)"),
    Plugin("nnunet", "nnU-Net v2", "nnUNetv2_predict",
           "pip install nnunetv2 and set nnUNet_results to a folder with a trained model"),
)


def available_plugins() -> list[Plugin]:
    """Every known plug-in with the path of its command (None when absent)."""
    return [Plugin(p.key, p.name, p.command, p.install_hint, shutil.which(p.command)) for p in PLUGINS]


def _plugin(key: str) -> Plugin:
    for plugin in available_plugins():
        if plugin.key == key:
            if not plugin.available:
                raise PluginError(f"{plugin.name} is not installed ({plugin.command} is not on PATH): "
                                  f"{plugin.install_hint}")
            return plugin
    raise PluginError(f"unknown plug-in {key!r}; known: {', '.join(p.key for p in PLUGINS)}")


def _arguments(plugin: Plugin, image: Path, out: Path, options: dict[str, Any]) -> list[str]:
    if plugin.key == "totalsegmentator":
        args = [plugin.path, "-i", str(image), "-o", str(out)]
        if options.get("fast", True):
            args.append("--fast")
        if options.get("task"):
            args += ["--task", str(options["task"])]
        return args
    if "dataset" not in options:
        raise PluginError("nnU-Net needs the dataset (name or id) of a trained model")
    args = [plugin.path, "-i", str(image.parent), "-o", str(out), "-d", str(options["dataset"]),
            "-c", str(options.get("configuration", "3d_fullres"))]
    return args


def _read_masks(out: Path, volume: Volume, label_names: dict[int, str] | None) -> dict[str, npt.NDArray[np.bool_]]:
    from imaging.image_io import read_image

    files = sorted(out.rglob("*.nii.gz"))
    if not files:
        raise PluginError("the plug-in finished but wrote no label files")
    masks: dict[str, npt.NDArray[np.bool_]] = {}
    for path in files:
        labels = read_image(path)
        if labels.array.shape != volume.array.shape:
            raise PluginError(f"{path.name}: the plug-in's grid {labels.array.shape} differs from the image's")
        name = path.name.removesuffix(".nii.gz")
        values = [int(v) for v in np.unique(labels.array) if v != 0]
        if len(values) <= 1:  # one file per structure (TotalSegmentator)
            if values:
                masks[name.replace("_", " ")] = labels.array != 0
            continue
        for v in values:  # one multi-label file (nnU-Net)
            masks[(label_names or {}).get(v, f"{name} label {v}")] = labels.array == v
    return masks


def run_plugin(
    key: str,
    volume: Volume,
    *,
    options: dict[str, Any] | None = None,
    label_names: dict[int, str] | None = None,
    progress: Callable[[float, str], Any] | None = None,
    cancel: Any = None,
    timeout_s: float = 3600.0,
) -> dict[str, npt.NDArray[np.bool_]]:
    """Run plug-in ``key`` on ``volume``; returns structure name -> boolean mask on the volume's grid.

    Raises
    ------
    PluginError
        Not installed, failed (its last output line is quoted), timed out or cancelled.
    """
    from imaging.image_io import write_image

    plugin = _plugin(key)
    with tempfile.TemporaryDirectory(prefix="surgitwin-plugin-") as tmp:
        image = Path(tmp) / "input" / "case_0000.nii.gz"
        image.parent.mkdir()
        out = Path(tmp) / "output"
        out.mkdir()
        write_image(volume, image)
        args = _arguments(plugin, image, out, options or {})
        process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=tmp)
        last = ""
        started = time.monotonic()
        assert process.stdout is not None
        for line in process.stdout:
            last = line.strip() or last
            if progress is not None and last:
                progress(min(0.9, (time.monotonic() - started) / max(timeout_s, 1.0)), last[:120])
            if (cancel is not None and cancel.is_set()) or time.monotonic() - started > timeout_s:
                process.kill()
                process.wait()
                raise PluginError(f"{plugin.name} was {'cancelled' if cancel and cancel.is_set() else 'too slow'}")
        if process.wait() != 0:
            raise PluginError(f"{plugin.name} failed (exit {process.returncode}): {last or 'no output'}")
        return _read_masks(out, volume, label_names)
