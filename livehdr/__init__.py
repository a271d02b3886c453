"""livehdr: real-time SDR -> HDR inverse tone mapping for video, games and photos."""
__version__ = "0.2.0"  # the only copy: pyproject.toml reads it, --version prints it
