"""The live 10-bit window: presenters (glfw / EGL), the renderer and its shaders, controls, HUD, the loop."""
