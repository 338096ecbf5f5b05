import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from common.errors import FormatError
from model import export
from tests import format_fuzz


def test_export_then_reload_round_trip_is_exact(small_model, template, graph, tmp_path, rng):
  small_model.m_gexp.assign(small_model.m_gexp + rng.normal(size=small_model.m_gexp.shape) * 0.1)
  path = export.save_model(tmp_path / 'model.npz', small_model, template, graph)
  loaded = export.load_model(path)
  for a, b in ((small_model.m_gid, loaded.face_model.m_gid), (small_model.m_gexp, loaded.face_model.m_gexp),
               (small_model.m_r, loaded.face_model.m_r)):
    np.testing.assert_array_equal(a.numpy(), b.numpy())
  np.testing.assert_array_equal(loaded.template.vertices, template.vertices)
  np.testing.assert_array_equal(loaded.template.triangles, template.triangles)
  np.testing.assert_array_equal(loaded.template.uv, template.uv)
  np.testing.assert_array_equal(loaded.template.semantics.jaw_candidates,
                                template.semantics.jaw_candidates)
  np.testing.assert_array_equal(loaded.template.semantics.triangle_regions,
                                template.semantics.triangle_regions)
  np.testing.assert_array_equal(loaded.graph.edges, graph.edges)
  assert (loaded.graph.upsampling != graph.upsampling).nnz == 0
  coeffs = [tf.constant(rng.normal(size=(2, n)), tf.float32) for n in (80, 64, 80)]
  a, b = small_model(*coeffs), loaded.face_model(*coeffs)
  for key in a:
    np.testing.assert_array_equal(a[key].numpy(), b[key].numpy(), err_msg=key)


def test_ply_round_trip_keeps_geometry_topology_and_colours(template, tmp_path, rng):
  colors = rng.uniform(size=(template.num_vertices, 3)).astype(np.float32)
  path = export.write_ply(tmp_path / 'face.ply', template.vertices, template.triangles, colors)
  v, t, c = export.read_ply(path)
  np.testing.assert_array_equal(v, template.vertices)
  np.testing.assert_array_equal(t, template.triangles)
  np.testing.assert_array_equal(c, np.round(colors * 255).astype(np.uint8))


def test_obj_files_hold_vertices_colours_uvs_and_a_baked_texture(template, tmp_path):
  colors = np.tile(np.array([[0.2, 0.4, 0.8]], np.float32), (template.num_vertices, 1))
  path = export.write_obj(tmp_path / 'c.obj', template.vertices, template.triangles, colors)
  lines = path.read_text().splitlines()
  vs = [l for l in lines if l.startswith('v ')]
  assert len(vs) == template.num_vertices and len(vs[0].split()) == 7
  assert sum(l.startswith('f ') for l in lines) == template.num_triangles
  path = export.write_textured_obj(tmp_path / 't.obj', template.vertices, template, colors,
                                   texture_size=128)
  text = path.read_text()
  assert text.count('\nvt ') == len(template.uv)
  assert 'mtllib t.mtl' in text and (tmp_path / 't.mtl').exists()
  tex = np.asarray(Image.open(tmp_path / 't_albedo.png'))
  assert tex.shape == (128, 128, 3)
  np.testing.assert_allclose(tex.reshape(-1, 3).mean(0), [51, 102, 204], atol=1)  # filled everywhere


def test_baked_texture_puts_vertex_colours_at_their_uvs(template):
  colors = np.zeros((template.num_vertices, 3), np.float32)
  colors[:, 0] = template.vertices[:, 0] > 0  # red on the +x half of the face
  tex = export.bake_texture(template, colors, size=256)
  uv_vertex = export.uv_to_vertex(template)
  for k in np.linspace(0, len(template.uv) - 1, 40).astype(int):
    x = template.vertices[uv_vertex[k], 0]
    if abs(x) < 0.5:
      continue
    u, v = template.uv[k]
    texel = tex[min(int((1 - v) * 256), 255), min(int(u * 256), 255), 0]
    assert (texel > 128) == (x > 0), (k, x, texel)


def _tiny_ply(tmp_path, colors=True):
  rng = np.random.default_rng(4)
  v = rng.normal(size=(6, 3)).astype(np.float32)
  t = np.array([[0, 1, 2], [2, 3, 4], [4, 5, 0], [1, 3, 5]], np.int32)
  c = rng.uniform(size=(6, 3)) if colors else None
  return export.write_ply(tmp_path / 'tiny.ply', v, t, c)


def test_ply_with_wrong_counts_or_indices_raises_format_error(tmp_path):
  data = _tiny_ply(tmp_path).read_bytes()
  (tmp_path / 'low.ply').write_bytes(data.replace(b'element vertex 6', b'element vertex 5'))
  with pytest.raises(FormatError, match='promises 5 vertices and 4 faces'):
    export.read_ply(tmp_path / 'low.ply')
  end = data.index(b'end_header\n') + len(b'end_header\n')
  face0 = end + 6 * 15  # 6 vertices of 3 float32 + 3 uint8
  past = data[:face0 + 1] + np.array([0, 1, 6], '<i4').tobytes() + data[face0 + 13:]
  (tmp_path / 'past.ply').write_bytes(past)
  with pytest.raises(FormatError, match=r'face 0: expected 3 vertex indices in \[0, 6\), got 3 \[0, 1, 6\]'):
    export.read_ply(tmp_path / 'past.ply')
  nan = data[:end] + np.array([np.nan], '<f4').tobytes() + data[end + 4:]
  (tmp_path / 'nan.ply').write_bytes(nan)
  with pytest.raises(FormatError, match='vertex 0 is not finite'):
    export.read_ply(tmp_path / 'nan.ply')
  (tmp_path / 'ascii.ply').write_bytes(data.replace(b'binary_little_endian', b'ascii'))
  with pytest.raises(FormatError, match='ascii.ply:2:'):
    export.read_ply(tmp_path / 'ascii.ply')


@pytest.mark.parametrize('colors', [True, False])
def test_fuzzed_ply_files_read_correctly_or_raise_format_error(tmp_path, colors):
  def check(result):
    v, t, c = result
    assert np.all(np.isfinite(v)) and v.shape[1] == 3 and t.shape[1:] == (3,)
    assert t.size == 0 or (t.min() >= 0 and t.max() < len(v))
    assert c is None or c.shape == v.shape

  outcome = format_fuzz.fuzz(export.read_ply, _tiny_ply(tmp_path, colors).read_bytes(), check, tmp_path,
                             'fuzz.ply', count=400)
  assert outcome['rejected'] > 100 and outcome['accepted'] > 5, outcome  # (most byte edits change the size)


@pytest.fixture(scope='module')
def saved_model_arrays(template, graph, tmp_path_factory):
  from model import face_model  # pylint: disable=g-import-not-at-top
  path = export.save_model(tmp_path_factory.mktemp('model') / 'model.npz',
                           face_model.build_face_model(template, graph, seed=3), template, graph)
  with np.load(path) as d:
    return {k: d[k] for k in d.files}


@pytest.mark.parametrize('key, change, message', [
    ('triangles', lambda a: np.where(a == a.max(), a.max() + 5, a), 'triangles: indices'),
    ('triangles', lambda a: -a, 'triangles: indices'),
    ('mean_vertices', lambda a: np.where(np.arange(a.size).reshape(a.shape) == 7, np.nan, a),
     'mean_vertices: expected finite'),
    ('M_gexp', lambda a: a * np.inf, 'M_gexp: expected finite'),
    ('graph_edges', lambda a: a + 10**6, 'graph_edges: indices'),
    ('landmarks', lambda a: a.astype(np.float32), 'landmarks: expected integer'),
    ('format_version', lambda a: a + 1, 'unsupported format version'),
])
def test_corrupt_model_file_raises_format_error(saved_model_arrays, tmp_path, key, change, message):
  arrays = dict(saved_model_arrays)
  arrays[key] = change(arrays[key])
  np.savez(tmp_path / 'bad.npz', **arrays)
  with pytest.raises(FormatError, match=message) as e:
    export.load_model(tmp_path / 'bad.npz')
  assert e.value.path == str(tmp_path / 'bad.npz')
  (tmp_path / 'text.npz').write_text('not a zip')
  with pytest.raises(FormatError, match='not a model .npz'):
    export.load_model(tmp_path / 'text.npz')
