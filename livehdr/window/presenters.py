"""Where the pixels go: a 10-bit glfw window, or an EGL offscreen framebuffer for automation."""
from __future__ import annotations

import os
import sys
import time

from livehdr.base.errors import UserError, one_line
from livehdr.window import renderer as gl_renderer
from livehdr.window.controls import CHAR_ACTIONS

def display_available() -> bool:
    if not sys.platform.startswith("linux"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


class OffscreenPresenter:
    """EGL (no display needed): an RGB10_A2 framebuffer of the picture's natural size."""

    is_window = False

    def __init__(self, width: int, height: int):
        import moderngl

        try:
            self.ctx = moderngl.create_standalone_context(backend="egl")
        except Exception as e:
            raise UserError(f"cannot create an offscreen OpenGL (EGL) context: {one_line(e)}") from None
        gl_renderer.check_gl_version(self.ctx)
        self.bits = {"red": 10, "green": 10, "blue": 10}
        self.fbo = None
        self.resize(width, height)
        self.actions: list[str] = []

    def resize(self, width: int, height: int):
        if self.fbo is not None and self.fbo.size == (width, height):
            return
        if self.fbo is not None:
            self.fbo.release()
        self.fbo = gl_renderer.create_offscreen_target(self.ctx, width, height)

    def size(self):
        return self.fbo.size

    def poll(self) -> list[str]:
        return []

    def screen_rect(self):
        """Offscreen: nothing on the screen to keep out of a capture."""
        return None

    def wait(self, seconds: float):
        time.sleep(seconds)

    def present(self):
        self.ctx.finish()

    def should_close(self) -> bool:
        return False

    def set_content_aspect(self, w: int, h: int):
        self.resize(w, h)

    def toggle_fullscreen(self):
        pass

    def close(self):
        gl_renderer.release_standalone(self.ctx)


class WindowPresenter:
    """A glfw window asking for a 10/10/10/2 framebuffer, vsync on, resizable; events become actions."""

    is_window = True

    def __init__(self, width: int, height: int, title: str, fullscreen: bool = False):
        import glfw
        import moderngl

        self.glfw = glfw
        self._errors: list[str] = []
        glfw.set_error_callback(lambda code, msg: self._errors.append(
            msg.decode(errors="replace") if isinstance(msg, bytes) else str(msg)))
        if not glfw.init():
            raise UserError(f"cannot open a window ({self._last_error()}); use --output FILE.mkv to write an "
                            "HDR10 file instead, or --offscreen")
        glfw.window_hint(glfw.RED_BITS, 10)
        glfw.window_hint(glfw.GREEN_BITS, 10)
        glfw.window_hint(glfw.BLUE_BITS, 10)
        glfw.window_hint(glfw.ALPHA_BITS, 2)
        glfw.window_hint(glfw.CONTEXT_VERSION_MAJOR, 3)
        glfw.window_hint(glfw.CONTEXT_VERSION_MINOR, 3)
        glfw.window_hint(glfw.OPENGL_PROFILE, glfw.OPENGL_CORE_PROFILE)
        glfw.window_hint(glfw.OPENGL_FORWARD_COMPAT, True)
        monitor = glfw.get_primary_monitor()
        mode = glfw.get_video_mode(monitor) if monitor else None
        if mode is not None:  # start no larger than 90 % of the screen, keeping the aspect ratio
            scale = min(1.0, 0.9 * mode.size.width / width, 0.9 * mode.size.height / height)
            width, height = max(64, int(width * scale)), max(48, int(height * scale))
        gl_renderer.release_egl_current()  # an earlier offscreen context would make GLX fail (BadAccess)
        self.window = glfw.create_window(width, height, title, None, None)
        if not self.window:
            err = self._last_error()
            glfw.terminate()
            raise UserError(f"cannot create an OpenGL 3.3 window ({err}); the window needs OpenGL 3.3 or newer; "
                            "use --output FILE.mkv instead")
        glfw.make_context_current(self.window)
        glfw.swap_interval(1)  # vsync
        try:
            self.ctx = moderngl.create_context()
        except Exception as e:
            glfw.terminate()
            raise UserError(f"cannot use the window's OpenGL context: {one_line(e)}") from None
        gl_renderer.check_gl_version(self.ctx)
        self.fbo = self.ctx.screen
        self.bits = dict(self.ctx.screen.bits)
        self.actions: list[str] = []
        self.dragging = False
        self.divider_at: float | None = None  # framebuffer x where the mouse put the divider
        self._windowed_geometry = None
        glfw.set_char_callback(self.window, self._on_char)
        glfw.set_key_callback(self.window, self._on_key)
        glfw.set_mouse_button_callback(self.window, self._on_mouse_button)
        glfw.set_cursor_pos_callback(self.window, self._on_cursor)
        glfw.set_framebuffer_size_callback(self.window, lambda *a: self.actions.append("resized"))
        glfw.set_window_pos_callback(self.window, lambda *a: self.actions.append("moved"))
        if fullscreen:
            self.toggle_fullscreen()

    def _last_error(self) -> str:
        return self._errors[-1] if self._errors else "no display or no usable OpenGL driver"

    # -- events --
    def _on_char(self, window, codepoint):
        action = CHAR_ACTIONS.get(chr(codepoint).lower() if chr(codepoint).isalpha() else chr(codepoint))
        if action:
            self.actions.append(action)

    def _on_key(self, window, key, scancode, action, mods):
        g = self.glfw
        if action not in (g.PRESS, g.REPEAT):
            return
        if key == g.KEY_ESCAPE:
            self.actions.append("quit")
        elif key == g.KEY_LEFT:
            self.actions.append("seek_back")
        elif key == g.KEY_RIGHT:
            self.actions.append("seek_forward")

    def _cursor_to_fb(self, x):
        ww, _ = self.glfw.get_window_size(self.window)
        fw, _ = self.glfw.get_framebuffer_size(self.window)
        return x * fw / max(ww, 1)  # HiDPI: cursor in screen units, picture in pixels

    def _on_mouse_button(self, window, button, action, mods):
        g = self.glfw
        if button != g.MOUSE_BUTTON_LEFT:
            return
        self.dragging = action == g.PRESS
        if self.dragging:
            x, _ = g.get_cursor_pos(self.window)
            self.divider_at = self._cursor_to_fb(x)
            self.actions.append("divider")

    def _on_cursor(self, window, x, y):
        if self.dragging:
            self.divider_at = self._cursor_to_fb(x)
            self.actions.append("divider")

    def poll(self) -> list[str]:
        self.glfw.poll_events()
        actions, self.actions = self.actions, []
        return actions

    def wait(self, seconds: float):
        self.glfw.wait_events_timeout(seconds)

    # -- window --
    def size(self):
        return self.glfw.get_framebuffer_size(self.window)

    def present(self):
        self.glfw.swap_buffers(self.window)

    def should_close(self) -> bool:
        return bool(self.glfw.window_should_close(self.window))

    def set_content_aspect(self, w: int, h: int):
        if self._windowed_geometry is None:  # resizing keeps the picture's aspect ratio
            self.glfw.set_window_aspect_ratio(self.window, int(w), int(h))

    def toggle_fullscreen(self):
        g = self.glfw
        if self._windowed_geometry is None:
            monitor = g.get_primary_monitor()
            mode = g.get_video_mode(monitor) if monitor else None
            if mode is None:
                return
            self._windowed_geometry = (*g.get_window_pos(self.window), *g.get_window_size(self.window))
            g.set_window_aspect_ratio(self.window, g.DONT_CARE, g.DONT_CARE)
            g.set_window_monitor(self.window, monitor, 0, 0, mode.size.width, mode.size.height,
                                 mode.refresh_rate)
        else:
            x, y, w, h = self._windowed_geometry
            self._windowed_geometry = None
            g.set_window_monitor(self.window, None, x, y, w, h, 0)

    def screen_rect(self):
        """(x, y, w, h) of the window on an X11 screen (root coordinates), for the capture to black out;
        None elsewhere (Windows excludes the window itself, see exclude_from_capture)."""
        if self.glfw.get_platform() != self.glfw.PLATFORM_X11:
            return None
        x, y = self.glfw.get_window_pos(self.window)
        w, h = self.glfw.get_window_size(self.window)
        return x, y, w, h

    def exclude_from_capture(self) -> bool:
        """Keep this window out of screen captures where the OS allows it (Windows 10 2004+)."""
        if sys.platform != "win32":
            return False
        import ctypes

        hwnd = self.glfw.get_win32_window(self.window)
        WDA_EXCLUDEFROMCAPTURE = 0x11
        return bool(ctypes.windll.user32.SetWindowDisplayAffinity(hwnd, WDA_EXCLUDEFROMCAPTURE))

    def close(self):
        self.ctx.release()
        self.glfw.destroy_window(self.window)
        self.glfw.terminate()
