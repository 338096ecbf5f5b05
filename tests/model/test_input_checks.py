"""Wrong ranks and sizes raise ValueErrors that name the argument, the expected and the received shape."""

import numpy as np
import pytest
import tensorflow as tf

from model import camera
from model import face_model
from model import image_formation
from model import lighting


def _render_inputs(template, batch=1):
  n = template.num_vertices
  return dict(vertices=np.tile(template.vertices[None], (batch, 1, 1)),
              albedo=np.full((batch, n, 3), 0.5, np.float32), pose=camera.default_pose(batch),
              sh=lighting.ambient_sh(1.0, batch))


@pytest.mark.parametrize('name, value, words', [
    ('vertices', lambda t: t.vertices, ['vertices', '[B, N, 3]', 'rank 2']),
    ('albedo', lambda t: np.full((1, t.num_vertices - 1, 3), 0.5), ['albedo', 'N = ']),
    ('albedo', lambda t: np.full((2, t.num_vertices, 3), 0.5), ['albedo', 'B = 1']),
    ('sh', lambda t: np.zeros((1, 4, 3)), ['sh', '[B, 9, 3]', 'expected 9']),
    ('pose', lambda t: np.zeros((1, 5)), ['pose', '[B, 6]']),
    ('pose', lambda t: (np.zeros((1, 3)), np.zeros((1, 2))), ['translation', '[B, 3]']),
    ('background', lambda t: np.zeros((1, 100, 100, 3)), ['background', '[1, 240, 240, 3]']),
])
def test_render_names_the_bad_argument_and_both_shapes(template, mesh, name, value, words):
  inputs = _render_inputs(template)
  inputs[name] = value(template)
  with pytest.raises(ValueError) as error:
    image_formation.render(inputs.pop('vertices'), inputs.pop('albedo'), inputs.pop('pose'),
                           inputs.pop('sh'), None, mesh, **inputs)
  for word in words:
    assert word in str(error.value), (word, str(error.value))


def test_render_rejects_a_camera_or_mesh_of_the_wrong_type(template, mesh):
  inputs = _render_inputs(template)
  with pytest.raises(TypeError, match='camera must be'):
    image_formation.render(*inputs.values(), (240, 240), mesh)
  with pytest.raises(TypeError, match='mesh must be'):
    image_formation.render(*inputs.values(), None, mesh.triangles)


def test_render_checks_also_hold_inside_a_traced_function(template, mesh):
  inputs = _render_inputs(template)

  @tf.function
  def traced(albedo):
    return image_formation.render(inputs['vertices'], albedo, inputs['pose'], inputs['sh'], None, mesh)

  with pytest.raises(ValueError, match='albedo'):
    traced(tf.zeros([1, template.num_vertices, 4]))


@pytest.mark.parametrize('kwargs, words', [
    (dict(alpha=np.zeros((2, 79))), ['alpha', '[B, 80]', 'expected 80']),
    (dict(delta=np.zeros((2, 64, 1))), ['delta', 'rank 2']),
    (dict(alpha=np.zeros((2, 80)), beta=np.zeros((3, 80))), ['beta', 'B = 2']),
])
def test_face_model_names_the_bad_coefficients(small_model, kwargs, words):
  with pytest.raises(ValueError) as error:
    small_model(**kwargs)
  for word in words:
    assert word in str(error.value), (word, str(error.value))


@pytest.mark.parametrize('call, words', [
    (lambda: camera.to_clip(np.zeros((1, 4, 2)), camera.Camera()), ['to_clip', 'points', 'expected 3']),
    (lambda: camera.project(np.zeros((4, 3)), camera.Camera()), ['project', 'rank 3']),
    (lambda: camera.euler_to_rotation(np.zeros((2, 2))), ['euler_to_rotation', 'angles']),
    (lambda: camera.rigid_transform(np.zeros((2, 5, 3)), np.zeros((2, 3, 4)), np.zeros((2, 3))),
     ['rigid_transform', 'rotation', '[B, 3, 3]']),
    (lambda: camera.rigid_transform(np.zeros((2, 5, 3)), np.zeros((1, 3, 3)), np.zeros((2, 3))),
     ['rotation', 'B = 2']),
    (lambda: lighting.shading(np.zeros((2, 5, 3)), np.zeros((2, 9, 4))), ['shading', 'sh', '[B, 9, 3]']),
    (lambda: lighting.shading(np.zeros((5, 3)), np.zeros((1, 9, 3))), ['shading', 'normals', 'rank 3']),
    (lambda: lighting.sh_basis(np.zeros((5, 2))), ['sh_basis', 'normals']),
    (lambda: image_formation.vertex_normals(np.zeros((1, 5, 3)), np.zeros((2, 4), np.int32)),
     ['vertex_normals', 'triangles', '[?, 3]']),
    (lambda: face_model.orthogonal_complement_projection(np.zeros((6, 2)), np.zeros((5, 2))),
     ['basis', 'D = ']),
    (lambda: face_model.orthogonal_complement_projection(np.zeros((3, 2)), np.zeros((3, 4))),
     ['D >= k']),
])
def test_camera_lighting_and_geometry_functions_name_the_bad_argument(call, words):
  with pytest.raises(ValueError) as error:
    call()
  for word in words:
    assert word in str(error.value), (word, str(error.value))


def test_face_model_config_points_to_the_npz_export(small_model):
  config = small_model.get_config()
  assert (config['num_identity'], config['num_expression'], config['num_albedo']) == (80, 64, 80)
  assert config['num_vertices'] == small_model.num_vertices
  with pytest.raises(NotImplementedError, match='model.export.load_model'):
    face_model.FaceModel.from_config(config)
