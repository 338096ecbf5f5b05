"""Differentiable triangle rasterizer: a C++/CUDA TensorFlow op and its Python API.

Public API::

  rasterize(clip_vertices, triangles, image_size) -> RasterOutput(triangle_ids, barycentrics, depth)
  interpolate(attributes, triangle_ids, barycentrics, triangles) -> [B, H, W, C]
  shade_vertices(vertices, albedo, rotation, translation, sh, triangles, clip_transform) -> ShadedVertices
  basis_product(coefficients, basis) -> [B, D]      (fused CPU ops, ``fused_ops.py``)
  masked_squared_error(a, b, mask) -> [N]
  upsample_nodes(values, neighbours, weights) -> [B, N, C]

Conventions (see ``rasterizer.py`` for the details): clip-space vertices ``[B, V, 4]`` (x, y, z, w),
OpenGL-style NDC, pixel (ix, iy) samples its centre, image row 0 is the TOP row of the image.

The API is imported lazily, so that ``tf_ops.build`` and
``tf_ops.numpy_kernels`` (the same kernels on numpy arrays, pybind11) work without importing TensorFlow
(data-preprocessing workers, the build itself, the GPU check).
"""

import importlib

_RASTERIZER = ['MAX_IMAGE_SIZE', 'RasterOutput', 'interpolate', 'rasterize']
_FUSED_OPS = ['ShadedVertices', 'basis_product', 'fused_ops_enabled', 'masked_squared_error',
              'padded_rows', 'shade_vertices', 'upsample_nodes']
__all__ = _RASTERIZER + _FUSED_OPS


def __getattr__(name):
  if name in _RASTERIZER:
    return getattr(importlib.import_module('tf_ops.rasterizer'), name)
  if name in _FUSED_OPS:
    return getattr(importlib.import_module('tf_ops.fused_ops'), name)
  raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
