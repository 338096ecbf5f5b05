import io

import numpy as np
import pygltflib
import pytest
from PIL import Image

from model import export
from model import gltf


def _accessor_array(doc: pygltflib.GLTF2, index: int) -> np.ndarray:
  acc = doc.accessors[index]
  view = doc.bufferViews[acc.bufferView]
  blob = doc.binary_blob()
  dtype = {pygltflib.FLOAT: np.float32, pygltflib.UNSIGNED_INT: np.uint32}[acc.componentType]
  width = {'SCALAR': 1, 'VEC2': 2, 'VEC3': 3}[acc.type]
  data = np.frombuffer(blob, dtype, acc.count * width, view.byteOffset + (acc.byteOffset or 0))
  return data.reshape(acc.count, width)


def test_glb_round_trip_keeps_vertices_targets_weights_and_texture(template, tmp_path):
  rng = np.random.default_rng(0)
  n = template.num_vertices
  basis = rng.normal(0, 0.3, (3, n, 3))
  weights = rng.uniform(-1, 1, (5, 3))
  texture = export.bake_texture(template, np.full((n, 3), 0.6, np.float32), size=64)
  path = gltf.write_glb(tmp_path / 'face.glb', template.vertices, template.triangles, template.uv,
                        template.triangle_uv, texture, basis, weights, fps=10.0)
  doc = pygltflib.GLTF2().load(str(path))
  prim = doc.meshes[0].primitives[0]
  uv_vertex = export.uv_to_vertex(template)
  positions = _accessor_array(doc, prim.attributes.POSITION)
  np.testing.assert_allclose(positions, template.vertices[uv_vertex] * 0.01, rtol=1e-6, atol=1e-7)
  indices = _accessor_array(doc, prim.indices).reshape(-1, 3)
  # Every glTF triangle is the template triangle (through the uv -> vertex map).
  np.testing.assert_array_equal(uv_vertex[indices], template.triangles)
  assert len(prim.targets) == 3
  for k in range(3):
    np.testing.assert_allclose(_accessor_array(doc, prim.targets[k]['POSITION']),
                               basis[k][uv_vertex] * 0.01, rtol=1e-5, atol=1e-7)
  np.testing.assert_allclose(doc.meshes[0].weights, weights[0], rtol=1e-6)
  anim = doc.animations[0]
  times = _accessor_array(doc, anim.samplers[0].input).ravel()
  np.testing.assert_allclose(times, np.arange(5) / 10.0, rtol=1e-6)
  np.testing.assert_allclose(_accessor_array(doc, anim.samplers[0].output).reshape(5, 3), weights, rtol=1e-6)
  assert anim.channels[0].target.path == 'weights'
  img = doc.images[0]
  view = doc.bufferViews[img.bufferView]
  png = doc.binary_blob()[view.byteOffset:view.byteOffset + view.byteLength]
  np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(png))), texture)


def test_neutral_export_has_no_animation_and_zero_weights(template, tmp_path):
  tex = np.zeros((8, 8, 3), np.uint8)
  path = gltf.write_glb(tmp_path / 'n.glb', template.vertices, template.triangles, template.uv,
                        template.triangle_uv, tex, np.zeros((2, template.num_vertices, 3)))
  doc = pygltflib.GLTF2().load(str(path))
  assert not doc.animations and doc.meshes[0].weights == [0.0, 0.0]


@pytest.mark.parametrize('change, message', [
    (dict(neutral_vertices=np.full((3, 3), np.nan)), 'finite'),
    (dict(triangles=np.array([[0, 1, 5]])), 'triangle indices'),
    (dict(texture=np.zeros((4, 4), np.uint8)), 'texture'),
    (dict(expression_basis=np.zeros((2, 4, 3))), 'expression_basis'),
    (dict(expression_basis=np.zeros((2, 3, 3)), expression_weights=np.zeros((3, 5))), 'expression_weights'),
])
def test_bad_input_raises_a_clear_error(tmp_path, change, message):
  args = dict(neutral_vertices=np.eye(3), triangles=np.array([[0, 1, 2]]), uv=np.eye(3)[:, :2],
              triangle_uv=np.array([[0, 1, 2]]), texture=np.zeros((4, 4, 3), np.uint8))
  args.update(change)
  with pytest.raises(ValueError, match=message):
    gltf.write_glb(tmp_path / 'bad.glb', **args)
