"""Differentiable triangle rasterizer: a C++/CUDA TensorFlow op and its Python API.

Public API::

  rasterize(clip_vertices, triangles, image_size) -> RasterOutput(triangle_ids, barycentrics, depth)
  interpolate(attributes, triangle_ids, barycentrics, triangles) -> [B, H, W, C]

Conventions (see ``rasterizer.py`` for the details): clip-space vertices ``[B, V, 4]`` (x, y, z, w),
OpenGL-style NDC, pixel (ix, iy) samples its centre, image row 0 is the TOP row of the image.

The API is imported lazily, so that ``tf_ops.build`` and
``tf_ops.numpy_kernels`` (the same kernels on numpy arrays, pybind11) work without importing TensorFlow
(data-preprocessing workers, the build itself, the GPU check).
"""

import importlib

__all__ = ['MAX_IMAGE_SIZE', 'RasterOutput', 'interpolate', 'rasterize']


def __getattr__(name):
  if name in __all__:
    return getattr(importlib.import_module('tf_ops.rasterizer'), name)
  raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
