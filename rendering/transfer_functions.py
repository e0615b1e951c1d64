"""Volume-rendering transfer functions: scalar opacity, colour and gradient opacity curves, plus shading.

A :class:`TransferFunction` is a plain value (sorted control points in image units, e.g. Hounsfield units) that the
curve editor edits and :mod:`rendering.volume_rendering` turns into VTK functions. The shipped presets live as JSON
in ``resources/presets/volume`` with the values of 3D Slicer's presets (``presets.xml``).
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field, replace
from importlib import resources
from typing import Any

from vtkmodules.vtkCommonDataModel import vtkPiecewiseFunction
from vtkmodules.vtkRenderingCore import vtkColorTransferFunction, vtkVolumeProperty

__all__ = [
    "Shading",
    "TransferFunction",
    "TransferFunctionError",
    "load_preset",
    "preset_names",
]

PRESET_FOLDER = "presets/volume"

OpacityPoint = tuple[float, float]
ColorPoint = tuple[float, float, float, float]


class TransferFunctionError(ValueError):
    """A transfer function or preset file is malformed (unsorted points, values out of range, unknown preset)."""


@dataclass(frozen=True)
class Shading:
    """Phong shading of the volume (VTK's volume property lighting coefficients)."""

    shade: bool = True
    ambient: float = 0.1
    diffuse: float = 0.9
    specular: float = 0.2
    specular_power: float = 10.0


def _check_unit(value: float, what: str) -> float:
    value = float(value)
    if not 0.0 <= value <= 1.0:
        raise TransferFunctionError(f"{what} must be between 0 and 1, got {value:g}")
    return value


def _sorted_points(points: Any, width: int, what: str) -> tuple[tuple[float, ...], ...]:
    """Validate control points ``(x, v1, ...)``: right width, values in 0..1, x strictly increasing."""
    out = []
    for point in points:
        values = tuple(float(v) for v in point)
        if len(values) != width:
            raise TransferFunctionError(f"each {what} point needs {width} numbers, got {list(values)}")
        for v in values[1:]:
            _check_unit(v, f"{what} value")
        out.append(values)
    if len(out) < 2:
        raise TransferFunctionError(f"a {what} curve needs at least 2 control points, got {len(out)}")
    xs = [p[0] for p in out]
    if any(b <= a for a, b in itertools.pairwise(xs)):
        raise TransferFunctionError(f"{what} control points must have strictly increasing positions, got {xs}")
    return tuple(out)


@dataclass(frozen=True)
class TransferFunction:
    """Opacity and colour as piecewise-linear functions of the voxel value.

    Parameters
    ----------
    scalar_opacity : sequence of (value, opacity)
        Opacity (0..1) per unit length at each control point, positions strictly increasing.
    color : sequence of (value, r, g, b)
        Colour (0..1 each) at each control point.
    gradient_opacity : sequence of (gradient magnitude, factor)
        Opacity factor by gradient magnitude (``[(0, 1), (255, 1)]`` = no gradient modulation).
    shading : Shading
        Lighting coefficients.
    name : str
        Preset name, or "Custom" once edited.
    modality : str
        ``CT`` or ``MR`` (what the values mean); informative.

    Raises
    ------
    TransferFunctionError
        If a curve has fewer than two points, positions that do not increase, or values outside 0..1.
    """

    scalar_opacity: tuple[OpacityPoint, ...]
    color: tuple[ColorPoint, ...]
    gradient_opacity: tuple[OpacityPoint, ...] = ((0.0, 1.0), (255.0, 1.0))
    shading: Shading = field(default_factory=Shading)
    name: str = "Custom"
    modality: str = "CT"

    def __post_init__(self) -> None:
        object.__setattr__(self, "scalar_opacity", _sorted_points(self.scalar_opacity, 2, "opacity"))
        object.__setattr__(self, "color", _sorted_points(self.color, 4, "colour"))
        object.__setattr__(self, "gradient_opacity", _sorted_points(self.gradient_opacity, 2, "gradient opacity"))

    # --- editing (every edit returns a new value) -----------------------------------------------------------------
    def shifted(self, offset: float) -> TransferFunction:
        """The same curves moved by ``offset`` along the value axis (Slicer's "Shift" slider)."""
        d = float(offset)
        return replace(
            self,
            scalar_opacity=tuple((x + d, a) for x, a in self.scalar_opacity),
            color=tuple((x + d, r, g, b) for x, r, g, b in self.color),
        )

    def with_opacity_points(self, points: Any) -> TransferFunction:
        """A copy with new scalar opacity control points (validated)."""
        return replace(self, scalar_opacity=tuple(tuple(p) for p in points), name="Custom")

    def with_color_points(self, points: Any) -> TransferFunction:
        """A copy with new colour control points (validated)."""
        return replace(self, color=tuple(tuple(p) for p in points), name="Custom")

    # --- evaluation -----------------------------------------------------------------------------------------------
    def opacity_at(self, value: float) -> float:
        """Scalar opacity at ``value`` (linear between control points, clamped outside)."""
        return float(self.opacity_function().GetValue(float(value)))

    def color_at(self, value: float) -> tuple[float, float, float]:
        """Colour at ``value`` (linear in RGB between control points, clamped outside)."""
        return tuple(self.color_function().GetColor(float(value)))  # type: ignore[return-value]

    @property
    def value_range(self) -> tuple[float, float]:
        """Smallest and largest control-point position of the opacity and colour curves."""
        xs = [p[0] for p in self.scalar_opacity] + [p[0] for p in self.color]
        return min(xs), max(xs)

    @property
    def is_empty(self) -> bool:
        """True when no value is visible (every opacity point is 0)."""
        return all(a <= 0.0 for _, a in self.scalar_opacity)

    # --- VTK ------------------------------------------------------------------------------------------------------
    def opacity_function(self) -> vtkPiecewiseFunction:
        """VTK scalar opacity function."""
        function = vtkPiecewiseFunction()
        for x, a in self.scalar_opacity:
            function.AddPoint(x, a)
        return function

    def color_function(self) -> vtkColorTransferFunction:
        """VTK colour transfer function (RGB interpolation)."""
        function = vtkColorTransferFunction()
        function.SetColorSpaceToRGB()
        for x, r, g, b in self.color:
            function.AddRGBPoint(x, r, g, b)
        return function

    def gradient_function(self) -> vtkPiecewiseFunction:
        """VTK gradient opacity function."""
        function = vtkPiecewiseFunction()
        for x, a in self.gradient_opacity:
            function.AddPoint(x, a)
        return function

    def apply_to(self, prop: vtkVolumeProperty) -> None:
        """Set ``prop``'s functions and lighting to this transfer function (linear interpolation of voxels)."""
        prop.SetScalarOpacity(self.opacity_function())
        prop.SetColor(self.color_function())
        gradient = self.gradient_function()
        # A flat gradient curve of 1 is VTK's "off"; leaving it on costs a gradient lookup per sample.
        if all(abs(a - 1.0) < 1e-9 for _, a in self.gradient_opacity):
            prop.DisableGradientOpacityOn()
        else:
            prop.DisableGradientOpacityOff()
            prop.SetGradientOpacity(gradient)
        prop.SetInterpolationTypeToLinear()
        s = self.shading
        prop.SetShade(bool(s.shade))
        prop.SetAmbient(s.ambient)
        prop.SetDiffuse(s.diffuse)
        prop.SetSpecular(s.specular)
        prop.SetSpecularPower(s.specular_power)

    # --- files ----------------------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (the preset file format)."""
        s = self.shading
        return {
            "name": self.name,
            "modality": self.modality,
            "scalar_opacity": [list(p) for p in self.scalar_opacity],
            "color": [list(p) for p in self.color],
            "gradient_opacity": [list(p) for p in self.gradient_opacity],
            "shading": {"shade": s.shade, "ambient": s.ambient, "diffuse": s.diffuse, "specular": s.specular,
                        "specular_power": s.specular_power},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TransferFunction:
        """Read the preset file format (see ``resources/presets/volume/*.json``).

        Raises
        ------
        TransferFunctionError
            If a key is missing or a value is malformed.
        """
        try:
            shading = Shading(**data.get("shading", {}))
            return cls(
                scalar_opacity=data["scalar_opacity"],
                color=data["color"],
                gradient_opacity=data.get("gradient_opacity", ((0.0, 1.0), (255.0, 1.0))),
                shading=shading,
                name=str(data.get("name", "Custom")),
                modality=str(data.get("modality", "CT")),
            )
        except KeyError as exc:
            raise TransferFunctionError(f"transfer function is missing {exc.args[0]!r}") from None
        except TypeError as exc:
            raise TransferFunctionError(f"malformed transfer function: {exc}") from None


def _preset_files() -> dict[str, Any]:
    folder = resources.files("resources").joinpath(PRESET_FOLDER)
    return {entry.name.removesuffix(".json"): entry for entry in folder.iterdir() if entry.name.endswith(".json")}


def preset_names() -> list[str]:
    """Ids of the shipped presets (file stems: ``ct_bone``, ``ct_angio``, ``ct_soft_tissue``, ``mr_default``)."""
    order = ["ct_bone", "ct_angio", "ct_soft_tissue", "mr_default"]
    names = list(_preset_files())
    return [n for n in order if n in names] + sorted(n for n in names if n not in order)


def load_preset(name: str) -> TransferFunction:
    """The shipped preset ``name`` (an id from :func:`preset_names`, or its display name such as ``"CT bone"``).

    Raises
    ------
    TransferFunctionError
        If there is no such preset.
    """
    files = _preset_files()
    key = name if name in files else name.strip().lower().replace(" ", "_").replace("-", "_")
    if key not in files:
        raise TransferFunctionError(f"unknown volume rendering preset {name!r}; choose one of {', '.join(files)}")
    return TransferFunction.from_dict(json.loads(files[key].read_text(encoding="utf-8")))
