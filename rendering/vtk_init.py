"""Load VTK's OpenGL and font back ends once (the vtkmodules imports register them as factories)."""

import os

# VTK's SMP filters run on one thread unless told otherwise (PERFORMANCE.md: flying edges 1.3-2x faster on 2 cores).
os.environ.setdefault("VTK_SMP_BACKEND_IN_USE", "STDThread")
# Without an X server, go straight to EGL instead of letting VTK try X first and print a warning.
if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
    os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")

import vtkmodules.vtkInteractionStyle
import vtkmodules.vtkRenderingFreeType
import vtkmodules.vtkRenderingOpenGL2
import vtkmodules.vtkRenderingVolumeOpenGL2  # noqa: F401
