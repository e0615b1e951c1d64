"""The batch specification (``SPEC.yaml``): what to run, on which items, and where the results go.

Example::

    output: results/                 # relative to this file; `surgitwin batch --out` overrides it
    pipeline:
      segment:                       # threshold presets (resources/presets/thresholds.json), in order
        - {preset: bone}
        - {preset: contrast_vessels, name: Vessels, largest_island: true, min_island_mm3: 50}
      mesh: {smooth: 10, decimate: 0.5}          # optional; `mesh: false` skips meshing
      export: [labelmap, meshes, dicom_seg, dicom_stl, screenshots]   # screenshots: PNG views + DICOM SC
      seg_kind: binary                           # or labelmap
      tissue: {segment: Bone, args: [--steps, "5"]}          # optional soft-tissue run (surgitwin tissue)
      flow: {model: model.json, args: [--cycles, "2"]}        # optional flow scenarios (surgitwin flow)
    items:
      - {id: case-1, dicom: studies/case1, series: 1.2.840...}   # a study on disk (UID prefix optional)
      - {id: p7, phantom: {size: 96x96x80, seed: 7}}             # a phantom variant
      - {id: clamp-aorta, scenarios: ["clamp:aorta"]}           # a flow scenario variant (no image)
    variants:                                                     # generated items, added to `items`
      phantom: {size: 48x48x40, seeds: 1-20}

Every error is a :class:`BatchSpecError` with one line that names the offending key.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["EXPORTS", "BatchSpec", "BatchSpecError", "ItemSpec", "PipelineSpec", "SegmentStep", "load_spec"]

EXPORTS = ("labelmap", "meshes", "dicom_seg", "dicom_stl", "screenshots")
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class BatchSpecError(ValueError):
    """The spec file is malformed: one line saying which key is wrong and what is expected."""


@dataclass(frozen=True)
class SegmentStep:
    """One segment made by a threshold preset."""

    preset: str
    name: str
    largest_island: bool = False
    min_island_mm3: float = 0.0


@dataclass(frozen=True)
class PipelineSpec:
    """The steps run for every item."""

    segment: tuple[SegmentStep, ...] = ()
    mesh: bool = True
    smooth: int = 10
    decimate: float | None = None
    export: tuple[str, ...] = ("labelmap", "meshes")
    seg_kind: str = "binary"
    tissue: dict[str, Any] | None = None
    flow: dict[str, Any] | None = None


@dataclass(frozen=True)
class ItemSpec:
    """One item: a DICOM study, a phantom variant, or a flow scenario variant."""

    id: str
    dicom: str | None = None
    series: str | None = None
    phantom_size: tuple[int, int, int] | None = None
    phantom_seed: int = 0
    scenarios: tuple[str, ...] | None = None

    @property
    def has_image(self) -> bool:
        """True when the item has an image to segment."""
        return self.dicom is not None or self.phantom_size is not None


@dataclass(frozen=True)
class BatchSpec:
    """A parsed spec: the pipeline, the items and the output folder (absolute paths)."""

    pipeline: PipelineSpec
    items: tuple[ItemSpec, ...]
    output: Path | None
    source: Path = field(default=Path("."))

    def pipeline_dict(self) -> dict[str, Any]:
        """The pipeline as plain JSON data (part of every item's input hash)."""
        return json.loads(json.dumps(asdict(self.pipeline), default=str))


def _size(value: Any, where: str) -> tuple[int, int, int]:
    if isinstance(value, str):
        parts = value.lower().replace("×", "x").split("x")
    elif isinstance(value, list | tuple):
        parts = list(value)
    else:
        parts = []
    try:
        size = tuple(int(p) for p in parts)
    except (TypeError, ValueError):
        size = ()
    if len(size) != 3 or min(size) < 16 or max(size) > 1024:
        raise BatchSpecError(f"{where}: size must be three numbers 16..1024 like 48x48x40, got {value!r}")
    return size  # type: ignore[return-value]


def _seeds(value: Any, where: str) -> list[int]:
    if isinstance(value, int):
        return [value]
    if isinstance(value, str) and re.fullmatch(r"\s*\d+\s*-\s*\d+\s*", value):
        lo, hi = (int(v) for v in value.split("-"))
        if hi < lo or hi - lo > 9999:
            raise BatchSpecError(f"{where}: seed range {value!r} must be LO-HI with LO <= HI (at most 10000 seeds)")
        return list(range(lo, hi + 1))
    if isinstance(value, list) and all(isinstance(v, int) for v in value):
        return list(value)
    raise BatchSpecError(f"{where}: seeds must be an integer, a list of integers or a range like 1-20, got {value!r}")


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise BatchSpecError(f"{where} must be a mapping (key: value), got {type(value).__name__}")
    return value


def _check_keys(data: dict[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise BatchSpecError(f"{where}: unknown key(s) {', '.join(map(str, unknown))} (allowed: "
                             f"{', '.join(sorted(allowed))})")


def _segment_steps(value: Any) -> tuple[SegmentStep, ...]:
    from imaging.segmentation import load_threshold_presets

    if value in (None, []):
        return ()
    if not isinstance(value, list):
        raise BatchSpecError("pipeline.segment must be a list of {preset: NAME, ...} entries")
    presets = load_threshold_presets()
    steps = []
    for index, entry in enumerate(value):
        where = f"pipeline.segment[{index}]"
        entry = {"preset": entry} if isinstance(entry, str) else _mapping(entry, where)
        _check_keys(entry, {"preset", "name", "largest_island", "min_island_mm3"}, where)
        preset = entry.get("preset")
        if preset not in presets:
            raise BatchSpecError(f"{where}: unknown preset {preset!r} (choose from {', '.join(sorted(presets))})")
        min_island = entry.get("min_island_mm3", 0.0)
        if not isinstance(min_island, int | float) or min_island < 0:
            raise BatchSpecError(f"{where}: min_island_mm3 must be a number >= 0, got {min_island!r}")
        name = str(entry.get("name") or presets[preset].name)
        steps.append(SegmentStep(preset, name, bool(entry.get("largest_island", False)), float(min_island)))
    names = [s.name for s in steps]
    if len(set(names)) != len(names):
        raise BatchSpecError(f"pipeline.segment: segment names must differ, got {names}")
    return tuple(steps)


def _pipeline(data: Any, base: Path) -> PipelineSpec:
    data = _mapping(data or {}, "pipeline")
    _check_keys(data, {"segment", "mesh", "export", "seg_kind", "tissue", "flow"}, "pipeline")
    segment = _segment_steps(data.get("segment"))
    mesh_cfg = data.get("mesh", {})
    mesh = mesh_cfg is not False
    mesh_cfg = _mapping(mesh_cfg if isinstance(mesh_cfg, dict) else {}, "pipeline.mesh")
    _check_keys(mesh_cfg, {"smooth", "decimate"}, "pipeline.mesh")
    smooth = mesh_cfg.get("smooth", 10)
    if not isinstance(smooth, int) or smooth < 0:
        raise BatchSpecError(f"pipeline.mesh.smooth must be an integer >= 0, got {smooth!r}")
    decimate = mesh_cfg.get("decimate")
    if decimate is not None and not (isinstance(decimate, int | float) and 0 < decimate <= 1):
        raise BatchSpecError(f"pipeline.mesh.decimate is the fraction of triangles kept, in (0, 1], got {decimate!r}")
    export = data.get("export", ["labelmap", "meshes"] if mesh else ["labelmap"])
    if not isinstance(export, list) or any(e not in EXPORTS for e in export):
        raise BatchSpecError(f"pipeline.export must be a list drawn from {', '.join(EXPORTS)}, got {export!r}")
    if not mesh and any(e in ("meshes", "dicom_stl") for e in export):
        raise BatchSpecError("pipeline.export asks for meshes but pipeline.mesh is false")
    seg_kind = data.get("seg_kind", "binary")
    if seg_kind not in ("binary", "labelmap"):
        raise BatchSpecError(f"pipeline.seg_kind must be binary or labelmap, got {seg_kind!r}")
    tissue = data.get("tissue")
    if tissue is not None:
        tissue = _mapping(tissue, "pipeline.tissue")
        _check_keys(tissue, {"segment", "args"}, "pipeline.tissue")
        if tissue.get("segment") not in [s.name for s in segment]:
            raise BatchSpecError(
                f"pipeline.tissue.segment must name one of the segments, got {tissue.get('segment')!r}"
            )
        tissue = {"segment": tissue["segment"], "args": [str(a) for a in tissue.get("args", [])]}
    flow = data.get("flow")
    if flow is not None:
        flow = _mapping(flow, "pipeline.flow")
        _check_keys(flow, {"model", "args", "scenarios"}, "pipeline.flow")
        if "model" not in flow:
            raise BatchSpecError("pipeline.flow needs model: PATH (an openBF .yaml or svZeroDSolver .json)")
        model = (base / str(flow["model"])).resolve()
        if not model.is_file():
            raise BatchSpecError(f"pipeline.flow.model: {model} does not exist")
        flow = {"model": str(model), "args": [str(a) for a in flow.get("args", [])],
                "scenarios": [str(s) for s in flow.get("scenarios", [])]}
    return PipelineSpec(segment, mesh, int(smooth), None if decimate is None else float(decimate), tuple(export),
                        seg_kind, tissue, flow)


def _item(entry: Any, index: int, base: Path) -> ItemSpec:
    where = f"items[{index}]"
    entry = _mapping(entry, where)
    _check_keys(entry, {"id", "dicom", "series", "phantom", "scenarios"}, where)
    item_id = str(entry.get("id", ""))
    if not _ID.match(item_id):
        raise BatchSpecError(f"{where}: id must be 1-64 letters, digits, '.', '_' or '-' (a folder name), "
                             f"got {item_id!r}")
    dicom = entry.get("dicom")
    phantom = entry.get("phantom")
    scenarios = entry.get("scenarios")
    if dicom is not None and phantom is not None:
        raise BatchSpecError(f"{where} ({item_id}): give either dicom or phantom, not both")
    if scenarios is not None and not (isinstance(scenarios, list) and all(isinstance(s, str) for s in scenarios)):
        raise BatchSpecError(f"{where} ({item_id}): scenarios must be a list of strings like clamp:aorta")
    if dicom is None and phantom is None and scenarios is None:
        raise BatchSpecError(f"{where} ({item_id}): needs dicom: PATH, phantom: {{size, seed}} or scenarios: [...]")
    if dicom is not None:
        path = (base / str(dicom)).resolve()
        if not path.exists():
            raise BatchSpecError(f"{where} ({item_id}): {path} does not exist")
        return ItemSpec(item_id, dicom=str(path), series=entry.get("series"),
                        scenarios=tuple(scenarios) if scenarios is not None else None)
    if phantom is not None:
        phantom = _mapping(phantom, f"{where}.phantom")
        _check_keys(phantom, {"size", "seed"}, f"{where}.phantom")
        seed = phantom.get("seed", 0)
        if not isinstance(seed, int):
            raise BatchSpecError(f"{where}.phantom.seed must be an integer, got {seed!r}")
        return ItemSpec(item_id, phantom_size=_size(phantom.get("size", "64x64x48"), f"{where}.phantom"),
                        phantom_seed=seed, scenarios=tuple(scenarios) if scenarios is not None else None)
    return ItemSpec(item_id, scenarios=tuple(scenarios))


def _variants(data: Any) -> list[ItemSpec]:
    data = _mapping(data, "variants")
    _check_keys(data, {"phantom"}, "variants")
    phantom = _mapping(data.get("phantom", {}), "variants.phantom")
    _check_keys(phantom, {"size", "seeds", "prefix"}, "variants.phantom")
    size = _size(phantom.get("size", "48x48x40"), "variants.phantom")
    prefix = str(phantom.get("prefix", "phantom"))
    seeds = _seeds(phantom.get("seeds", "1-20"), "variants.phantom")
    return [ItemSpec(f"{prefix}-{s:03d}", phantom_size=size, phantom_seed=s) for s in seeds]


def load_spec(path: str | Path, *, output: str | Path | None = None) -> BatchSpec:
    """Read and validate a batch spec (YAML or JSON).

    Parameters
    ----------
    path : path-like
        The spec file; relative paths inside it are relative to its folder.
    output : path-like, optional
        Output folder overriding the spec's ``output``.

    Returns
    -------
    BatchSpec

    Raises
    ------
    BatchSpecError
        The file is missing, not YAML, or a key is wrong (the message names it).
    """
    import yaml

    path = Path(path)
    if not path.is_file():
        raise BatchSpecError(f"{path}: no such spec file")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise BatchSpecError(f"{path.name} is not valid YAML{where}") from exc
    data = _mapping(data, path.name)
    _check_keys(data, {"output", "pipeline", "items", "variants"}, path.name)
    base = path.resolve().parent
    pipeline = _pipeline(data.get("pipeline"), base)
    raw_items = data.get("items") or []
    if not isinstance(raw_items, list):
        raise BatchSpecError("items must be a list")
    items = [_item(entry, i, base) for i, entry in enumerate(raw_items)]
    if data.get("variants") is not None:
        items.extend(_variants(data["variants"]))
    if not items:
        raise BatchSpecError(f"{path.name}: no items (give items: [...] or variants: {{phantom: ...}})")
    ids = [i.id for i in items]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise BatchSpecError(f"item ids must be unique; repeated: {', '.join(duplicates[:5])}")
    if any(i.scenarios is not None and not i.has_image for i in items) and pipeline.flow is None:
        raise BatchSpecError("items with scenarios need pipeline.flow: {model: PATH}")
    if pipeline.segment == () and any(i.has_image for i in items) and pipeline.flow is None:
        raise BatchSpecError("pipeline.segment is empty: give at least one {preset: NAME}")
    if output is not None:
        out = Path(output).resolve()
    elif data.get("output") is not None:
        out = (base / str(data["output"])).resolve()
    else:
        out = None
    return BatchSpec(pipeline, tuple(items), out, path.resolve())
