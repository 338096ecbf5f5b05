"""Differentiable triangle rasterizer: a C++/CUDA TensorFlow op and its Python API.

Public API::

  rasterize(clip_vertices, triangles, image_size) -> RasterOutput(triangle_ids, barycentrics, depth)
  interpolate(attributes, triangle_ids, barycentrics, triangles) -> [B, H, W, C]

Conventions (see ``rasterizer.py`` for the details): clip-space vertices ``[B, V, 4]`` (x, y, z, w),
OpenGL-style NDC, pixel (ix, iy) samples its centre, image row 0 is the TOP row of the image.
"""

from tf_ops.rasterizer import MAX_IMAGE_SIZE, RasterOutput, interpolate, rasterize

__all__ = ['MAX_IMAGE_SIZE', 'RasterOutput', 'interpolate', 'rasterize']
