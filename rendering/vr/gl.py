"""VTK's render window as the VR session's OpenGL context, and the GPU copy of VTK's image into an eye texture.

The runtime's graphics binding is made from whatever context VTK created (GLX under X11, EGL without a display),
so VTK renders on the session's own context and the eye images never leave the GPU: VTK draws into its
framebuffer, then ``glBlitFramebuffer`` copies that framebuffer into the runtime's swapchain texture.
"""

from __future__ import annotations

import os

# PyOpenGL picks its platform once, at import; without an X server it must talk to EGL, like VTK (vtk_init).
if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
    os.environ.setdefault("PYOPENGL_PLATFORM", "egl")

from vtkmodules.vtkRenderingCore import vtkRenderer, vtkRenderWindow

import rendering.vtk_init  # noqa: F401

__all__ = ["EyeBlitter", "gl_platform_of", "make_vr_window"]


def gl_platform_of(window: vtkRenderWindow) -> str:
    """``"glx"`` or ``"egl"``: which OpenGL platform VTK's window uses."""
    name = window.GetClassName()
    if "EGL" in name:
        return "egl"
    if "XOpenGL" in name:
        return "glx"
    return name


def make_vr_window(size: tuple[int, int], renderer: vtkRenderer) -> vtkRenderWindow:
    """An offscreen VTK window of one eye's size, initialised and current, holding ``renderer``.

    No multisampling (3-4x the cost on software GL) and no swap: the image is copied to the runtime on the GPU.
    """
    window = vtkRenderWindow()
    window.SetOffScreenRendering(True)
    window.SetMultiSamples(0)
    window.SetSize(*size)
    window.AddRenderer(renderer)
    window.SetWindowName("SurgiTwin VR")
    window.Render()  # creates the context and VTK's framebuffers
    window.MakeCurrent()
    return window


class EyeBlitter:
    """Copies VTK's display framebuffer into a GL texture with ``glBlitFramebuffer`` (GPU only).

    Parameters
    ----------
    window : vtkRenderWindow
        The VTK window whose context is current whenever :meth:`blit` runs.
    """

    def __init__(self, window: vtkRenderWindow) -> None:
        from OpenGL import GL

        self._gl = GL
        self._window = window
        window.MakeCurrent()
        self._fbo = int(GL.glGenFramebuffers(1))

    def blit(self, texture: int, size: tuple[int, int]) -> None:
        """Copy the last rendered image (window size) into ``texture`` scaled to ``size``; restores GL bindings."""
        GL = self._gl
        src = self._window.GetDisplayFramebuffer().GetFBOIndex()
        w_src, h_src = self._window.GetSize()
        # Save and restore the bindings: VTK caches GL state (vtkOpenGLState) and must find it as it left it.
        prev_draw = int(GL.glGetIntegerv(GL.GL_DRAW_FRAMEBUFFER_BINDING))
        prev_read = int(GL.glGetIntegerv(GL.GL_READ_FRAMEBUFFER_BINDING))
        srgb = GL.glIsEnabled(GL.GL_FRAMEBUFFER_SRGB)
        if srgb:  # copy the bytes as they are: VTK's colours are already display (sRGB) encoded
            GL.glDisable(GL.GL_FRAMEBUFFER_SRGB)
        scissor = GL.glIsEnabled(GL.GL_SCISSOR_TEST)
        if scissor:
            GL.glDisable(GL.GL_SCISSOR_TEST)
        GL.glBindFramebuffer(GL.GL_DRAW_FRAMEBUFFER, self._fbo)
        GL.glFramebufferTexture2D(GL.GL_DRAW_FRAMEBUFFER, GL.GL_COLOR_ATTACHMENT0, GL.GL_TEXTURE_2D, texture, 0)
        GL.glBindFramebuffer(GL.GL_READ_FRAMEBUFFER, src)
        GL.glReadBuffer(GL.GL_COLOR_ATTACHMENT0)
        GL.glBlitFramebuffer(0, 0, w_src, h_src, 0, 0, size[0], size[1], GL.GL_COLOR_BUFFER_BIT,
                             GL.GL_LINEAR if (w_src, h_src) != tuple(size) else GL.GL_NEAREST)
        GL.glFramebufferTexture2D(GL.GL_DRAW_FRAMEBUFFER, GL.GL_COLOR_ATTACHMENT0, GL.GL_TEXTURE_2D, 0, 0)
        GL.glBindFramebuffer(GL.GL_DRAW_FRAMEBUFFER, prev_draw)
        GL.glBindFramebuffer(GL.GL_READ_FRAMEBUFFER, prev_read)
        if srgb:
            GL.glEnable(GL.GL_FRAMEBUFFER_SRGB)
        if scissor:
            GL.glEnable(GL.GL_SCISSOR_TEST)

    def finish(self) -> None:
        """Wait until the GPU has done everything queued (before leaving a frame loop; for honest timings)."""
        self._window.MakeCurrent()
        self._gl.glFinish()

    def read_texture(self, texture: int, size: tuple[int, int]):
        """The texture's pixels as an ``(h, w, 3)`` uint8 array, top row first. For tests only: a CPU read-back."""
        import numpy as np

        GL = self._gl
        prev_read = int(GL.glGetIntegerv(GL.GL_READ_FRAMEBUFFER_BINDING))
        GL.glBindFramebuffer(GL.GL_READ_FRAMEBUFFER, self._fbo)
        GL.glFramebufferTexture2D(GL.GL_READ_FRAMEBUFFER, GL.GL_COLOR_ATTACHMENT0, GL.GL_TEXTURE_2D, texture, 0)
        GL.glReadBuffer(GL.GL_COLOR_ATTACHMENT0)
        data = GL.glReadPixels(0, 0, size[0], size[1], GL.GL_RGB, GL.GL_UNSIGNED_BYTE)
        GL.glFramebufferTexture2D(GL.GL_READ_FRAMEBUFFER, GL.GL_COLOR_ATTACHMENT0, GL.GL_TEXTURE_2D, 0, 0)
        GL.glBindFramebuffer(GL.GL_READ_FRAMEBUFFER, prev_read)
        pixels = np.frombuffer(bytes(data), np.uint8).reshape(size[1], size[0], 3)
        return np.ascontiguousarray(pixels[::-1])

    def release(self) -> None:
        """Delete the framebuffer object (context must still exist)."""
        if self._fbo:
            self._window.MakeCurrent()
            self._gl.glDeleteFramebuffers(1, [self._fbo])
            self._fbo = 0
