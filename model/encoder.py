"""The siamese multi-frame encoder (paper Sec. 3.3): frames of one person -> face parameters.

    enc = MultiFrameEncoder(EncoderConfig.small(), model_config)
    params = enc(images, landmarks)   # images [B, F, S, S, 3] in [0, 1], landmarks [B, F, 68, 2] pixels
    enc = MultiFrameEncoder(EncoderConfig.small_image_only(), model_config)
    params = enc(images)              # the paper's encoder: pixels only

Inputs beyond the paper (``EncoderConfig.landmark_input`` / ``align``, on in ``small()`` and ``paper()``):
every frame has its 68 detected landmarks at training and test time, and they carry the identity that a
small tower cannot resolve in the pixels (a linear fit on the true landmarks recovers the first ICT identity
weights with R^2 0.95, the 64 px tower ~0). ``landmark_features`` normalises them by a similarity: centroid
``c``, RMS radius ``s`` and eye-line angle ``theta``; the de-rotated, unit-radius shape (136 values) and
the similarity itself (c / S, log(s / S), cos and sin theta: 5 values) go into a 2-layer MLP whose features
join the tower's before the heads. With ``align`` the tower sees the crop warped by that similarity to a
canonical frame (centroid at the centre, radius ``ALIGNED_RADIUS`` of the side, eyes level), as
Deep3DFaceRecon aligns its crops with 5 landmarks; the pose is still predicted in the input crop, from the
similarity features. ``image_only()`` configurations keep the paper's pixels-only encoder for comparison.

One tower with shared weights runs on every frame (the frames are folded into the batch) and predicts the
per-frame parameters: expression delta_i [B, F, m_e], SH lighting gamma_i [B, F, 9, 3] and rigid pose
phi_i = (angles [B, F, 3] radians (pitch, yaw, roll), translation [B, F, 3] cm). The towers' features are
average-pooled over the F frames and a small MLP predicts one identity alpha [B, m_i] and one albedo
beta [B, m_r] per sample. Average pooling makes alpha / beta invariant to the frame order and the per-frame
outputs equivariant (permuting frames permutes them); ``tests/model/test_encoder.py`` checks both.

Towers (``EncoderConfig.tower``), random initialisation (nothing downloads):

* ``'small'``: a plain CNN for CPU runs: 5 stride-2 3x3 conv + ReLU layers (16-32-48-64-96 channels,
  times ``width``) on a 64 px input, the final 2 x 2 map flattened (position matters for the pose).
  3.2 M multiply-adds per frame at 64 px (``tower_flops``), ~1 ms per frame on one core: the demo's step
  is then dominated by rendering (~15 ms per 4 frames at 240 px), not by the network.
* ``'resnet'``: a ResNet-18-style tower (BasicBlocks [2, 2, 2, 2], 64-512 channels, GroupNorm instead of
  BatchNorm because the paper's batch size is 1) for real training at the paper's 240 px: ~2.1 GMAC per
  frame at 240 px (``tower_flops``: 2.15 G), about 680x the small tower.

``input_size``: the encoder may see a downscaled copy of the frames (bilinear, antialiased) while rendering
stays at the model's image size; the output parameters do not depend on the encoder's resolution.

Initialisation: the output layers' kernels are zero and their biases give the mean face (alpha = delta =
beta = 0) under ambient light (``model.lighting.ambient_sh``) in the default frontal pose
(``model.camera.default_pose``), so the first reconstruction is the mean face in the default pose.
Translation is predicted in units of ``TRANSLATION_SCALE`` cm per output unit (depth moves faster) so that
the pose head's outputs are of order 1; alpha, beta and delta are the heads' outputs times
``EncoderConfig.coefficient_scale`` (10) so that Adam's bounded steps bring them to O(1) sooner.
"""

from __future__ import annotations

import dataclasses
import typing

import numpy as np
import tensorflow as tf
import keras

from model import camera as camera_lib
from model import config as config_lib
from model import lighting

TOWERS = ('small', 'resnet')
# cm of translation per unit of the pose head's output (x, y, z): z jitters by ~10 cm, x / y by ~1 cm.
TRANSLATION_SCALE = (1.0, 1.0, 10.0)
POSE_DIM = 6
SH_DIM = lighting.NUM_SH_COEFFICIENTS * 3
SMALL_CHANNELS = (16, 32, 48, 64, 96)
NUM_LANDMARKS = 68
# iBUG indices of the two eyes' six points each (the eye line of the similarity).
LEFT_EYE, RIGHT_EYE = tuple(range(36, 42)), tuple(range(42, 48))
# Landmark features: the normalised shape (68 x 2) and the similarity (c_x, c_y, log s, cos, sin).
LANDMARK_FEATURES = NUM_LANDMARKS * 2 + 5
# RMS radius of the 68 landmarks in the aligned crop, as a fraction of its side (a frontal face filling
# the 240 px crops of data.prepare has ~0.25).
ALIGNED_RADIUS = 0.25


@dataclasses.dataclass(frozen=True)
class EncoderConfig:
  """The encoder's architecture (the parameter sizes come from ``model.config.ModelConfig``).

  Attributes:
    tower: 'small' or 'resnet' (see the module docstring).
    input_size: side of the (resized) frames the tower sees, pixels.
    width: channel multiplier of the tower.
    hidden: units of the identity / albedo MLP's hidden layer.
    coefficient_scale: alpha, beta and delta are the heads' outputs times this (a per-output learning-rate
      multiplier under Adam: the coefficients must reach O(1) for the learned bases to matter).
    landmark_input: the 68 landmarks of each frame are an input (``landmark_features`` into an MLP whose
      features join the tower's); the encoder then needs them at every call.
    align: the tower sees each frame warped by its landmarks' similarity to the canonical frame (needs
      ``landmark_input``).
    landmark_hidden: units of the landmark MLP's two layers.
  """
  tower: str = 'small'
  input_size: int = 64
  width: float = 1.0
  hidden: int = 128
  coefficient_scale: float = 10.0
  landmark_input: bool = False
  align: bool = False
  landmark_hidden: int = 256

  def __post_init__(self):
    if self.tower not in TOWERS:
      raise ValueError(f'EncoderConfig.tower must be one of {TOWERS}, got {self.tower!r}')
    if self.input_size < 16 or self.width <= 0 or self.hidden < 1 or self.landmark_hidden < 1:
      raise ValueError(f'EncoderConfig needs input_size >= 16, width > 0, hidden >= 1, landmark_hidden >= 1;'
                       f' got {self}')
    if self.align and not self.landmark_input:
      raise ValueError('EncoderConfig.align needs landmark_input=True (the alignment comes from landmarks)')

  def to_dict(self) -> dict[str, typing.Any]:
    return dataclasses.asdict(self)

  @classmethod
  def from_dict(cls, values: dict[str, typing.Any]) -> 'EncoderConfig':
    return cls(**values)  # keys missing in older run folders take the defaults: the image-only encoder

  @classmethod
  def small(cls) -> 'EncoderConfig':
    """The CPU tower on 64 px aligned crops plus the landmark branch (the demo's)."""
    return cls('small', 64, 1.0, 128, 10.0, landmark_input=True, align=True)

  @classmethod
  def small_image_only(cls) -> 'EncoderConfig':
    """The CPU tower on 64 px crops, pixels only (the paper's encoder design at demo scale)."""
    return cls('small', 64, 1.0, 128, 10.0)

  @classmethod
  def paper(cls) -> 'EncoderConfig':
    """ResNet-18 tower on 240 px aligned crops plus the landmark branch."""
    return cls('resnet', config_lib.IMAGE_SIZE, 1.0, 512, 10.0, landmark_input=True, align=True)

  @classmethod
  def paper_image_only(cls) -> 'EncoderConfig':
    """The paper's encoder: ResNet-18 tower on 240 px crops, pixels only."""
    return cls('resnet', config_lib.IMAGE_SIZE, 1.0, 512, 10.0)


class _SmallTower(keras.layers.Layer):
  """5 stride-2 conv + ReLU layers, flattened -> [N, (S / 32)^2 channels[-1]].

  The last map (2 x 2 at 64 px) is flattened rather than averaged: where the face is in the image is
  what the pose head needs, and global pooling would discard it.
  """

  def __init__(self, width: float = 1.0, **kwargs):
    super().__init__(**kwargs)
    self.channels = [max(4, int(round(c * width))) for c in SMALL_CHANNELS]
    self.convs = [keras.layers.Conv2D(c, 3, strides=2, padding='same', activation='relu', name=f'conv{i}')
                  for i, c in enumerate(self.channels)]

  def call(self, x):
    for conv in self.convs:
      x = conv(x)
    return tf.reshape(x, [-1, x.shape[1] * x.shape[2] * x.shape[3]])


class _BasicBlock(keras.layers.Layer):
  """ResNet BasicBlock with GroupNorm."""

  def __init__(self, channels: int, stride: int, **kwargs):
    super().__init__(**kwargs)
    self.stride, self.channels = stride, channels
    self.c1 = keras.layers.Conv2D(channels, 3, strides=stride, padding='same', use_bias=False)
    self.n1 = keras.layers.GroupNormalization(groups=min(32, channels // 4))
    self.c2 = keras.layers.Conv2D(channels, 3, padding='same', use_bias=False)
    self.n2 = keras.layers.GroupNormalization(groups=min(32, channels // 4))
    self.proj = None
    self.np_ = None

  def build(self, input_shape):
    if self.stride != 1 or input_shape[-1] != self.channels:
      self.proj = keras.layers.Conv2D(self.channels, 1, strides=self.stride, use_bias=False)
      self.np_ = keras.layers.GroupNormalization(groups=min(32, self.channels // 4))

  def call(self, x):
    y = tf.nn.relu(self.n1(self.c1(x)))
    y = self.n2(self.c2(y))
    skip = self.np_(self.proj(x)) if self.proj is not None else x
    return tf.nn.relu(y + skip)


class _ResNetTower(keras.layers.Layer):
  """ResNet-18 layout (7x7/2 stem, 3x3/2 max-pool, [2, 2, 2, 2] BasicBlocks) -> [N, 512 * width]."""

  def __init__(self, width: float = 1.0, **kwargs):
    super().__init__(**kwargs)
    c = [int(round(64 * width * m)) for m in (1, 2, 4, 8)]
    self.stem = keras.layers.Conv2D(c[0], 7, strides=2, padding='same', use_bias=False)
    self.stem_norm = keras.layers.GroupNormalization(groups=min(32, c[0] // 4))
    self.pool = keras.layers.MaxPooling2D(3, 2, padding='same')
    self.blocks = []
    for i, ch in enumerate(c):
      self.blocks += [_BasicBlock(ch, 1 if i == 0 else 2), _BasicBlock(ch, 1)]

  def call(self, x):
    x = self.pool(tf.nn.relu(self.stem_norm(self.stem(x))))
    for b in self.blocks:
      x = b(x)
    return tf.reduce_mean(x, axis=[1, 2])


def _const_init(values):
  values = np.asarray(values, np.float32)
  return keras.initializers.Constant(values)


def landmark_similarity(landmarks: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
  """The similarity of a landmark set: centroid, RMS radius and eye-line angle.

  Args:
    landmarks: float32 [N, 68, 2] (x, y) pixels, image row 0 at the top.

  Returns:
    centre [N, 2] pixels, radius [N] pixels (RMS distance to the centre, at least 1e-3), theta [N] radians
    (angle of the line from the left eye's centroid, points 36-41, to the right eye's, 42-47, in image
    coordinates: 0 for level eyes, positive when the right eye, the one on the image's right, is lower).
  """
  centre = tf.reduce_mean(landmarks, axis=1)
  radius = tf.sqrt(tf.reduce_mean(tf.reduce_sum(tf.square(landmarks - centre[:, None]), -1), 1) + 1e-6)
  eyes = (tf.reduce_mean(tf.gather(landmarks, RIGHT_EYE, axis=1), 1)
          - tf.reduce_mean(tf.gather(landmarks, LEFT_EYE, axis=1), 1))
  theta = tf.atan2(eyes[:, 1], eyes[:, 0] + 1e-6)
  return centre, tf.maximum(radius, 1e-3), theta


def landmark_features(landmarks: tf.Tensor, image_size: int) -> tf.Tensor:
  """Similarity-normalised landmarks and the similarity: [N, LANDMARK_FEATURES] = [N, 141].

  ``q_k = R(-theta) (p_k - c) / s`` (136 values: the shape without position, scale and roll), then
  ``2 c / S - 1`` (2), ``log(s / S)`` (1), ``cos theta``, ``sin theta`` (2), with ``c, s, theta`` from
  ``landmark_similarity`` and S = ``image_size`` (the pixel frame of ``landmarks`` [N, 68, 2]).
  """
  landmarks = tf.convert_to_tensor(landmarks, tf.float32)
  centre, radius, theta = landmark_similarity(landmarks)
  cos, sin = tf.cos(theta), tf.sin(theta)
  d = (landmarks - centre[:, None]) / radius[:, None, None]
  x = cos[:, None] * d[..., 0] + sin[:, None] * d[..., 1]   # R(-theta) d
  y = -sin[:, None] * d[..., 0] + cos[:, None] * d[..., 1]
  shape = tf.reshape(tf.stack([x, y], -1), [-1, NUM_LANDMARKS * 2])
  s = float(image_size)
  pose = tf.stack([2.0 * centre[:, 0] / s - 1.0, 2.0 * centre[:, 1] / s - 1.0, tf.math.log(radius / s),
                   cos, sin], -1)
  return tf.concat([shape, pose], -1)


def align_images(images: tf.Tensor, landmarks: tf.Tensor, size: int) -> tf.Tensor:
  """Frames warped by their landmarks' similarity to the canonical frame: [N, size, size, 3].

  The output's centre is the landmarks' centroid, a radius of ``ALIGNED_RADIUS * size`` output pixels is
  their RMS radius and the eye line is horizontal (bilinear sampling; outside the frame is 0). ``images``
  [N, S, S, 3] and ``landmarks`` [N, 68, 2] in that frame's pixels; ``images`` is first resized to
  ``size`` (antialiased) so that the warp never minifies much.
  """
  n_side = images.shape[1] or tf.shape(images)[1]
  if images.shape[1] != size or images.shape[2] != size:
    images = tf.image.resize(images, [size, size], method='bilinear', antialias=True)
  scale_to = tf.cast(size, tf.float32) / tf.cast(n_side, tf.float32)
  # Pixel centres: x_small + 0.5 = (x + 0.5) * scale_to.
  points = (landmarks + 0.5) * scale_to - 0.5
  centre, radius, theta = landmark_similarity(points)
  k = radius / (ALIGNED_RADIUS * size)
  cos, sin = tf.cos(theta) * k, tf.sin(theta) * k
  h = (size - 1) / 2.0
  a2 = centre[:, 0] - cos * h + sin * h
  b2 = centre[:, 1] - sin * h - cos * h
  zeros = tf.zeros_like(cos)
  transforms = tf.stack([cos, -sin, a2, sin, cos, b2, zeros, zeros], -1)
  return tf.raw_ops.ImageProjectiveTransformV3(
      images=images, transforms=transforms, output_shape=tf.constant([size, size], tf.int32),
      fill_value=0.0, interpolation='BILINEAR', fill_mode='CONSTANT')


def initial_per_frame_bias(num_expression: int) -> np.ndarray:
  """Bias of the per-frame head: [delta (m_e) zeros, SH (27) ambient, pose (6) default / scale]."""
  sh = lighting.ambient_sh(1.0)[0].reshape(-1)
  angles, translation = camera_lib.default_pose(1)
  pose = np.concatenate([angles.numpy()[0], translation.numpy()[0] / np.asarray(TRANSLATION_SCALE)])
  return np.concatenate([np.zeros(num_expression), sh, pose]).astype(np.float32)


class MultiFrameEncoder(keras.Model):
  """Siamese towers + multi-frame pooling (see the module docstring).

  ``call(images, landmarks=None)`` with images [B, F, S, S, 3] in [0, 1] and, when
  ``encoder_config.landmark_input``, landmarks [B, F, 68, 2] ((x, y) pixels of those frames) returns a dict:
    alpha [B, m_i], beta [B, m_r], delta [B, F, m_e], sh [B, F, 9, 3], angles [B, F, 3] (rad),
    translation [B, F, 3] (cm), features [B, F, D] (the tower outputs).
  """

  def __init__(self, encoder_config: EncoderConfig = EncoderConfig(),
               model_config: config_lib.ModelConfig = config_lib.PAPER, **kwargs):
    super().__init__(**kwargs)
    self.encoder_config, self.model_config = encoder_config, model_config
    ec, mc = encoder_config, model_config
    tower_cls = _SmallTower if ec.tower == 'small' else _ResNetTower
    self.tower = tower_cls(ec.width, name='tower')
    self.landmark_mlp = None
    if ec.landmark_input:
      # Standardisation of the landmark features (identity moves them by ~1% of the face's radius, pose and
      # expression by ~10x more): statistics of the training data, set once by ``adapt_landmarks`` and
      # saved with the model (non-trainable weights).
      self.landmark_mean = self.add_weight(shape=(LANDMARK_FEATURES,), initializer='zeros', trainable=False,
                                           name='landmark_mean')
      self.landmark_std = self.add_weight(shape=(LANDMARK_FEATURES,), initializer='ones', trainable=False,
                                          name='landmark_std')
      self.landmark_mlp = keras.Sequential([
          keras.layers.Dense(ec.landmark_hidden, activation='relu', name='landmark_dense0'),
          keras.layers.Dense(ec.landmark_hidden, activation='relu', name='landmark_dense1')],
          name='landmark_mlp')
    zeros = keras.initializers.Zeros()
    self.per_frame_head = keras.layers.Dense(
        mc.num_expression + SH_DIM + POSE_DIM, kernel_initializer=zeros,
        bias_initializer=_const_init(initial_per_frame_bias(mc.num_expression)), name='per_frame_head')
    self.shared_hidden = keras.layers.Dense(ec.hidden, activation='relu', name='shared_hidden')
    self.identity_head = keras.layers.Dense(mc.num_identity, kernel_initializer=zeros, name='identity_head')
    self.albedo_head = keras.layers.Dense(mc.num_albedo, kernel_initializer=zeros, name='albedo_head')
    self.translation_scale = tf.constant(TRANSLATION_SCALE, tf.float32)

  def check_images(self, images) -> tf.Tensor:
    images = tf.convert_to_tensor(images, tf.float32)
    if images.shape.rank != 5 or images.shape[-1] != 3:
      raise ValueError(f'MultiFrameEncoder expects images [B, F, S, S, 3], got shape {images.shape}')
    return images

  def check_landmarks(self, landmarks, images: tf.Tensor) -> tf.Tensor | None:
    if not self.encoder_config.landmark_input:
      return None
    if landmarks is None:
      raise ValueError('MultiFrameEncoder: this encoder (EncoderConfig.landmark_input) needs the 68 '
                       'landmarks of every frame: call(images, landmarks [B, F, 68, 2] pixels)')
    landmarks = tf.stop_gradient(tf.convert_to_tensor(landmarks, tf.float32))
    if landmarks.shape.rank != 4 or landmarks.shape[2:] != (NUM_LANDMARKS, 2):
      raise ValueError(f'MultiFrameEncoder expects landmarks [B, F, 68, 2], got shape {landmarks.shape}')
    if images.shape[:2].is_fully_defined() and landmarks.shape[:2].is_fully_defined() and (
        images.shape[:2] != landmarks.shape[:2]):
      raise ValueError(f'MultiFrameEncoder: landmarks {landmarks.shape} do not match images {images.shape}')
    return landmarks

  def _default_save_signature(self):
    return None  # see Autoencoder._default_save_signature

  def adapt_landmarks(self, landmarks, image_size: int) -> None:
    """Sets the landmark features' standardisation from training landmarks [..., 68, 2] (pixels of
    frames of side ``image_size``): per feature mean and std (at least 1e-3 of the largest std)."""
    if self.landmark_mlp is None:
      return
    lm = tf.reshape(tf.convert_to_tensor(landmarks, tf.float32), [-1, NUM_LANDMARKS, 2])
    feats = landmark_features(lm, image_size).numpy().astype(np.float64)
    std = feats.std(0)
    self.landmark_mean.assign(feats.mean(0).astype(np.float32))
    self.landmark_std.assign(np.maximum(std, 1e-3 * std.max()).astype(np.float32))

  def landmarks_adapted(self) -> bool:
    """Whether ``adapt_landmarks`` has set the standardisation (False: the initial 0 / 1)."""
    return self.landmark_mlp is not None and bool(np.any(self.landmark_mean.numpy() != 0.0))

  def call(self, images, landmarks=None, training=None):
    images = self.check_images(images)
    landmarks = self.check_landmarks(landmarks, images)
    shape = tf.shape(images)
    b, f = shape[0], shape[1]
    flat = tf.reshape(images, tf.concat([[b * f], shape[2:]], 0))
    size = self.encoder_config.input_size
    if landmarks is not None:
      flat_landmarks = tf.reshape(landmarks, [-1, NUM_LANDMARKS, 2])
    if self.encoder_config.align:
      flat = align_images(flat, flat_landmarks, size)
    elif images.shape[2] != size or images.shape[3] != size:
      flat = tf.image.resize(flat, [size, size], method='bilinear', antialias=True)
    features = self.tower(flat * 2.0 - 1.0)  # [B F, D]
    if landmarks is not None:
      side = images.shape[2] if images.shape[2] is not None else tf.cast(tf.shape(images)[2], tf.float32)
      z = (landmark_features(flat_landmarks, side) - self.landmark_mean) / self.landmark_std
      # The standardised features themselves join too: a linear path (what a ridge fit on the landmarks
      # reads at once) beside the MLP's non-linear one.
      features = tf.concat([features, self.landmark_mlp(z), z], -1)
    d = features.shape[-1]
    out = self.per_frame_head(features)
    m_e = self.model_config.num_expression
    scale = self.encoder_config.coefficient_scale
    delta = out[:, :m_e] * scale
    sh = tf.reshape(out[:, m_e:m_e + SH_DIM], [-1, lighting.NUM_SH_COEFFICIENTS, 3])
    pose = out[:, m_e + SH_DIM:]
    pooled = tf.reduce_mean(tf.reshape(features, [b, f, d]), axis=1)
    hidden = self.shared_hidden(pooled)
    if self.landmark_mlp is not None:
      hidden = tf.concat([hidden, pooled], -1)  # identity / albedo heads also see the pooled features
    per_frame = lambda x: tf.reshape(x, tf.concat([[b, f], tf.shape(x)[1:]], 0))
    return {
        'alpha': self.identity_head(hidden) * scale,
        'beta': self.albedo_head(hidden) * scale,
        'delta': per_frame(delta),
        'sh': per_frame(sh),
        'angles': per_frame(pose[:, :3]),
        'translation': per_frame(pose[:, 3:] * self.translation_scale),
        'features': per_frame(features),
    }

  def head_variables(self) -> dict[str, list[tf.Variable]]:
    """Variables by role (for per-stage freezing): tower (with the landmark MLP), per_frame_head,
    identity_albedo."""
    landmark = list(self.landmark_mlp.trainable_variables) if self.landmark_mlp is not None else []
    return {'tower': list(self.tower.trainable_variables) + landmark,
            'per_frame_head': list(self.per_frame_head.trainable_variables),
            'identity_albedo': (list(self.shared_hidden.trainable_variables)
                                + list(self.identity_head.trainable_variables)
                                + list(self.albedo_head.trainable_variables))}


def tower_flops(encoder_config: EncoderConfig) -> int:
  """Multiply-adds of one tower pass on one frame at ``input_size`` (conv layers only)."""
  s = encoder_config.input_size
  total, c_in = 0, 3
  if encoder_config.tower == 'small':
    for c in _SmallTower(encoder_config.width).channels:
      s = (s + 1) // 2
      total += s * s * c * c_in * 9
      c_in = c
    return total
  c = [int(round(64 * encoder_config.width * m)) for m in (1, 2, 4, 8)]
  s = (s + 1) // 2
  total += s * s * c[0] * 3 * 49
  s = (s + 1) // 2
  c_in = c[0]
  for i, ch in enumerate(c):
    for j in range(2):
      stride = 2 if (i > 0 and j == 0) else 1
      s = (s + stride - 1) // stride
      total += s * s * ch * c_in * 9 + s * s * ch * ch * 9
      if c_in != ch:
        total += s * s * ch * c_in
      c_in = ch
  return total
