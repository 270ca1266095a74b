"""Rendering: camera, rasterization primitives, shading, backends, compositing."""
