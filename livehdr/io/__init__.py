"""Frames in and files out: video / demo / screen sources, the HDR10 writer, stills and image files."""
