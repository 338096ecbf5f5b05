"""An unlimited stream of synthetic ground-truth samples, generated on the fly inside tf.data.

    ds = synthetic_stream.make_stream('combined', batch_size=1, start=0, seed=0)

The cached synthetic set (``data.synthetic``) has a few tens of identities, far too few to learn an
80-dimensional identity model; this stream draws a new identity for every sample. It samples the same
world as ``data.synthetic`` (``SyntheticConfig``: the ICT identity modes with N(0, 1) weights, sparse ICT
blendshape activations, skin tones ``SKIN_TONES`` with smooth variation and redder lips, one directional
light plus ambient, uniform pose ranges, smooth random backgrounds) but with TensorFlow's stateless random
ops, so sample ``i`` is a pure function of ``(seed, i)``: a stream restarted at ``start=i`` continues
exactly where a previous one stopped (the training loop's resume), and two streams with different seeds
(training / held-out) never share a sample.

Elements have the structure of ``data.pipeline.element_spec`` (the training loop cannot tell them from
prepared records; landmarks, lip masks and contours are the rendered / projected ground truth, distance
transforms via ``data.lips.distance_transforms_cv2``; the inner lip contours are the visible boundary of
the rendered lips facing the mouth, ``contour_targets``), plus with ``groundtruth=True``:
``gt_vertices`` [F, N, 3] cm, ``gt_neutral_vertices`` [N, 3], ``gt_angles`` [F, 3], ``gt_translation``
[F, 3], ``gt_expression`` [F, 53].

Kinds (``make_stream(kind)``): 'video' (F frames of one identity, new expression / pose / light per frame),
'neutral' (one neutral image repeated F times, ``is_neutral`` True, the EmotioNet stand-in), 'combined'
(video : neutral = 3 : 1, the pattern V V V N).
"""

from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

from data import lips
from data import pipeline
from data import schema
from data import synthetic
from model import assets
from model import camera as camera_lib
from model import image_formation
from model import template as template_lib

KINDS = ('video', 'neutral', 'combined')
COMBINED_PATTERN = (False, False, False, True)  # 3 video : 1 neutral
_A = np.array([math.pi] + [2 * math.pi / 3] * 3 + [math.pi / 4] * 5, np.float32)  # Lambertian A_l


def _by_index(loop, count):
  return np.asarray(loop)[np.round(np.linspace(0, len(loop) - 1, count)).astype(int)]


def contour_targets(outer: np.ndarray, inner_pixels: np.ndarray):
  """Lip contour targets of ``u`` ground-truth renders, in ``data.schema.LIP_CONTOURS`` order.

  What an ideal lip segmentation of the image gives: the outer contours are the projected annotated
  vertex loops; the inner contours are the visible boundary of the rendered lip regions facing the mouth
  (the pixels ``model.image_formation.inner_lip_contour_pixels`` marks, which is also what the model's
  Eq. 7 reads from its own render). The mesh's mouth-opening boundary loop is no substitute: with the
  mouth closed it lies inside the mouth, behind the lips, 3-4 px from the visible contour on average.

  Args:
    outer: float32 [u, 2, p, 2] projected outer loops (upper, lower), pixels.
    inner_pixels: float32 [u, S, S, 2] {0, 1} inner contour pixels (upper, lower).

  Returns:
    (contours float32 [u, 4, MAX_CONTOUR_POINTS, 2] padded with their last point, lengths int32 [u, 4],
    distance transforms float32 [u, S, S, 4]: distance of each pixel centre to the contour, pixels;
    ``data.lips.NO_CONTOUR_DISTANCE`` where a contour is absent).
  """
  import cv2  # pylint: disable=g-import-not-at-top
  u, size = inner_pixels.shape[0], inner_pixels.shape[1]
  pmax = schema.MAX_CONTOUR_POINTS
  contours = np.zeros((u, schema.NUM_LIP_CONTOURS, pmax, 2), np.float32)
  lengths = np.zeros((u, schema.NUM_LIP_CONTOURS), np.int32)
  dts = np.empty((u, size, size, schema.NUM_LIP_CONTOURS), np.float32)
  for i in range(u):
    for lip in range(2):  # channels 2 lip (outer), 2 lip + 1 (inner)
      c_out, c_in = 2 * lip, 2 * lip + 1
      pts = outer[i, lip]
      contours[i, c_out, :len(pts)], contours[i, c_out, len(pts):] = pts, pts[-1]
      lengths[i, c_out] = len(pts)
      dts[i, ..., c_out] = lips.distance_transforms_cv2([pts], size)[..., 0]
      mask = inner_pixels[i, ..., lip] > 0.5
      pts = lips.inner_contour_points(mask, pmax)[::-1 if lip else 1]  # iBUG order: 60 -> 64, 64 -> 60
      lengths[i, c_in] = len(pts)
      if len(pts):
        contours[i, c_in, :len(pts)], contours[i, c_in, len(pts):] = pts, pts[-1]
        dts[i, ..., c_in] = cv2.distanceTransform(np.where(mask, 0, 255).astype(np.uint8), cv2.DIST_L2,
                                                  cv2.DIST_MASK_PRECISE)
      else:
        dts[i, ..., c_in] = lips.NO_CONTOUR_DISTANCE
  return contours, lengths, dts


class SyntheticWorld:
  """The synthetic face space as constant tensors, and ``sample(index, neutral)``."""

  def __init__(self, config: synthetic.SyntheticConfig = synthetic.SyntheticConfig(),
               num_frames: int = pipeline.DEFAULT_NUM_FRAMES, seed: int = 0, groundtruth: bool = False):
    self.config, self.num_frames, self.seed, self.groundtruth = config, num_frames, seed, groundtruth
    t = template_lib.load_template(config.region)
    self.template = t
    self.mesh = image_formation.RenderMesh.from_template(t)
    self.size = pipeline.S
    self.camera = camera_lib.Camera.for_image_size(self.size, self.size)
    self.mean = tf.constant(t.vertices, tf.float32)
    self.identity = tf.constant(t.map_ict(assets.load_identity_deltas(config.identity_modes)))
    expr, _ = assets.load_expression_deltas()
    self.expression = tf.constant(t.map_ict(expr))
    sem = t.semantics
    lip = np.zeros(t.num_vertices, np.float32)
    lip[np.asarray(t.triangles)[np.asarray(sem.triangle_regions) > 0].ravel()] = 1.0
    self.lip_vertices = tf.constant(lip[:, None])
    p = synthetic.CONTOUR_POINTS
    # Outer contours: the projected annotated vertex loops (upper, lower). Inner contours are read from the
    # rendered region map instead (``inner_contour_targets``).
    loops = [sem.upper_lip_contour, sem.lower_lip_contour]
    self.outer_contour_vertices = tf.constant(np.stack([_by_index(l, p) for l in loops]).astype(np.int32))
    self.skin_tones = tf.constant(synthetic.SKIN_TONES)

  # ------------------------------------------------------------------------------------------- sampling

  def _seed(self, index, slot: int):
    return tf.stack([tf.cast(self.seed, tf.int64) * 1000003 + tf.cast(index, tf.int64),
                     tf.constant(slot, tf.int64)])

  def _albedo(self, index):
    def u(slot, shape, lo=0.0, hi=1.0):
      return tf.random.stateless_uniform(shape, self._seed(index, slot), lo, hi)
    n_tones = self.skin_tones.shape[0]
    t = u(1, [], 0.0, n_tones - 1.0)
    lo = tf.cast(tf.floor(t), tf.int32)
    hi = tf.minimum(lo + 1, n_tones - 1)
    w = t - tf.floor(t)
    base = self.skin_tones[lo] * (1 - w) + self.skin_tones[hi] * w
    k = tf.random.stateless_normal([4, 3], self._seed(index, 2))
    wavelength = u(3, [4, 1], 6.0, 18.0)
    k = k * (2 * np.pi / wavelength) / tf.norm(k, axis=1, keepdims=True)
    phase = u(4, [4], 0.0, 2 * np.pi)
    amp = u(5, [4], 0.01, 0.04)
    tint = 1 + 0.3 * tf.random.stateless_normal([4, 3], self._seed(index, 6))
    waves = tf.sin(tf.matmul(self.mean, k, transpose_b=True) + phase) * amp  # [N, 4]
    variation = tf.matmul(waves, tint)  # [N, 3]
    albedo = base * (1 + variation)
    lip_tint = tf.constant([1.0, 0.72, 0.75]) * u(7, [], 0.85, 1.0)
    albedo = albedo * (1 - self.lip_vertices) + albedo * lip_tint * self.lip_vertices
    return tf.clip_by_value(albedo, 0.02, 1.0)

  def _expression(self, index, frames: int, neutral):
    cfg = self.config
    n = self.expression.shape[0]
    scores = tf.random.stateless_uniform([frames, n], self._seed(index, 10))
    k = tf.random.stateless_uniform([frames, 1], self._seed(index, 11), 1, cfg.max_active_blendshapes + 1,
                                    dtype=tf.int32)
    rank = tf.argsort(tf.argsort(scores, axis=1), axis=1)
    active = tf.cast(rank < k, tf.float32)
    weights = active * tf.random.stateless_uniform([frames, n], self._seed(index, 12), 0.2, 1.0)
    neutral_frame = tf.random.stateless_uniform([frames, 1], self._seed(index, 13)) < \
        cfg.neutral_frame_probability
    keep = tf.logical_not(tf.logical_or(neutral_frame, neutral))
    return weights * tf.cast(keep, tf.float32)

  def _pose(self, index, frames: int):
    cfg = self.config
    r = tf.constant(np.radians([cfg.pitch_deg, cfg.yaw_deg, cfg.roll_deg]), tf.float32)
    angles = tf.random.stateless_uniform([frames, 3], self._seed(index, 20), -1.0, 1.0) * r
    jitter = tf.random.stateless_uniform([frames, 3], self._seed(index, 21), -1.0, 1.0) * \
        tf.constant([1.0, 1.0, 8.0])
    return angles, tf.constant(camera_lib.DEFAULT_TRANSLATION, tf.float32) + jitter

  def _sh(self, index, frames: int):
    u = lambda slot, shape, lo, hi: tf.random.stateless_uniform(shape, self._seed(index, slot), lo, hi)
    d = tf.stack([u(30, [frames], -1, 1), u(31, [frames], -0.5, 1), u(32, [frames], 0.3, 1)], -1)
    d = d / tf.norm(d, axis=-1, keepdims=True)
    y = image_formation.lighting.sh_basis(d) / _A  # real SH basis Y_b(d), [frames, 9]
    tint = 1 + 0.04 * tf.random.stateless_normal([frames, 1, 3], self._seed(index, 33))
    intensity = u(34, [frames, 1, 1], 0.1, 0.5) * tint
    ambient = u(35, [frames, 1, 1], 0.55, 0.9) * tint
    sh = y[:, :, None] * intensity
    return sh + tf.pad(ambient / image_formation.lighting.H0_CONSTANT, [[0, 0], [0, 8], [0, 0]])

  def _backgrounds(self, index, frames: int):
    grid = tf.random.stateless_uniform([frames, 4, 4, 3], self._seed(index, 40))
    bg = tf.image.resize(grid, [self.size, self.size], method='bicubic')
    bg += 0.03 * tf.random.stateless_normal([frames, self.size, self.size, 3], self._seed(index, 41))
    return tf.clip_by_value(bg, 0.0, 1.0)

  def sample(self, index, neutral) -> dict:
    """One element (``data.pipeline.element_spec`` structure, unbatched) for stream position ``index``."""
    f = self.num_frames
    neutral = tf.convert_to_tensor(neutral, tf.bool)
    alpha = tf.random.stateless_normal([self.identity.shape[0]], self._seed(index, 0))
    identity = self.mean + tf.tensordot(alpha, self.identity, 1)
    albedo = self._albedo(index)
    expr = self._expression(index, f, neutral)
    angles, translation = self._pose(index, f)
    sh = self._sh(index, f)
    bgs = self._backgrounds(index, f)
    # A neutral sample is one image repeated F times (as the paper feeds EmotioNet images).
    pick = tf.where(neutral, tf.zeros([f], tf.int32), tf.range(f))
    expr, angles, translation, sh, bgs = (tf.gather(x, pick) for x in (expr, angles, translation, sh, bgs))
    vertices = identity + tf.tensordot(expr, self.expression, 1)
    r = image_formation.render(vertices, tf.tile(albedo[None], [f, 1, 1]), (angles, translation), sh,
                               self.camera, self.mesh, background=bgs)
    image = tf.round(tf.clip_by_value(r['image'], 0.0, 1.0) * 255.0) / 255.0
    outer = tf.gather(r['projected'], self.outer_contour_vertices, axis=1)  # [F, 2, p, 2]
    inner = image_formation.inner_lip_contour_pixels(r['regions'])  # [F, S, S, 2]
    # A neutral sample repeats one frame: its contours and distance transforms are computed once.
    unique = tf.where(neutral, 1, f)
    padded, lengths, dts = tf.numpy_function(
        contour_targets, [outer[:unique], inner[:unique]], (tf.float32, tf.int32, tf.float32), stateful=False)
    again = tf.where(neutral, tf.zeros([f], tf.int32), tf.range(f))
    padded, lengths, dts = (tf.gather(x, again) for x in (padded, lengths, dts))
    padded = tf.ensure_shape(padded, [f, schema.NUM_LIP_CONTOURS, schema.MAX_CONTOUR_POINTS, 2])
    lengths = tf.ensure_shape(lengths, [f, schema.NUM_LIP_CONTOURS])
    out = {
        'image': tf.ensure_shape(image, [f, self.size, self.size, 3]),
        'landmarks': r['landmarks2d'],
        'lip_masks': r['lip_masks'],
        'lip_distance': tf.ensure_shape(dts, [f, self.size, self.size, schema.NUM_LIP_CONTOURS]),
        'lip_contours': padded,
        'lip_contour_lengths': lengths,
        'is_neutral': neutral,
        'is_video': tf.logical_not(neutral),
        'frame_index': tf.cast(pick, tf.int64),
        'dataset': tf.constant('synthetic'),
        'clip_id': tf.strings.format('synthetic-stream-{}-{}', (self.seed, index)),
    }
    if self.groundtruth:
      out.update(gt_vertices=vertices, gt_neutral_vertices=identity, gt_angles=angles,
                 gt_translation=translation, gt_expression=expr)
    return out


def make_stream(kind: str = 'combined', batch_size: int | None = 1, start: int = 0, seed: int = 0,
                num_frames: int = pipeline.DEFAULT_NUM_FRAMES, groundtruth: bool = False,
                count: int | None = None, config: synthetic.SyntheticConfig = synthetic.SyntheticConfig(),
                parallel: int = 1, prefetch: bool = True) -> tf.data.Dataset:
  """Synthetic samples ``start, start + 1, ...`` (forever, or ``count`` of them); see the module docstring.

  Args:
    kind: 'video' | 'neutral' | 'combined'.
    batch_size: batch size (drop remainder), or None for unbatched elements.
    start: stream position of the first sample (resume).
    seed: world seed (use different seeds for training and held-out data).
    num_frames: N_f.
    groundtruth: add the ``gt_*`` tensors.
    count: number of samples (None: unlimited).
    config: the world's distribution (``data.synthetic.SyntheticConfig``).
    parallel: samples generated in parallel (the order stays deterministic).
    prefetch: prefetch one batch.
  """
  if kind not in KINDS:
    raise ValueError(f'kind must be one of {KINDS}, got {kind!r}')
  world = SyntheticWorld(config, num_frames, seed, groundtruth)
  ds = tf.data.Dataset.range(start, start + count if count is not None else np.iinfo(np.int64).max)
  pattern = tf.constant(COMBINED_PATTERN)

  def is_neutral(i):
    if kind == 'combined':
      return pattern[i % len(COMBINED_PATTERN)]
    return tf.constant(kind == 'neutral')

  ds = ds.map(lambda i: world.sample(i, is_neutral(i)), num_parallel_calls=parallel, deterministic=True)
  if batch_size:
    ds = ds.batch(batch_size, drop_remainder=True)
  if prefetch:
    ds = ds.prefetch(2)
  return ds


# What the render-free stages read (``training.trainer``: the encoder's inputs and the landmark terms).
POOL_KEYS = ('image', 'landmarks', 'is_neutral')


def make_pooled_stream(kind: str, pool_size: int, batch_size: int, start: int = 0, seed: int = 0,
                       num_frames: int = pipeline.DEFAULT_NUM_FRAMES,
                       config: synthetic.SyntheticConfig = synthetic.SyntheticConfig(),
                       parallel: int = 1, keys: tuple[str, ...] = POOL_KEYS) -> tf.data.Dataset:
  """Samples ``start, start + 1, ...`` of a stream that cycles over the first ``pool_size`` samples of
  ``make_stream(kind, seed=seed)``: element ``i`` is sample ``i % pool_size``, so a resumed run continues
  exactly (the position is still ``step * batch_size``).

  The pool is generated once, on the first pass, and held in memory with ``keys`` only, images as uint8
  (lossless: the world quantises its renders to 1/255); ``pool_size`` x F x S x S x 3 bytes (1,024 video
  samples at 240 px: 0.7 GB).

  Args:
    kind: 'video' | 'neutral' | 'combined'.
    pool_size: samples held (> 0).
    batch_size: batch size (drop remainder).
    start: stream position of the first sample (resume).
    seed: world seed.
    num_frames: N_f.
    config: the world's distribution.
    parallel: samples generated in parallel during the first pass.
    keys: element keys kept.
  """
  if pool_size <= 0:
    raise ValueError(f'pool_size must be > 0, got {pool_size}')
  ds = make_stream(kind, batch_size=None, seed=seed, num_frames=num_frames, count=pool_size, config=config,
                   parallel=parallel, prefetch=False)

  def pack(e):
    out = {k: e[k] for k in keys}
    if 'image' in out:
      out['image'] = tf.cast(tf.round(out['image'] * 255.0), tf.uint8)
    return out

  def unpack(e):
    if 'image' in e:
      e = {**e, 'image': tf.cast(e['image'], tf.float32) / 255.0}
    return e

  ds = ds.map(pack).cache().repeat().skip(start % pool_size)
  return ds.map(unpack).batch(batch_size, drop_remainder=True).prefetch(2)
