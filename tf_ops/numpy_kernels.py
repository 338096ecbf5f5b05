"""The rasterizer's kernels on numpy arrays, without TensorFlow (the pybind11 module ``_numpy_kernels``).

The same framework-free kernels as the TF op (one kernel source, three thin bindings: the TF op, this
module, the CUDA launchers), for code that needs a render without TensorFlow: tests, tools, the GPU
check. Whole images on the calling thread, the GIL released. Inputs are validated like the op's; a bad
shape, index or image size raises ValueError, an array that numpy cannot safely cast (float64 vertices,
int64 indices) TypeError::

  triangle_ids, barycentrics, depth = rasterize(clip_vertices, triangles, height, width)
  grad_clip_vertices = rasterize_grad(clip_vertices, triangles, triangle_ids, barycentrics, grad_bary)
  image = interpolate(attributes, triangle_ids, barycentrics, triangles)            # [B, H, W, C]
  grad_attributes, grad_barycentrics = interpolate_grad(attributes, triangle_ids, barycentrics,
                                                        triangles, grad_image)

Shapes and conventions as ``tf_ops.rasterize`` / ``tf_ops.interpolate`` (batched inputs only). Built by
``python -m tf_ops.build`` (and ``pip install``); with nvcc, ``WITH_CUDA`` is true and ``cuda_*``
launchers take device pointers and a stream as integers (see tf_ops/cc/numpy_module.cc).
"""

try:
  from tf_ops import _numpy_kernels
except ImportError as e:
  raise ImportError('tf_ops._numpy_kernels is not built: run `python -m tf_ops.build --target=numpy` '
                    '(or pip install --no-build-isolation -e .)') from e

MAX_IMAGE_SIZE = _numpy_kernels.MAX_IMAGE_SIZE
WITH_CUDA = _numpy_kernels.WITH_CUDA
rasterize = _numpy_kernels.rasterize
rasterize_grad = _numpy_kernels.rasterize_grad
interpolate = _numpy_kernels.interpolate
interpolate_grad = _numpy_kernels.interpolate_grad
