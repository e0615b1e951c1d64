"""VR: the desktop's 3-D scene in a headset through OpenXR or OpenVR, and a stereo preview without one.

Modules: :mod:`~rendering.vr.engine` (the frame loop), :mod:`~rendering.vr.openxr_backend` and
:mod:`~rendering.vr.openvr_backend` (the runtimes), :mod:`~rendering.vr.maths` and :mod:`~rendering.vr.camera`
(per-eye cameras), :mod:`~rendering.vr.stage` (LPS millimetres to stage metres), :mod:`~rendering.vr.interaction`
(controllers), :mod:`~rendering.vr.controls` (panel, tools and segment toggles together),
:mod:`~rendering.vr.panel` (the floating panel), :mod:`~rendering.vr.tissue_tools` (soft-tissue grasp and cut),
:mod:`~rendering.vr.async_sim` (the tissue solver in a worker thread), :mod:`~rendering.vr.preview` (stereo preview),
:mod:`~rendering.vr.lod` (level of detail),
:mod:`~rendering.vr.check` (find the runtime and headset). Importing this package loads no runtime.
"""
