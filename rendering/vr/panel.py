"""A floating panel in the headset for the essentials, operated by pointing a controller at it.

The panel is a flat rectangle in stage space (metres), set in front of the user when the session starts and then
fixed in the room (it does not move with the anatomy). Its face is an image drawn with Pillow and shown by VTK as
a texture on one quad, unlit, so both eyes see exactly its colours. A controller's pointing ray (the grip pose's
-Z axis) is intersected with the panel's plane; the button under the hit point is highlighted, and a trigger
press on it presses it. Hit-testing and layout are plain numpy (:meth:`VRPanel.hit`, :meth:`VRPanel.button_at`),
so they are tested with recorded poses and no headset.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["PANEL_BACKGROUND", "Button", "PanelHit", "VRPanel"]

#: Panel colours (8-bit sRGB); the background is distinct from the scene's, so tests find the panel's pixels.
PANEL_BACKGROUND = (24, 60, 92)
BUTTON_OFF = (62, 70, 84)
BUTTON_ON = (40, 150, 110)
HOVER_OUTLINE = (250, 210, 60)
TEXT = (245, 245, 245)


@dataclass(frozen=True)
class Button:
    """One button: ``key`` names its action; ``rect`` is ``(u0, v0, u1, v1)`` in panel metres from the bottom-left
    corner."""

    key: str
    label: str
    rect: tuple[float, float, float, float]

    def contains(self, u: float, v: float) -> bool:
        """Whether panel point ``(u, v)`` lies on the button."""
        u0, v0, u1, v1 = self.rect
        return u0 <= u <= u1 and v0 <= v <= v1


@dataclass(frozen=True)
class PanelHit:
    """Where a ray meets the panel: panel coordinates (m), the stage point, the distance along the ray, the button
    (None between buttons)."""

    u: float
    v: float
    point_stage: np.ndarray
    distance_m: float
    button: str | None


class VRPanel:
    """Buttons for the essentials: life size, clipping plane, tools, exit, and one toggle per segment.

    Parameters
    ----------
    segments : sequence of str
        Segment names; each gets a toggle button ``"segment:<name>"``.
    width_m : float
        Panel width in the room; the height follows from the number of rows.
    pixels_per_m : float
        Texture resolution (1600 px/m: about 0.6 mm per texel, sharper than a headset resolves at arm's length).
    """

    ROW_M = 0.045
    GAP_M = 0.008
    COLUMNS = 3

    def __init__(self, segments: Sequence[str] = (), *, width_m: float = 0.33, pixels_per_m: float = 1600.0) -> None:
        self.segments = list(segments)
        self.width_m = float(width_m)
        self.pixels_per_m = float(pixels_per_m)
        rows: list[list[tuple[str, str]]] = [
            [("life_size", "Life size"), ("clip", "Clip plane"), ("exit", "Exit VR")],
            [("tool:move", "Move"), ("tool:grasp", "Grasp"), ("tool:cut", "Cut")],
        ]
        seg = [(f"segment:{name}", name) for name in self.segments]
        rows += [seg[i:i + self.COLUMNS] for i in range(0, len(seg), self.COLUMNS)]
        self.height_m = len(rows) * (self.ROW_M + self.GAP_M) + self.GAP_M
        col_w = (self.width_m - (self.COLUMNS + 1) * self.GAP_M) / self.COLUMNS
        self.buttons: list[Button] = []
        for r, row in enumerate(rows):  # first row at the top
            v1 = self.height_m - self.GAP_M - r * (self.ROW_M + self.GAP_M)
            for c, (key, label) in enumerate(row):
                u0 = self.GAP_M + c * (col_w + self.GAP_M)
                self.buttons.append(Button(key, label, (u0, v1 - self.ROW_M, u0 + col_w, v1)))
        #: Panel frame in stage metres: origin at the bottom-left corner, +X along the width, +Y up the panel,
        #: +Z out of its face (towards the user).
        self.panel_to_stage = np.eye(4)
        self.placed = False
        self.on: set[str] = set()
        self.hover: set[str] = set()
        self._drawn_state: tuple | None = None
        self._actor = None
        self._image_data = None
        self._texture_array = None

    # ------------------------------------------------------------------ placement and geometry
    def place(self, head_to_stage: np.ndarray | None, *, distance_m: float = 0.45, below_m: float = 0.3,
              left_m: float = 0.25) -> None:
        """Set the panel in front of the head (to the left and below eye level), facing the eyes."""
        head = np.eye(4) if head_to_stage is None else np.asarray(head_to_stage, float)
        eye = head[:3, 3]
        forward = head[:3, :3] @ np.array([0.0, 0.0, -1.0])
        forward = np.array([forward[0], 0.0, forward[2]])
        forward = forward / np.linalg.norm(forward) if np.linalg.norm(forward) > 1e-6 else np.array([0.0, 0, -1])
        right = np.cross(forward, [0.0, 1.0, 0.0])
        centre = eye + distance_m * forward - below_m * np.array([0.0, 1.0, 0.0]) - left_m * right
        self.set_centre(centre, eye)

    def set_centre(self, centre_stage, facing_stage) -> None:
        """Put the panel's centre at ``centre_stage`` with its face turned towards point ``facing_stage``."""
        centre = np.asarray(centre_stage, float)
        z = np.asarray(facing_stage, float) - centre
        z /= np.linalg.norm(z)
        x = np.cross([0.0, 1.0, 0.0], z)
        if np.linalg.norm(x) < 1e-6:  # facing straight up or down
            x = np.array([1.0, 0.0, 0.0])
        x /= np.linalg.norm(x)
        y = np.cross(z, x)
        m = np.eye(4)
        m[:3, 0], m[:3, 1], m[:3, 2] = x, y, z
        m[:3, 3] = centre - x * self.width_m / 2 - y * self.height_m / 2
        self.panel_to_stage = m
        self.placed = True

    def corners_stage(self) -> np.ndarray:
        """``(4, 3)`` corners in stage metres: bottom-left, bottom-right, top-right, top-left."""
        local = np.array([[0, 0, 0, 1], [self.width_m, 0, 0, 1], [self.width_m, self.height_m, 0, 1],
                          [0, self.height_m, 0, 1]], float)
        return (local @ self.panel_to_stage.T)[:, :3]

    def point_stage(self, u: float, v: float) -> np.ndarray:
        """Stage position of panel point ``(u, v)``."""
        return (self.panel_to_stage @ np.array([u, v, 0.0, 1.0]))[:3]

    def centre_of(self, key: str) -> tuple[float, float]:
        """Panel coordinates of a button's centre."""
        u0, v0, u1, v1 = self.button(key).rect
        return (u0 + u1) / 2, (v0 + v1) / 2

    def button(self, key: str) -> Button:
        """The button named ``key``."""
        for b in self.buttons:
            if b.key == key:
                return b
        raise KeyError(key)

    def button_at(self, u: float, v: float) -> str | None:
        """The button at panel point ``(u, v)``, None between buttons or off the panel."""
        for b in self.buttons:
            if b.contains(u, v):
                return b.key
        return None

    def hit(self, grip_to_stage: np.ndarray | None, max_distance_m: float = 3.0) -> PanelHit | None:
        """Where the controller's pointing ray (-Z of its pose) meets the panel's face, None if it misses."""
        if grip_to_stage is None or not self.placed:
            return None
        pose = np.asarray(grip_to_stage, float)
        origin, direction = pose[:3, 3], pose[:3, :3] @ np.array([0.0, 0.0, -1.0])
        normal, corner = self.panel_to_stage[:3, 2], self.panel_to_stage[:3, 3]
        facing = float(direction @ normal)
        if facing > -1e-6:  # parallel, or pointing at the panel's back
            return None
        t = float((corner - origin) @ normal) / facing
        if t < 0 or t > max_distance_m:
            return None
        point = origin + t * direction
        u, v = ((point - corner) @ self.panel_to_stage[:3, :2]).tolist()
        if not (0.0 <= u <= self.width_m and 0.0 <= v <= self.height_m):
            return None
        return PanelHit(u, v, point, t, self.button_at(u, v))

    # ------------------------------------------------------------------ drawing
    def image(self) -> np.ndarray:
        """The panel's face as ``(h, w, 3)`` uint8, top row first."""
        from PIL import Image, ImageDraw, ImageFont

        s = self.pixels_per_m
        w, h = round(self.width_m * s), round(self.height_m * s)
        img = Image.new("RGB", (w, h), PANEL_BACKGROUND)
        draw = ImageDraw.Draw(img)
        try:
            font = ImageFont.load_default(size=max(10, round(0.016 * s)))
        except (TypeError, OSError):  # Pillow built without FreeType: its bitmap font
            font = ImageFont.load_default()
        for b in self.buttons:
            u0, v0, u1, v1 = b.rect
            box = (round(u0 * s), round(h - v1 * s), round(u1 * s), round(h - v0 * s))
            fill = BUTTON_ON if b.key in self.on else BUTTON_OFF
            outline = HOVER_OUTLINE if b.key in self.hover else fill
            draw.rounded_rectangle(box, radius=round(0.006 * s), fill=fill, outline=outline,
                                   width=max(2, round(0.003 * s)))
            label = b.label if len(b.label) <= 16 else b.label[:15] + "…"
            draw.text(((box[0] + box[2]) / 2, (box[1] + box[3]) / 2), label, fill=TEXT, font=font, anchor="mm")
        return np.asarray(img, np.uint8)

    def set_state(self, on: set[str], hover: set[str]) -> None:
        """Which buttons are on (highlighted) and hovered; the texture is redrawn only when this changes."""
        self.on, self.hover = set(on), set(hover)
        if self._actor is not None and self._drawn_state != (frozenset(self.on), frozenset(self.hover)):
            self._upload()

    # ------------------------------------------------------------------ VTK
    def actor(self):
        """The textured quad (a vtkActor), created once; its geometry is in panel metres."""
        if self._actor is not None:
            return self._actor
        from vtkmodules.vtkCommonDataModel import vtkImageData
        from vtkmodules.vtkFiltersSources import vtkPlaneSource
        from vtkmodules.vtkRenderingCore import vtkActor, vtkPolyDataMapper, vtkTexture

        plane = vtkPlaneSource()
        plane.SetOrigin(0.0, 0.0, 0.0)
        plane.SetPoint1(self.width_m, 0.0, 0.0)
        plane.SetPoint2(0.0, self.height_m, 0.0)
        mapper = vtkPolyDataMapper()
        mapper.SetInputConnection(plane.GetOutputPort())
        self._image_data = vtkImageData()
        texture = vtkTexture()
        texture.SetInputData(self._image_data)
        texture.InterpolateOn()
        actor = vtkActor()
        actor.SetMapper(mapper)
        actor.SetTexture(texture)
        prop = actor.GetProperty()
        prop.LightingOff()  # flat: the texture's colours exactly, whatever the lights
        prop.SetColor(1.0, 1.0, 1.0)
        actor.PickableOff()
        self._actor = actor
        self._upload()
        return actor

    def _upload(self) -> None:
        from vtkmodules.util.numpy_support import numpy_to_vtk

        pixels = self.image()[::-1]  # VTK images start at the bottom row
        h, w = pixels.shape[:2]
        self._texture_array = np.ascontiguousarray(pixels.reshape(-1, 3))
        data = numpy_to_vtk(self._texture_array, deep=True)
        data.SetName("panel")
        self._image_data.SetDimensions(w, h, 1)
        self._image_data.GetPointData().SetScalars(data)
        self._image_data.Modified()
        self._drawn_state = (frozenset(self.on), frozenset(self.hover))

    def update_actor(self, stage_to_model: np.ndarray) -> None:
        """Carry the panel's stage placement into the model coordinates the eyes are rendered in."""
        from rendering.vr.camera import vtk_matrix

        if self._actor is not None:
            self._actor.SetUserMatrix(vtk_matrix(np.asarray(stage_to_model, float) @ self.panel_to_stage))
            self._actor.SetVisibility(self.placed)
