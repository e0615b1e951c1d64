"""Model manifests: the JSON file beside each ONNX model, found in ``$SURGITWIN_MODELS`` or ``../shared/data/models``.

Each manifest names its ONNX file(s), inputs, outputs, labels and the pre/post-processing recipe the model was
trained with.  Models are never copied into the repository.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["MODEL_KEYS", "AIInputError", "ModelError", "ModelManifest", "load_manifest", "models_dir"]


class ModelError(OSError):
    """A model or its manifest is missing, unreadable or corrupt."""


class AIInputError(ValueError):
    """The image or the prompt does not suit the model (wrong modality, box outside the slice, ...)."""


#: User-facing model names -> manifest stem in the models folder.
MODEL_KEYS: dict[str, str] = {
    "litemedsam": "litemedsam",
    "brain-tissue": "meshnet_model5_gw_ae",
    "brain-subcortical": "meshnet_model18cls",
    "brain-mask": "meshnet_mindgrab",
}

_REPO_ROOT = Path(__file__).resolve().parents[2]


def models_dir() -> Path:
    """The folder holding the models: ``$SURGITWIN_MODELS`` or ``<repo>/../shared/data/models``."""
    env = os.environ.get("SURGITWIN_MODELS")
    return Path(env) if env else _REPO_ROOT.parent / "shared" / "data" / "models"


@dataclass(frozen=True)
class ModelManifest:
    """One model's manifest.

    Parameters
    ----------
    key : str
        Manifest stem (``litemedsam``, ``meshnet_model5_gw_ae``, ...).
    folder : Path
        Folder of the manifest and its ONNX files.
    data : dict
        The parsed JSON.
    """

    key: str
    folder: Path
    data: dict[str, Any] = field(repr=False)

    @property
    def onnx_files(self) -> list[Path]:
        """The ONNX files this manifest describes (``files`` keys, or ``<key>.onnx``)."""
        files = self.data.get("files")
        names = list(files) if isinstance(files, dict) else [f"{self.key}.onnx"]
        return [self.folder / n for n in names]

    def onnx_path(self, name: str | None = None) -> Path:
        """Path of one ONNX file (``name``) or the only one; raises :class:`ModelError` if it is absent."""
        path = self.folder / name if name else self.onnx_files[0]
        if not path.is_file():
            raise ModelError(f"model file {path} is missing (set SURGITWIN_MODELS to the models folder)")
        return path

    @property
    def labels(self) -> list[str]:
        """Label names by value (label 0 first); empty when the model has none."""
        return [str(s) for s in self.data.get("labels", [])]

    @property
    def colors(self) -> list[tuple[int, int, int]]:
        """RGB 0..255 colours by label value, when the manifest has them."""
        return [tuple(int(c) for c in rgb) for rgb in self.data.get("colors_rgb", [])]  # type: ignore[misc]


def load_manifest(name: str, folder: str | Path | None = None) -> ModelManifest:
    """Load a model's manifest by user name (``litemedsam``, ``brain-tissue``, ...) or manifest stem.

    Parameters
    ----------
    name : str
        A key of :data:`MODEL_KEYS` or a manifest stem such as ``meshnet_model18cls``.
    folder : str or Path, optional
        Models folder; default :func:`models_dir`.

    Raises
    ------
    ModelError
        The folder, the manifest or one of its ONNX files is missing, or the manifest is not valid JSON.
    """
    stem = MODEL_KEYS.get(name, name)
    root = Path(folder) if folder is not None else models_dir()
    if not root.is_dir():
        raise ModelError(f"models folder {root} not found (set SURGITWIN_MODELS)")
    path = root / f"{stem}.json"
    if not path.is_file():
        known = ", ".join(MODEL_KEYS)
        raise ModelError(f"no manifest {path.name} for model {name!r} in {root} (models: {known})")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"model manifest {path} is corrupt: {exc}") from exc
    if not isinstance(data, dict):
        raise ModelError(f"model manifest {path} is corrupt: not a JSON object")
    manifest = ModelManifest(stem, root, data)
    for onnx in manifest.onnx_files:
        if not onnx.is_file():
            raise ModelError(f"model file {onnx} is missing (set SURGITWIN_MODELS to the models folder)")
    return manifest
