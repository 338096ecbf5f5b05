"""glTF 2.0 export of a face: the neutral mesh, the expression basis as morph targets, the albedo texture and
(for a video) the per-frame expression weights as an animation, in one binary ``.glb`` file that opens in
Blender, three.js or any glTF viewer.

Layout of the file:

* one mesh, one primitive (triangles), one glTF vertex per template UV index (a UV seam duplicates the
  template vertex, glTF needs one texture coordinate per vertex); ``POSITION`` in metres (the model works
  in centimetres; glTF's unit is the metre), ``TEXCOORD_0`` with v flipped (glTF's origin is top-left);
* morph targets ``expression_k``: ``POSITION`` displacements of expression basis vector k (metres), the mesh's
  default ``weights`` the expression of the first frame (zeros for a neutral export);
* the baked albedo as an embedded PNG (``baseColorTexture``, unlit material extension off: the albedo is
  reflectance, viewers shade it);
* an optional animation: one channel driving the node's morph weights, linear interpolation, frame k at time
  k / fps seconds.

Only numpy and PIL are needed to write; tests read the file back with ``pygltflib``.
"""

from __future__ import annotations

import io
import json
import pathlib
import struct
import typing

import numpy as np
from PIL import Image

CM_TO_M = 0.01
_FLOAT, _UINT32 = 5126, 5125
_ARRAY_BUFFER, _ELEMENT_ARRAY_BUFFER = 34962, 34963


class _Buffer:
  """Accumulates binary data, buffer views and accessors (4-byte aligned)."""

  def __init__(self):
    self.data = bytearray()
    self.views: list[dict] = []
    self.accessors: list[dict] = []

  def view(self, payload: bytes, target: typing.Optional[int] = None) -> int:
    while len(self.data) % 4:
      self.data.append(0)
    view = {'buffer': 0, 'byteOffset': len(self.data), 'byteLength': len(payload)}
    if target is not None:
      view['target'] = target
    self.data.extend(payload)
    self.views.append(view)
    return len(self.views) - 1

  def accessor(self, array: np.ndarray, kind: str, target: typing.Optional[int] = None,
               min_max: bool = False) -> int:
    if array.dtype == np.uint32:
      component = _UINT32
    else:
      array = np.asarray(array, np.float32)
      component = _FLOAT
    array = np.ascontiguousarray(array)
    accessor = {'bufferView': self.view(array.tobytes(), target), 'componentType': component,
                'count': int(array.shape[0]), 'type': kind}
    if min_max:
      flat = array.reshape(array.shape[0], -1)
      accessor['min'] = [float(x) for x in flat.min(0)]
      accessor['max'] = [float(x) for x in flat.max(0)]
    self.accessors.append(accessor)
    return len(self.accessors) - 1


def write_glb(path, neutral_vertices: np.ndarray, triangles: np.ndarray, uv: np.ndarray,
              triangle_uv: np.ndarray, texture: np.ndarray,
              expression_basis: typing.Optional[np.ndarray] = None,
              expression_weights: typing.Optional[np.ndarray] = None, fps: float = 25.0,
              name: str = 'face') -> pathlib.Path:
  """Writes a binary glTF 2.0 file.

  Args:
    path: output ``.glb`` path.
    neutral_vertices: float [N, 3] neutral geometry (mean + identity), cm.
    triangles: int [T, 3] vertex indices (counter-clockwise seen from outside).
    uv: float [U, 2] texture coordinates (OBJ convention: v up).
    triangle_uv: int [T, 3] uv index of each triangle corner.
    texture: uint8 [H, W, 3] albedo texture over the uv layout (row 0 = v = 1).
    expression_basis: optional float [K, N, 3] per-vertex displacement of each expression basis vector, cm
      (K morph targets).
    expression_weights: optional float [F, K] per-frame expression coefficients: F = 1 sets the default
      morph weights, F > 1 also writes an animation at ``fps``.
    fps: animation frames per second.
    name: mesh and node name.

  Returns:
    The path written.

  Raises:
    ValueError: inconsistent shapes, out-of-range indices or non-finite values.
  """
  v = np.asarray(neutral_vertices, np.float64)
  tris, tri_uv = np.asarray(triangles), np.asarray(triangle_uv)
  uv = np.asarray(uv, np.float64)
  if v.ndim != 2 or v.shape[1] != 3 or not np.isfinite(v).all():
    raise ValueError(f'neutral_vertices must be finite [N, 3], got shape {v.shape}')
  if tris.ndim != 2 or tris.shape[1] != 3 or tri_uv.shape != tris.shape:
    raise ValueError(f'triangles {tris.shape} and triangle_uv {tri_uv.shape} must both be [T, 3]')
  if tris.size and (tris.min() < 0 or tris.max() >= len(v)):
    raise ValueError(f'triangle indices must lie in [0, {len(v)})')
  if uv.ndim != 2 or uv.shape[1] != 2 or (tri_uv.size and (tri_uv.min() < 0 or tri_uv.max() >= len(uv))):
    raise ValueError(f'uv must be [U, 2] and triangle_uv must index it; got uv {uv.shape}')
  texture = np.asarray(texture)
  if texture.ndim != 3 or texture.shape[2] != 3 or texture.dtype != np.uint8:
    raise ValueError(f'texture must be uint8 [H, W, 3], got {texture.dtype} {texture.shape}')
  num_targets = 0 if expression_basis is None else len(expression_basis)
  if expression_basis is not None:
    expression_basis = np.asarray(expression_basis, np.float64)
    if expression_basis.shape[1:] != v.shape or not np.isfinite(expression_basis).all():
      raise ValueError(f'expression_basis must be finite [K, {len(v)}, 3], got {expression_basis.shape}')
  if expression_weights is not None:
    expression_weights = np.atleast_2d(np.asarray(expression_weights, np.float64))
    if expression_weights.shape[1] != num_targets or not np.isfinite(expression_weights).all():
      raise ValueError(f'expression_weights must be finite [F, {num_targets}], got '
                       f'{expression_weights.shape}')

  # One glTF vertex per uv index: the template vertex it belongs to.
  uv_vertex = np.zeros(len(uv), np.int64)
  uv_vertex[tri_uv.reshape(-1)] = tris.reshape(-1)
  buf = _Buffer()
  positions = buf.accessor(v[uv_vertex] * CM_TO_M, 'VEC3', _ARRAY_BUFFER, min_max=True)
  texcoords = buf.accessor(np.stack([uv[:, 0], 1.0 - uv[:, 1]], 1), 'VEC2', _ARRAY_BUFFER)
  indices = buf.accessor(tri_uv.reshape(-1).astype(np.uint32), 'SCALAR', _ELEMENT_ARRAY_BUFFER)
  png = io.BytesIO()
  Image.fromarray(texture).save(png, format='PNG')
  image_view = buf.view(png.getvalue())
  primitive = {'attributes': {'POSITION': positions, 'TEXCOORD_0': texcoords}, 'indices': indices,
               'material': 0, 'mode': 4}
  mesh = {'name': name, 'primitives': [primitive]}
  if num_targets:
    primitive['targets'] = [
        {'POSITION': buf.accessor(expression_basis[k][uv_vertex] * CM_TO_M, 'VEC3', _ARRAY_BUFFER,
                                  min_max=True)} for k in range(num_targets)]
    mesh['extras'] = {'targetNames': [f'expression_{k}' for k in range(num_targets)]}
    first = expression_weights[0] if expression_weights is not None else np.zeros(num_targets)
    mesh['weights'] = [float(w) for w in first]
  gltf = {
      'asset': {'version': '2.0', 'generator': 'complete3dmm'},
      'scene': 0, 'scenes': [{'nodes': [0]}],
      'nodes': [{'name': name, 'mesh': 0}],
      'meshes': [mesh],
      'materials': [{'name': 'albedo', 'pbrMetallicRoughness': {
          'baseColorTexture': {'index': 0}, 'metallicFactor': 0.0, 'roughnessFactor': 0.9}}],
      'textures': [{'source': 0, 'sampler': 0}],
      'samplers': [{'magFilter': 9729, 'minFilter': 9729}],
      'images': [{'bufferView': image_view, 'mimeType': 'image/png'}],
  }
  if expression_weights is not None and len(expression_weights) > 1 and num_targets:
    if fps <= 0:
      raise ValueError(f'fps must be positive, got {fps}')
    times = np.arange(len(expression_weights), dtype=np.float32) / np.float32(fps)
    t_acc = buf.accessor(times[:, None], 'SCALAR', min_max=True)
    w_acc = buf.accessor(expression_weights.reshape(-1, 1), 'SCALAR')
    gltf['animations'] = [{'name': 'expression', 'samplers': [
        {'input': t_acc, 'output': w_acc, 'interpolation': 'LINEAR'}],
        'channels': [{'sampler': 0, 'target': {'node': 0, 'path': 'weights'}}]}]
  while len(buf.data) % 4:
    buf.data.append(0)
  gltf['buffers'] = [{'byteLength': len(buf.data)}]
  gltf['bufferViews'] = buf.views
  gltf['accessors'] = buf.accessors
  chunk_json = json.dumps(gltf, separators=(',', ':')).encode()
  chunk_json += b' ' * (-len(chunk_json) % 4)
  total = 12 + 8 + len(chunk_json) + 8 + len(buf.data)
  path = pathlib.Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  with open(path, 'wb') as f:
    f.write(struct.pack('<4sII', b'glTF', 2, total))
    f.write(struct.pack('<I4s', len(chunk_json), b'JSON') + chunk_json)
    f.write(struct.pack('<I4s', len(buf.data), b'BIN\x00') + bytes(buf.data))
  return path
