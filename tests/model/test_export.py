import numpy as np
import tensorflow as tf
from PIL import Image

from model import export


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
