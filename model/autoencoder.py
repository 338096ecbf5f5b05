"""The full model (paper Fig. 2): siamese encoder + learnable face model + image formation.

API (training, evaluation and reconstruction all use it)::

    from model import autoencoder
    ae = autoencoder.Autoencoder(model_config, encoder_config)        # random init = mean face
    out = ae(images, landmarks)          # images [B, F, S, S, 3] in [0, 1], landmarks [B, F, 68, 2] px
    ae = autoencoder.Autoencoder.from_run_dir('runs/demo')            # a trained run (latest stage)
    ae = autoencoder.Autoencoder.from_run_dir('runs/demo', stage='identity')

``from_run_dir`` reads ``<run_dir>/config.json`` (keys ``'model'``: ``ModelConfig.to_dict()``,
``'encoder'``: ``EncoderConfig.to_dict()``; ``training.main`` writes it) and restores the newest checkpoint
of ``<run_dir>/checkpoints/<stage>/`` (object key ``'autoencoder'``; stage default: the last of
``STAGES`` that has one).

``call(images, landmarks=None, force_neutral=False)`` (landmarks: the frames' 68 detected landmarks, needed
when ``encoder_config.landmark_input``) returns a dict (``B`` samples, ``F`` frames, ``S`` image side, ``N``
vertices, ``G`` graph nodes):

======================  =======================  =============================================================
key                     shape                    meaning
======================  =======================  =============================================================
alpha, beta             [B, m_i], [B, m_r]       identity / albedo coefficients (one per sample)
delta                   [B, F, m_e]              expression coefficients (zeros when ``force_neutral``)
sh                      [B, F, 9, 3]             SH lighting gamma
angles, translation     [B, F, 3], [B, F, 3]     rigid pose phi (radians pitch/yaw/roll; cm)
vertices                [B, F, N, 3]             geometry V (model space, cm)
albedo                  [B, N, 3]                reflectance R
identity_vertices       [B, N, 3]                Vbar + U M_gid_perp alpha (neutral geometry)
expression_deformation  [B, F, N, 3]             U M_gexp delta (cm)
graph_deformation       [B, F, G, 3]             node displacements (smoothness loss input)
image                   [B, F, S, S, 3]          rendered S_i (black background)
mask                    [B, F, S, S, 1]          rendered face mask M_i
lip_masks               [B, F, S, S, 2]          rendered upper / lower lip masks
landmarks2d             [B, F, 68, 2]            projected landmarks (pixels; dynamic jaw)
mean_landmarks2d        [B, F, 68, 2]            landmarks of the mean mesh Vbar in the same pose
outer_lip_contours      [B, F, 2, K, 2]          projected outer lip loops (upper, lower), pixels
inner_lip_pixels        [B, F, S, S, 2]          {0, 1} rendered inner lip contour pixels (upper, lower)
pixel_positions         [B, F, S, S, 2]          differentiable position of each covered pixel (the
                                                 barycentric interpolation of the projected vertices)
albedo_image, shading_image [B, F, S, S, 3]      interpolated albedo and irradiance
normals                 [B, F, N, 3]             camera-space unit normals
features                [B, F, D]                tower features
======================  =======================  =============================================================

Inner lip contours (paper Sec. 3.5, "computed with the renderer"): a rendered upper-lip pixel with a
4-neighbour that is background (the mouth opening) or lower lip lies on the upper inner contour, and vice
versa; the outer contours are the projected annotated vertex loops. Pixel positions carry gradients through
the barycentrics, so the rolling inner contour moves with the mesh.
"""

from __future__ import annotations

import json
import os
import pathlib
import typing

import numpy as np
import tensorflow as tf
import keras

import tf_ops
from common import errors
from model import camera as camera_lib
from model import config as config_lib
from model import deformation_graph
from model import encoder as encoder_lib
from model import face_model as face_model_lib
from model import image_formation
from model import template as template_lib

STAGES = ('pose', 'identity', 'expression', 'combined')
CONFIG_FILE = 'config.json'
CHECKPOINT_DIR = 'checkpoints'
CHECKPOINT_KEY = 'autoencoder'
# Initial basis entries ~ N(0, 0.02^2) (cm per unit coefficient per node coordinate, albedo units per
# vertex channel): with ~80 unit coefficients a node moves ~0.2 cm, the scale of real identity variation.
# The encoder's output layers start at zero, so the first reconstruction is the mean face whatever this
# is. Learning a bilinear M c from M ~ 0 and c = 0 starts at a saddle; with FaceModel's default 1e-3 the
# coefficients would have to reach ~100 before the geometry moved. Measured on the demo, the larger init
# alone did not make the geometry learn faster in 1,600 steps (both runs: 3.520 vs 3.524 mm mean template).
BASIS_INIT_STDDEV = 0.02
# Points each outer lip loop is resampled to (by index) for the contour loss.
OUTER_CONTOUR_POINTS = 24


def _resample_loop(loop: np.ndarray, count: int) -> np.ndarray:
  idx = np.round(np.linspace(0, len(loop) - 1, count)).astype(np.int64)
  return np.asarray(loop, np.int32)[idx]


class Autoencoder(keras.Model):
  """Encoder + ``FaceModel`` + ``image_formation.render`` (see the module docstring)."""

  def __init__(self, model_config: config_lib.ModelConfig = config_lib.PAPER,
               encoder_config: encoder_lib.EncoderConfig = encoder_lib.EncoderConfig(),
               seed: int = 0, basis_init_stddev: float | tuple[float, float, float] = BASIS_INIT_STDDEV,
               **kwargs):
    """Builds template, graph, encoder and face model.

    Args:
      model_config: sizes of the face model (``model.config.ModelConfig``).
      encoder_config: the encoder (``model.encoder.EncoderConfig``).
      seed: initialisation seed (encoder weights and bases).
      basis_init_stddev: std of the random initial bases (see ``BASIS_INIT_STDDEV``): one for all, or
        (identity, expression, albedo).
      **kwargs: passed to ``keras.Model``.
    """
    super().__init__(**kwargs)
    self.model_config, self.encoder_config = model_config, encoder_config
    mc = model_config
    self.template = template_lib.load_template(mc.region, mc.subdivision_level)
    self.graph = deformation_graph.load_deformation_graph(self.template, mc.num_nodes, mc.num_neighbours)
    keras.utils.set_random_seed(seed)
    self.encoder = encoder_lib.MultiFrameEncoder(encoder_config, mc, name='encoder')
    self.face_model = face_model_lib.build_face_model(
        self.template, self.graph, num_identity=mc.num_identity, num_expression=mc.num_expression,
        num_albedo=mc.num_albedo, seed=seed, init_stddev=basis_init_stddev, name='face_model')
    self.mesh = image_formation.RenderMesh.from_template(self.template)
    self.camera = camera_lib.Camera.for_image_size(mc.image_size, mc.image_size)
    sem = self.template.semantics
    self.outer_loops = tf.constant(np.stack([_resample_loop(sem.upper_lip_contour, OUTER_CONTOUR_POINTS),
                                             _resample_loop(sem.lower_lip_contour, OUTER_CONTOUR_POINTS)]))
    self.graph_edges = tf.constant(np.asarray(self.graph.edges, np.int32))

  # ------------------------------------------------------------------------------------------- variables

  def variable_groups(self) -> dict[str, list[tf.Variable]]:
    """Trainable variables by role: tower, per_frame_head, identity_albedo (encoder), M_gid, M_gexp, M_R."""
    groups = self.encoder.head_variables()
    groups.update(M_gid=[self.face_model.m_gid], M_gexp=[self.face_model.m_gexp], M_R=[self.face_model.m_r])
    return groups

  def checkpoint_tree(self) -> tf.Module:
    """A trackable holding every variable, keyed ``<index>_<name>`` in ``self.weights`` order.

    Checkpoints use this, not the Keras model itself: Keras 3 models do not expose their nested layers to
    ``tf.train.Checkpoint``, and Keras' auto-generated layer names (``autoencoder_1/...``) depend on how
    many models a process built before, so they cannot be keys. The order of ``self.weights`` is fixed by
    the architecture (configuration). Call after the variables exist (``build_all``).
    """
    if not self.weights:
      raise ValueError('Autoencoder.checkpoint_tree: build the model first (build_all)')
    tree = tf.Module(name='autoencoder_variables')
    tree.variables_by_path = {f'{i:04d}_{v.name}': v for i, v in enumerate(self.weights)}
    return tree

  def build_all(self) -> None:
    """Creates every variable (one forward pass on a blank batch)."""
    s = self.model_config.image_size
    landmarks = None
    if self.encoder_config.landmark_input:  # a spread of points (a degenerate set would give NaN angles)
      grid = np.stack(np.meshgrid(np.linspace(0.3, 0.7, 17), np.linspace(0.3, 0.7, 4)), -1).reshape(-1, 2)
      landmarks = tf.constant(grid[None, None, :68] * s, tf.float32)
    self(tf.zeros([1, 1, s, s, 3]), landmarks)

  # ----------------------------------------------------------------------------------------------- call

  def _landmarks(self, vertices, rotation, translation):
    """Projected landmarks [BF, 68, 2] (dynamic jaw) of model-space ``vertices`` [BF, N, 3] in a pose."""
    cam_v = camera_lib.rigid_transform(vertices, rotation, translation)
    return image_formation.project_landmarks(cam_v, rotation, self.camera, self.mesh)[0]

  def decode(self, params: dict[str, tf.Tensor], force_neutral: bool = False,
             render: bool = True) -> dict[str, tf.Tensor]:
    """Face model + rendering from encoder-style parameters (``alpha``, ``beta``, ``delta``, ``sh``,
    ``angles``, ``translation`` as in the module docstring).

    ``render=False`` skips image formation: the output holds the parameters, ``vertices``,
    ``identity_vertices``, ``expression_deformation``, ``graph_deformation``, ``landmarks2d`` and
    ``mean_landmarks2d`` only (what the landmark, smoothness and coefficient terms read; the pose stage
    trains on these at a fraction of the cost).
    """
    alpha, beta = params['alpha'], params['beta']
    delta = params['delta']
    if force_neutral:
      delta = tf.zeros_like(delta)
    shape = tf.shape(delta)
    b, f = shape[0], shape[1]
    flat = lambda x: tf.reshape(x, tf.concat([[b * f], tf.shape(x)[2:]], 0))
    unflat = lambda x: tf.reshape(x, tf.concat([[b, f], tf.shape(x)[1:]], 0))
    repeat = lambda x: tf.repeat(x, f, axis=0)
    fm = self.face_model(alpha=repeat(alpha), delta=flat(delta), beta=repeat(beta))
    pose = (flat(params['angles']), flat(params['translation']))
    rotation, translation = image_formation.pose_to_rotation_translation(pose)
    # Mean-mesh landmarks in the same pose (the paper's landmark loss on the mean mesh).
    mean = tf.broadcast_to(self.face_model.mean_vertices, tf.shape(fm['vertices']))
    mean_landmarks = self._landmarks(mean, rotation, translation)
    identity_vertices = self.face_model.mean_vertices + fm['identity_deformation']
    out = {
        **params, 'delta': delta,
        'vertices': unflat(fm['vertices']), 'albedo': unflat(fm['albedo'])[:, 0],
        'identity_vertices': unflat(identity_vertices)[:, 0],
        'expression_deformation': unflat(fm['expression_deformation']),
        'graph_deformation': unflat(fm['graph_deformation']),
        'mean_landmarks2d': unflat(mean_landmarks),
    }
    if not render:
      out['landmarks2d'] = unflat(self._landmarks(fm['vertices'], rotation, translation))
      return out
    r = image_formation.render(fm['vertices'], fm['albedo'], pose, flat(params['sh']), self.camera, self.mesh)
    outer = tf.gather(r['projected'], self.outer_loops, axis=1)  # [BF, 2, K, 2]
    positions = tf_ops.interpolate(r['projected'], r['triangle_ids'], r['barycentrics'], self.mesh.triangles)
    inner = inner_lip_contour_pixels(r['regions'])
    out.update({
        'image': unflat(r['image']), 'mask': unflat(r['mask']), 'lip_masks': unflat(r['lip_masks']),
        'landmarks2d': unflat(r['landmarks2d']),
        'outer_lip_contours': unflat(outer), 'inner_lip_pixels': unflat(inner),
        'pixel_positions': unflat(positions), 'albedo_image': unflat(r['albedo_image']),
        'shading_image': unflat(r['shading_image']), 'normals': unflat(r['normals']),
    })
    return out

  def _default_save_signature(self):
    """None: Keras' default SavedModel signature calls the model on its first input only, which a
    landmark encoder cannot take; the export's signature is ``ServingModule.serve``."""
    return None

  def call(self, images, landmarks=None, training=None, force_neutral: bool = False, render: bool = True):
    params = self.encoder(images, landmarks, training=training)
    return self.decode(params, force_neutral=force_neutral, render=render)

  # ---------------------------------------------------------------------------------------------- loading

  @classmethod
  def from_run_dir(cls, run_dir: str | os.PathLike, stage: typing.Optional[str] = None) -> 'Autoencoder':
    """Rebuilds the autoencoder of a training run and restores a stage's newest checkpoint."""
    run_dir = pathlib.Path(run_dir)
    cfg_path = run_dir / CONFIG_FILE
    if not cfg_path.exists():
      raise FileNotFoundError(f'{cfg_path} not found: expected a run folder written by training.main')
    try:
      cfg = json.loads(cfg_path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
      raise errors.FormatError(cfg_path, f'not the JSON that training.main writes ({e})') from None
    if not isinstance(cfg, dict) or 'model' not in cfg or 'encoder' not in cfg:
      cfg = cfg if isinstance(cfg, dict) else {}
      raise ValueError(f'{cfg_path} lacks the "model" / "encoder" sections (keys: {sorted(cfg)})')
    ae = cls(config_lib.ModelConfig.from_dict(cfg['model']),
             encoder_lib.EncoderConfig.from_dict(cfg['encoder']))
    ae.build_all()
    stages = [stage] if stage else list(reversed(STAGES))
    for s in stages:
      folder = run_dir / CHECKPOINT_DIR / s
      latest = tf.train.latest_checkpoint(str(folder))
      if not latest and folder.is_dir() and any(folder.iterdir()):
        # Never fall back to an older stage silently: the newest stage that has files must load.
        raise errors.FormatError(folder, f'the {s} stage holds files but no complete checkpoint (a missing '
                                 '.index or `checkpoint` file, or an interrupted save); rerun training to '
                                 f'resume the stage, or remove {folder} to use the previous stage')
      if latest:
        try:
          tf.train.Checkpoint(**{CHECKPOINT_KEY: ae.checkpoint_tree()}).restore(latest).expect_partial(
          ).assert_existing_objects_matched()
        except (tf.errors.OpError, IndexError, AssertionError, ValueError) as e:
          reason = str(getattr(e, 'message', e)).strip().splitlines()[0][:300] if str(e).strip() else ''
          raise errors.FormatError(latest, f'damaged checkpoint ({type(e).__name__}: {reason}); rerun the '
                                   'training stage, or remove this checkpoint to use an older one') from None
        ae.restored_from = latest
        return ae
    raise FileNotFoundError(f'No checkpoint for stage(s) {stages} under {run_dir / CHECKPOINT_DIR}')


# Owned by ``model.image_formation`` (the synthetic world's ground truth uses the same definition).
inner_lip_contour_pixels = image_formation.inner_lip_contour_pixels


class ServingModule(tf.Module):
  """SavedModel wrapper: ``serve(images [B, F, S, S, 3][, landmarks [B, F, 68, 2]]) -> parameters and
  vertices`` (landmarks when the encoder takes them)."""

  def __init__(self, ae: Autoencoder):
    super().__init__()
    self.ae = ae
    mc = ae.model_config
    spec = [tf.TensorSpec([None, None, mc.image_size, mc.image_size, 3], tf.float32, name='images')]
    if ae.encoder_config.landmark_input:
      spec.append(tf.TensorSpec([None, None, 68, 2], tf.float32, name='landmarks'))
    self.serve = tf.function(self._serve, input_signature=spec)

  def _serve(self, images, landmarks=None):
    p = self.ae.encoder(images, landmarks)
    out = self.ae.decode(p)
    return {k: out[k] for k in ('alpha', 'beta', 'delta', 'sh', 'angles', 'translation', 'vertices',
                                'albedo', 'landmarks2d')}


def save_serving_model(ae: Autoencoder, path: str | os.PathLike) -> pathlib.Path:
  """Writes a SavedModel with the ``serving_default`` signature (images in, parameters and vertices out)."""
  module = ServingModule(ae)
  path = pathlib.Path(path)
  # Serving needs no gradients; the renderer's custom gradients capture large index constants that the
  # SavedModel format cannot store, so they are not saved.
  tf.saved_model.save(module, str(path), signatures={'serving_default': module.serve},
                      options=tf.saved_model.SaveOptions(experimental_custom_gradients=False))
  return path
