"""livehdr: real-time SDR -> HDR inverse tone mapping for video, games and photos."""
__version__ = "0.1.0"
