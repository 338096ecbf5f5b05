r"""dlib's face recognition ResNet as a frozen, differentiable Keras network: face features and embeddings.

The network is ``anet_type`` of dlib's ``dnn_face_recognition_ex.cpp`` (29 convolutions, 5.6M weights,
99.38% on LFW), with the weights of ``dlib_face_recognition_resnet_model_v1.dat`` from the pip package
``face_recognition_models`` (public domain / CC0, by Davis King), read by ``model.dlib_weights`` (no dlib
needed, nothing downloads). Layer by layer:

* input: RGB chip of 150 x 150 px; dlib's ``input_rgb_image_sized<150>`` maps a 0..255 value v of channel c
  to ``(v - mean_c) / 256`` (means stored in the file: 122.782, 117.001, 104.298).
* stem: conv 7x7/2 (32) + affine + relu + max pool 3x3/2 -> 35 x 35 x 32.
* residual levels of 32, 64, 128, 256 filters: 3, 4, 3, 4 blocks (the last two dlib groups, ``alevel1`` and
  ``alevel0``, both have 256 filters and form the 256 level here). A block is
  ``relu(shortcut + affine(conv3x3(relu(affine(conv3x3/s(x))))))``; the first block of the 64, 128 and 256
  levels (and dlib's ``alevel0``) has s = 2 and a 2x2/2 average-pooled shortcut.
* dlib's size rules, reproduced exactly: padding k//2 for stride 1 and none for stride 2; the output side is
  ``1 + (n + 2p - k) / s`` with C integer division (taps outside the input count as zero). Adding tensors
  of different sizes pads the smaller one with zeros at the bottom, the right and in the missing channels:
  in the first 256 block the residual branch is 3 x 3 x 256 and the pooled shortcut 4 x 4 x 128, in the
  last one 1 x 1 x 256 and 2 x 2 x 256. Map sides: 150 -> 72 -> 35 (stem, level 32) -> 17 (64) -> 8 (128)
  -> 4 -> 2 (256).
* global average pool, fully connected 256 -> 128 without bias: the descriptor (not normalised; dlib
  calls two faces the same person when the Euclidean distance is below ``SAME_PERSON_DISTANCE`` = 0.6).

API (images are float32 RGB in [0, 1], batch first, as everywhere in the project):

* ``net = FaceFeatureNet()`` (a ``keras.Model``; all weights frozen, ``trainable = False``) and
  ``net(chips)`` -> ``{'descriptor': [B, 128], 'features': (stem, level32, level64, level128, level256)}``
  with feature shapes [B, 35, 35, 32], [B, 35, 35, 32], [B, 17, 17, 64], [B, 8, 8, 128], [B, 2, 2, 256].
  ``net.descriptors(chips)`` and ``net.feature_maps(chips)`` return one of the two; chips [B, 150, 150, 3].
* Alignment (differentiable in the image and the landmarks): ``face_chip_transforms(landmarks)`` is dlib's
  ``get_face_chip_details(det, 150, 0.25)`` from 68 or 5 landmarks (pixel coordinates, x right, y down,
  pixel centres at integers) as [B, 2, 3] affine maps from chip to image pixels; ``extract_chips(images,
  transforms)`` resamples bilinearly (dlib's ``interpolate_bilinear``: a chip pixel whose 2x2 neighbourhood
  leaves the image is 0); ``align_faces(images, landmarks)`` does both. dlib itself first shrinks the image
  with its 2x image pyramid when the face is more than ~2x larger than the chip (faces wider than about 200
  px) and works in 8 bits: ``align_faces(..., emulate_dlib=True)`` (``extract_dlib_chips``, eager only)
  reproduces that exactly (chips equal to ``dlib.get_face_chip`` up to 1/255 on < 0.5% of values).
* The perceptual loss (Eq. 9, owned by ``training.losses``) compares ``feature_maps`` of the input and
  the rendered chips level by level (l = 0..4: stem and the four levels) by cosine distance
  (``cosine_feature_distance(maps_a, maps_b)`` -> [B] is that sum).
  ``load_perceptual_net('dlib')`` gives this network; ``load_perceptual_net('vgg16:PATH')`` a user's Keras
  VGG16 ImageNet ``.h5`` (the paper's choice; features block1_conv2 .. block5_conv3; nothing downloads).
* The LFW verification metric (``eval.lfw``) embeds renders with ``descriptors(align_faces(...))``.

Check against dlib itself: detects faces with dlib, compares dlib's descriptor and ours from the same chip
(and ours from our own ``emulate_dlib`` alignment with dlib's whole pipeline); the last line is
``min cosine vs dlib: X``::

    python -m model.face_features --compare_dlib ../shared/media/photos/*.jpg ../shared/media/video/*.mp4
"""

from __future__ import annotations

from common import cli  # pylint: disable=g-bad-import-order  (first: quiets TensorFlow's C++ logs)

import dataclasses
import pathlib
from typing import Sequence

from absl import flags
import keras
import numpy as np
import tensorflow as tf

from model import dlib_weights

CHIP_SIZE = dlib_weights.CHIP_SIZE  # 150 px
CHIP_PADDING = 0.25  # dlib's default padding for face descriptors
DESCRIPTOR_SIZE = dlib_weights.DESCRIPTOR_SIZE  # 128
SAME_PERSON_DISTANCE = dlib_weights.SAME_PERSON_DISTANCE
LEVELS = ('stem', 'level32', 'level64', 'level128', 'level256')

# dlib's mean face (get_face_chip_details): positions of the 68-point landmarks 17..67 in the unit square.
_MEAN_FACE_X = (
    0.000213256, 0.0752622, 0.18113, 0.29077, 0.393397, 0.586856, 0.689483, 0.799124, 0.904991, 0.98004,
    0.490127, 0.490127, 0.490127, 0.490127, 0.36688, 0.426036, 0.490127, 0.554217, 0.613373, 0.121737,
    0.187122, 0.265825, 0.334606, 0.260918, 0.182743, 0.645647, 0.714428, 0.793132, 0.858516, 0.79751,
    0.719335, 0.254149, 0.340985, 0.428858, 0.490127, 0.551395, 0.639268, 0.726104, 0.642159, 0.556721,
    0.490127, 0.423532, 0.338094, 0.290379, 0.428096, 0.490127, 0.552157, 0.689874, 0.553364, 0.490127,
    0.42689)
_MEAN_FACE_Y = (
    0.106454, 0.038915, 0.0187482, 0.0344891, 0.0773906, 0.0773906, 0.0344891, 0.0187482, 0.038915,
    0.106454, 0.203352, 0.307009, 0.409805, 0.515625, 0.587326, 0.609345, 0.628106, 0.609345, 0.587326,
    0.216423, 0.178758, 0.179852, 0.231733, 0.245099, 0.244077, 0.231733, 0.179852, 0.178758, 0.216423,
    0.244077, 0.245099, 0.780233, 0.745405, 0.727388, 0.742578, 0.727388, 0.745405, 0.780233, 0.864805,
    0.902192, 0.909281, 0.902192, 0.864805, 0.784792, 0.778746, 0.785343, 0.778746, 0.784792, 0.824182,
    0.831803, 0.824182)
# The 5-point model's landmarks (outer/inner corners of both eyes, nose base) in the unit square.
_MEAN_FACE_5 = ((0.8595674595992, 0.2134981538014), (0.6460604764104, 0.2289674387677),
                (0.1205750620789, 0.2137274526848), (0.3340850613712, 0.2290642403242),
                (0.4901123135679, 0.6277975316475))


# ------------------------------------------------------------------------------------------ alignment


def chip_template(num_landmarks: int, size: int = CHIP_SIZE,
                  padding: float = CHIP_PADDING) -> tuple[np.ndarray, np.ndarray]:
  """Which landmarks dlib aligns and where they go in the chip.

  Returns:
    (indices [K] int, points [K, 2] float64 chip pixels): for 68 landmarks the 33 points 27..54 and
    60..64 (dlib skips the jaw, the brows and the lower lip), for 5 landmarks all five.
  """
  if num_landmarks == 68:
    idx = np.array([i for i in range(17, 68) if not (17 <= i <= 26 or 55 <= i <= 59 or 65 <= i <= 67)])
    unit = np.stack([np.asarray(_MEAN_FACE_X)[idx - 17], np.asarray(_MEAN_FACE_Y)[idx - 17]], -1)
  elif num_landmarks == 5:
    idx = np.arange(5)
    unit = np.asarray(_MEAN_FACE_5)
  else:
    raise ValueError(f'dlib aligns faces from 68 or 5 landmarks; got {num_landmarks}.')
  return idx, (padding + unit) / (2.0 * padding + 1.0) * size


def face_chip_transforms(landmarks, size: int = CHIP_SIZE, padding: float = CHIP_PADDING) -> tf.Tensor:
  """dlib's ``get_face_chip_details`` as affine maps from chip pixels to image pixels.

  The least-squares similarity ``image = s R chip + t`` from the template points to the landmarks gives the
  rotation and the scale s; like dlib, the chip then spans ``size * s - 1`` image pixels between the
  centres of its first and last pixel, centred on ``s R (size/2, size/2) + t``:
  ``image = c + (size s - 1) / (size - 1) R (chip - (size - 1) / 2)``.

  Args:
    landmarks: [B, 68, 2] or [B, 5, 2] (x, y) image pixels (pixel centres at integers).
    size: chip side, pixels.
    padding: dlib's padding (fraction of the template's extent added on each side).

  Returns:
    [B, 2, 3] (float64 for float64 landmarks, else float32): ``[x_img, y_img] = A @ [x_chip, y_chip, 1]``.

  Raises:
    ValueError: a wrong shape; InvalidArgumentError: non-finite or degenerate (coincident) landmarks.
  """
  landmarks = tf.convert_to_tensor(landmarks)
  out_dtype = landmarks.dtype if landmarks.dtype == tf.float64 else tf.float32
  if landmarks.shape.rank != 3 or landmarks.shape[-1] != 2:
    raise ValueError(f'landmarks must be [B, 68 or 5, 2] (x, y pixels); got shape {landmarks.shape}.')
  idx, template = chip_template(landmarks.shape[1], size, padding)
  b = tf.gather(tf.cast(landmarks, tf.float64), idx, axis=1)  # [B, K, 2] image
  b = tf.debugging.assert_all_finite(b, 'face landmarks must be finite')
  a = tf.constant(template, tf.float64)[None]  # [1, K, 2] chip
  a_mean, b_mean = tf.reduce_mean(a, 1, keepdims=True), tf.reduce_mean(b, 1, keepdims=True)
  ac, bc = a - a_mean, b - b_mean
  norm = tf.reduce_sum(tf.square(ac), [1, 2])  # > 0: the template points are distinct
  sc = tf.reduce_sum(ac[..., 0] * bc[..., 0] + ac[..., 1] * bc[..., 1], 1) / norm  # s cos
  ss = tf.reduce_sum(ac[..., 0] * bc[..., 1] - ac[..., 1] * bc[..., 0], 1) / norm  # s sin
  rot = tf.stack([tf.stack([sc, -ss], -1), tf.stack([ss, sc], -1)], -2)  # [B, 2, 2] = s R
  t = b_mean[:, 0] - tf.einsum('bij,bj->bi', rot, tf.broadcast_to(a_mean[:, 0], tf.shape(b_mean[:, 0])))
  centre = tf.einsum('bij,j->bi', rot, tf.constant([size / 2.0, size / 2.0], tf.float64)) + t
  scale = tf.sqrt(sc * sc + ss * ss)
  tf.debugging.assert_greater(scale, tf.constant(1e-9, tf.float64),
                              'face landmarks are degenerate (all at one point): no chip transform')
  lin = rot * ((size * scale - 1.0) / ((size - 1.0) * scale))[:, None, None]
  offset = centre - tf.einsum('bij,j->bi', lin, tf.constant([(size - 1) / 2.0] * 2, tf.float64))
  return tf.cast(tf.concat([lin, offset[..., None]], -1), out_dtype)


def extract_chips(images, transforms, size: int = CHIP_SIZE) -> tf.Tensor:
  """Bilinear resampling of ``images`` at the chip pixels' image positions (differentiable in both).

  Args:
    images: float [B, H, W, C] (float64 stays float64; integers become float32).
    transforms: [B, 2, 3] chip-to-image affine maps (``face_chip_transforms``).
    size: chip side, pixels.

  Returns:
    [B, size, size, C] of the images' dtype; a pixel whose 2x2 neighbourhood is not inside the image is 0
    (as in dlib).
  """
  images = tf.convert_to_tensor(images)
  if not images.dtype.is_floating:
    images = tf.cast(images, tf.float32)
  transforms = tf.cast(tf.convert_to_tensor(transforms), images.dtype)
  if images.shape.rank != 4:
    raise ValueError(f'images must be [B, H, W, C]; got shape {images.shape}.')
  if transforms.shape.rank != 3 or tuple(transforms.shape[1:]) != (2, 3):
    raise ValueError(f'transforms must be [B, 2, 3]; got shape {transforms.shape}.')
  h, w = tf.shape(images)[1], tf.shape(images)[2]
  g = tf.range(size, dtype=images.dtype)
  gy, gx = tf.meshgrid(g, g, indexing='ij')
  grid = tf.stack([gx, gy, tf.ones_like(gx)], -1)  # [S, S, 3]
  pos = tf.einsum('bij,yxj->byxi', transforms, grid)  # [B, S, S, 2] image (x, y)
  x0f, y0f = tf.floor(pos[..., 0]), tf.floor(pos[..., 1])
  fx, fy = pos[..., 0] - x0f, pos[..., 1] - y0f
  x0, y0 = tf.cast(x0f, tf.int32), tf.cast(y0f, tf.int32)
  inside = (x0 >= 0) & (y0 >= 0) & (x0 + 1 < w) & (y0 + 1 < h)
  x0c, y0c = tf.clip_by_value(x0, 0, w - 2), tf.clip_by_value(y0, 0, h - 2)
  batch = tf.broadcast_to(tf.range(tf.shape(images)[0])[:, None, None], tf.shape(x0))

  def tap(dy, dx):
    return tf.gather_nd(images, tf.stack([batch, y0c + dy, x0c + dx], -1))

  fx, fy = fx[..., None], fy[..., None]
  out = ((1 - fy) * ((1 - fx) * tap(0, 0) + fx * tap(0, 1)) + fy * ((1 - fx) * tap(1, 0) + fx * tap(1, 1)))
  return out * tf.cast(inside, images.dtype)[..., None]


def align_faces(images, landmarks, size: int = CHIP_SIZE, padding: float = CHIP_PADDING,
                emulate_dlib: bool = False) -> tf.Tensor:
  """Face chips as dlib cuts them for its descriptor: [B, H, W, 3], [B, 68|5, 2] -> [B, size, size, 3].

  Args:
    images: float [B, H, W, 3] in [0, 1].
    landmarks: [B, 68 or 5, 2] pixels.
    size, padding: dlib's chip size and padding.
    emulate_dlib: reproduce ``dlib.get_face_chip`` exactly (``extract_dlib_chips``: image pyramid for large
      faces, 8-bit arithmetic; eager mode only, gradients reach the image but not the landmarks). Default:
      plain bilinear resampling, differentiable everywhere and usable in ``tf.function``.
  """
  transforms = face_chip_transforms(landmarks, size, padding)
  if emulate_dlib:
    return extract_dlib_chips(images, transforms, size)
  return extract_chips(images, transforms, size)


# dlib's pyramid_down<2>: separable [1 4 6 4 1] filter, every second pixel, integer sum / 256 (truncated);
# its point mapping from a level to the next is p / 2 - (1.25, 0.75).
_PYRAMID_TAPS = np.array([1.0, 4.0, 6.0, 4.0, 1.0])
_PYRAMID_SHIFT = np.array([1.25, 0.75])


def _floor_st(x: tf.Tensor) -> tf.Tensor:
  """floor(x) with a straight-through gradient (dlib's integer truncations, differentiable)."""
  return x + tf.stop_gradient(tf.floor(x + 1e-3) - x)


def _pyramid_down(image255: tf.Tensor) -> tf.Tensor:
  """One level of dlib's pyramid_down<2> of [H, W, C] 8-bit values (as floats): [(H-3)//2, (W-3)//2, C]."""
  c = image255.shape[-1]
  kernel = tf.constant(np.outer(_PYRAMID_TAPS, _PYRAMID_TAPS)[:, :, None, None] / 256.0, image255.dtype)
  x = tf.transpose(image255, [2, 0, 1])[..., None]  # channels as batch
  y = tf.nn.conv2d(x, kernel, 2, 'VALID')[..., 0]
  return _floor_st(tf.transpose(y, [1, 2, 0])[..., :c])


def _rect_down(rect: np.ndarray) -> np.ndarray:
  """dlib's rect_down of (left, top, right, bottom)."""
  return np.concatenate([rect[:2] / 2.0 - _PYRAMID_SHIFT, rect[2:] / 2.0 - _PYRAMID_SHIFT])


def _rect_area(rect: np.ndarray) -> float:
  """dlib's drectangle area: (right - left + 1) * (bottom - top + 1), 0 when empty."""
  w, h = rect[2] - rect[0] + 1.0, rect[3] - rect[1] + 1.0
  return 0.0 if w <= 0 or h <= 0 else float(w * h)


def extract_dlib_chips(images, transforms, size: int = CHIP_SIZE) -> tf.Tensor:
  """``dlib.extract_image_chips`` exactly: pyramid levels for large faces, 8-bit truncations.

  Per face (eager mode): the chip rectangle of the transform; as many pyramid_down<2> levels of the image
  region around it as keep the rectangle's area above size^2; bilinear sampling of that level (8-bit
  truncated). Values stay in [0, 1]; the input is first rounded to 8 bits. Gradients reach the image
  (straight-through through the truncations); the transforms are treated as constants.

  Args:
    images: float [B, H, W, 3] in [0, 1].
    transforms: [B, 2, 3] from ``face_chip_transforms``.
    size: chip side, pixels.
  """
  if not tf.executing_eagerly():
    raise RuntimeError('extract_dlib_chips runs eagerly only (per-face pyramid depths); use extract_chips '
                       'inside tf.function.')
  images = tf.convert_to_tensor(images)
  images = tf.cast(images, tf.float32) if not images.dtype.is_floating else images
  transforms = np.asarray(transforms, np.float64)
  if images.shape.rank != 4 or transforms.shape != (images.shape[0], 2, 3):
    raise ValueError(f'need images [B, H, W, C] and transforms [B, 2, 3]; got {images.shape} and '
                     f'{transforms.shape}.')
  h, w = images.shape[1], images.shape[2]
  chips = []
  for i in range(images.shape[0]):
    a = transforms[i]
    lin = a[:, :2]
    centre = a @ [(size - 1) / 2.0, (size - 1) / 2.0, 1.0]
    span = np.hypot(lin[0, 0], lin[1, 0]) * (size - 1)  # right - left of dlib's chip rectangle
    angle = np.arctan2(lin[1, 0], lin[0, 0])
    rect = np.concatenate([centre - span / 2.0, centre + span / 2.0])
    # depth and the integer bounding box of the rotated rectangle, grown by dlib's border
    depth, grow, r = 0, 2.0, _rect_down(rect)
    while _rect_area(r) > size * size:
      r, depth, grow = _rect_down(r), depth + 1, grow * 2 + 2
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    corners = np.array([[rect[0], rect[1]], [rect[2], rect[1]], [rect[0], rect[3]], [rect[2], rect[3]]])
    corners = (corners - centre) @ rot.T + centre
    lo = np.maximum(corners.min(0) - grow, 0.0)
    hi = np.minimum(corners.max(0) + grow, [w - 1.0, h - 1.0])
    if np.any(hi < lo):  # the face is outside the image: dlib's chip is black
      chips.append(tf.zeros([size, size, images.shape[-1]], images.dtype))
      continue
    x0, y0 = [int(np.round(v)) for v in lo]  # dlib: lround
    x1, y1 = [int(np.round(v)) for v in hi]
    level_image = images[i, y0:y1 + 1, x0:x1 + 1] * 255.0
    level_image = level_image + tf.stop_gradient(tf.round(level_image) - level_image)  # 8-bit input
    r = rect - np.array([x0, y0, x0, y0], np.float64)
    for _ in range(depth):
      level_image, r = _pyramid_down(level_image), _rect_down(r)
    # chip corners -> the level rectangle's rotated corners (dlib's transform in the level's pixels)
    c = (r[:2] + r[2:]) / 2.0
    k = (r[2] - r[0]) / (size - 1.0), (r[3] - r[1]) / (size - 1.0)
    lin = rot * np.array(k)[None, :]
    offset = c - lin @ [(size - 1) / 2.0, (size - 1) / 2.0]
    level_transform = np.concatenate([lin, offset[:, None]], 1)[None]
    chip = extract_chips(level_image[None], level_transform, size)[0]
    chips.append(_floor_st(chip) / 255.0)
  return tf.stack(chips)


# ------------------------------------------------------------------------------------------ network


def _dlib_side(n: int, k: int, stride: int, pad: int) -> int:
  """dlib's output side ``1 + (n + 2 pad - k) / stride`` with C's truncating division."""
  num = n + 2 * pad - k
  return 1 + (abs(num) // stride) * (1 if num >= 0 else -1)


def _pad_for(n: int, k: int, stride: int, pad: int) -> tuple[int, int, int]:
  """(pad before, pad after, output side) that make a VALID window op reproduce dlib's output."""
  out = _dlib_side(n, k, stride, pad)
  if out < 1:
    raise ValueError(f'input side {n} too small for a {k}x{k}/{stride} window')
  return pad, max(0, (out - 1) * stride + k - n - pad), out


def _add_dlib(a: tf.Tensor, b: tf.Tensor) -> tf.Tensor:
  """dlib's ``add_prev``: tensors of different sizes add with missing rows/columns/channels as zeros."""
  size = [max(a.shape[i], b.shape[i]) for i in (1, 2, 3)]

  def grow(x):
    if list(x.shape[1:]) == size:
      return x
    return tf.pad(x, [[0, 0]] + [[0, s - x.shape[i + 1]] for i, s in enumerate(size)])

  return grow(a) + grow(b)


def check_images(images, name: str = 'chips', size: int | None = CHIP_SIZE) -> tf.Tensor:
  """Float [B, H, W, 3] with B > 0 (and H = W = size when given); clear ValueError otherwise."""
  images = tf.convert_to_tensor(images)
  if not images.dtype.is_floating:
    raise ValueError(f'{name} must be float RGB in [0, 1]; got dtype {images.dtype.name} '
                     '(divide 8-bit images by 255).')
  shape = images.shape
  if shape.rank != 4:
    raise ValueError(f'{name} must be a batch [B, H, W, 3]; got rank {shape.rank} (shape {shape}).')
  if shape[-1] != 3:
    raise ValueError(f'{name} must have 3 channels (RGB); got {shape[-1]} (shape {shape}).')
  if shape[0] == 0:
    raise ValueError(f'{name} is an empty batch (shape {shape}); need at least one image.')
  if size is not None and tuple(shape[1:3]) != (size, size):
    raise ValueError(f'{name} must be {size} x {size} face chips (align_faces makes them); got '
                     f'{shape[1]} x {shape[2]}.')
  return images


class FaceFeatureNet(keras.Model):
  """dlib's face recognition ResNet (frozen). Call on chips [B, 150, 150, 3] in [0, 1].

  Returns ``{'descriptor': [B, 128], 'features': tuple of the five maps of LEVELS}``.
  """

  def __init__(self, weights: dict[str, np.ndarray] | None = None, path: str | pathlib.Path | None = None,
               dtype: str = 'float32', **kwargs):
    """Builds the network.

    Args:
      weights: converted weights (``dlib_weights.load_weights``); default: load them (from the cache).
      path: a ``.dat`` to convert instead of the packaged one.
      dtype: 'float32' (dlib's precision) or 'float64' (for finite-difference checks).
    """
    if dtype not in ('float32', 'float64'):
      raise ValueError(f"dtype must be 'float32' or 'float64'; got {dtype!r}.")
    super().__init__(dtype=dtype, **kwargs)
    self._dtype_name = dtype
    w = weights if weights is not None else dlib_weights.load_weights(path)
    self._blocks = dlib_weights.residual_blocks()
    # The last block of each level (32, 64, 128, 256 filters) gives a feature map: blocks 2, 6, 9, 13.
    self._level_ends = {i for i, b in enumerate(self._blocks)
                        if i + 1 == len(self._blocks) or self._blocks[i + 1].filters != b.filters}
    self._w = {}
    # Fold each affine layer into the convolution before it: (x * K + b) g + beta = x * (K g) + (b g + beta).
    mean = np.asarray(w['input/mean'], np.float32)
    self._w['input_mean'] = self._const('input_mean', mean)
    self._fold('stem', w, 'stem/conv', 'stem/affine')
    for i in range(len(self._blocks)):
      for j in (1, 2):
        self._fold(f'res{i}_{j}', w, f'res{i}/conv{j}', f'res{i}/affine{j}')
    self._w['fc'] = self._const('fc', w['fc/kernel'])
    self.trainable = False

  def _const(self, name: str, value: np.ndarray):
    value = np.asarray(value, np.float32)
    return self.add_weight(name=name, shape=value.shape, trainable=False, dtype=self._dtype_name,
                           initializer=keras.initializers.Constant(value))

  def _fold(self, name: str, w: dict, conv: str, affine: str) -> None:
    gamma, beta = w[f'{affine}/gamma'], w[f'{affine}/beta']
    self._w[f'{name}_k'] = self._const(f'{name}_kernel', w[f'{conv}/kernel'] * gamma)
    self._w[f'{name}_b'] = self._const(f'{name}_bias', w[f'{conv}/bias'] * gamma + beta)

  def _conv(self, x: tf.Tensor, name: str, stride: int) -> tf.Tensor:
    kernel = self._w[f'{name}_k']
    k = kernel.shape[0]
    pad = 0 if stride != 1 else k // 2
    (ph0, ph1, oh), (pw0, pw1, ow) = (_pad_for(x.shape[1], k, stride, pad),
                                      _pad_for(x.shape[2], k, stride, pad))
    if ph0 or ph1 or pw0 or pw1:
      x = tf.pad(x, [[0, 0], [ph0, ph1], [pw0, pw1], [0, 0]])
    y = tf.nn.conv2d(x, kernel, stride, 'VALID') + self._w[f'{name}_b']
    return y[:, :oh, :ow]

  @staticmethod
  def _pool(x: tf.Tensor, op, k: int, stride: int) -> tf.Tensor:
    (_, ph1, oh), (_, pw1, ow) = _pad_for(x.shape[1], k, stride, 0), _pad_for(x.shape[2], k, stride, 0)
    if ph1 or pw1:  # never at 150 px: every window of dlib's pools lies inside its input
      raise ValueError(f'pool window leaves a {x.shape[1]}x{x.shape[2]} input')
    return op(x, k, stride, 'VALID')[:, :oh, :ow]

  def call(self, chips, training=None):  # pylint: disable=unused-argument
    x = tf.cast(check_images(chips), self._dtype_name)
    x = (x * 255.0 - self._w['input_mean']) / 256.0
    x = tf.nn.relu(self._conv(x, 'stem', 2))
    x = self._pool(x, tf.nn.max_pool2d, 3, 2)
    features = [x]
    for i, block in enumerate(self._blocks):
      y = tf.nn.relu(self._conv(x, f'res{i}_1', block.stride))
      y = self._conv(y, f'res{i}_2', 1)
      shortcut = x if block.stride == 1 else self._pool(x, tf.nn.avg_pool2d, 2, 2)
      x = tf.nn.relu(_add_dlib(y, shortcut))
      if i in self._level_ends:
        features.append(x)
    descriptor = tf.matmul(tf.reduce_mean(x, [1, 2]), self._w['fc'])
    return {'descriptor': descriptor, 'features': tuple(features)}

  def descriptors(self, chips) -> tf.Tensor:
    """128-D dlib descriptors [B, 128] of chips [B, 150, 150, 3] in [0, 1]."""
    return self(chips)['descriptor']

  def feature_maps(self, chips) -> tuple[tf.Tensor, ...]:
    """The five maps of ``LEVELS`` (see the module docstring for their shapes)."""
    return self(chips)['features']


def cosine_feature_distance(maps_a: Sequence[tf.Tensor], maps_b: Sequence[tf.Tensor],
                            eps: float = 1e-6) -> tf.Tensor:
  """Eq. 9's feature term: sum_l mean_{pixels p} (1 - <f_l(a)_p, f_l(b)_p> / (|f_l(a)_p| |f_l(b)_p| + eps)).

  Args:
    maps_a, maps_b: the same number of feature maps [B, H_l, W_l, C_l] (``feature_maps`` of two batches).
    eps: keeps the cosine finite where a feature vector is zero (ReLU).

  Returns:
    [B] the distance per sample (0 for identical features; at most 2 per level).
  """
  if len(maps_a) != len(maps_b):
    raise ValueError(f'need the same number of feature maps; got {len(maps_a)} and {len(maps_b)}.')
  terms = []
  for a, b in zip(maps_a, maps_b):
    cos = tf.reduce_sum(a * b, -1) / (tf.norm(a, axis=-1) * tf.norm(b, axis=-1) + eps)
    terms.append(tf.reduce_mean(1.0 - cos, [1, 2]))
  return tf.add_n(terms)


# ------------------------------------------------------------------------------------------ VGG16 option


VGG16_LAYERS = ('block1_conv2', 'block2_conv2', 'block3_conv3', 'block4_conv3', 'block5_conv3')
_VGG_BGR_MEAN = (103.939, 116.779, 123.68)  # Keras' 'caffe' preprocessing of ImageNet VGG16


class VGG16Features:
  """A user's Keras VGG16 ImageNet weights (``.h5``), for the paper's original perceptual loss."""

  def __init__(self, path: str | pathlib.Path):
    path = pathlib.Path(path).expanduser()
    if not path.is_file():
      raise FileNotFoundError(
          f'VGG16 weights not found at {path}: give the path of Keras\' VGG16 ImageNet weights '
          '(vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5); nothing is downloaded.')
    base = keras.applications.VGG16(include_top=False, weights=None, input_shape=(None, None, 3))
    try:
      base.load_weights(str(path))
    except Exception as e:  # pylint: disable=broad-except  (h5py/keras raise many types)
      raise ValueError(f'{path} is not a Keras VGG16 (no top) weights file: {e}') from e
    base.trainable = False
    self.model = keras.Model(base.input, [base.get_layer(n).output for n in VGG16_LAYERS])

  def feature_maps(self, images) -> tuple[tf.Tensor, ...]:
    """Five feature maps of images [B, H, W, 3] in [0, 1] (any size >= 32)."""
    x = check_images(images, 'images', size=None)
    x = x[..., ::-1] * 255.0 - tf.constant(_VGG_BGR_MEAN, tf.float32)
    return tuple(self.model(x))


def load_perceptual_net(spec: str = 'dlib'):
  """``'dlib'`` -> FaceFeatureNet (chips of 150 px); ``'vgg16:PATH'`` -> VGG16Features of a local ``.h5``.

  Both have ``feature_maps(images) -> five maps`` (l = 0..4 of Eq. 9).
  """
  if spec == 'dlib':
    return FaceFeatureNet()
  if spec.startswith('vgg16:'):
    return VGG16Features(spec[len('vgg16:'):])
  raise ValueError(f"perceptual net must be 'dlib' or 'vgg16:PATH'; got {spec!r}.")


# ------------------------------------------------------------------------------------------ CLI: compare


FLAGS = flags.FLAGS


def _define_flags() -> None:
  """CLI flags, defined only when run as a program (the module is imported by training and eval)."""
  flags.DEFINE_list('compare_dlib', [], 'Images/videos: compare dlib\'s descriptors with ours on every face.')
  flags.DEFINE_integer('video_frames', 4, 'Frames taken from each video (evenly spaced).')
  flags.DEFINE_integer('upsample', 1, 'dlib detector upsampling (1 finds faces down to ~40 px).')


@dataclasses.dataclass(frozen=True)
class Comparison:
  """One face: dlib's descriptor and ours from dlib's chip, and ours from our own alignment."""
  source: str
  face: int
  box_width: int
  cosine: float  # ours vs dlib, same chip
  l2: float
  cosine_aligned: float  # ours with our TF alignment (emulate_dlib) vs dlib's full pipeline


def _dlib_models():
  import dlib  # pylint: disable=import-outside-toplevel
  base = dlib_weights.default_model_path().parent
  return (dlib, dlib.get_frontal_face_detector(),
          dlib.shape_predictor(str(base / 'shape_predictor_68_face_landmarks.dat')),
          dlib.face_recognition_model_v1(str(base / dlib_weights.MODEL_FILE)))


def read_frames(path: str | pathlib.Path, video_frames: int = 4) -> list[tuple[str, np.ndarray]]:
  """(name, uint8 RGB [H, W, 3]) of an image, or of ``video_frames`` evenly spaced frames of a video."""
  path = pathlib.Path(path)
  if path.suffix.lower() in ('.mp4', '.avi', '.mov', '.mkv', '.webm'):
    import av  # pylint: disable=import-outside-toplevel
    with av.open(str(path)) as container:  # count the frames (packets) first: keep only the picked ones
      count = sum(1 for p in container.demux(video=0) if p.size)
    if not count:
      raise ValueError(f'{path}: no video frames')
    picks = set(np.linspace(0, count - 1, max(1, video_frames)).round().astype(int).tolist())
    out = []
    with av.open(str(path)) as container:
      for i, frame in enumerate(container.decode(video=0)):
        if i in picks:
          out.append((f'{path.name}#{i}', frame.to_ndarray(format='rgb24')))
        if i >= max(picks):
          break
    return out
  from PIL import Image  # pylint: disable=import-outside-toplevel
  with Image.open(path) as im:
    return [(path.name, np.asarray(im.convert('RGB')))]


def compare_with_dlib(frames: Sequence[tuple[str, np.ndarray]], net: FaceFeatureNet | None = None,
                      upsample: int = 1) -> list[Comparison]:
  """Detects faces with dlib and compares dlib's descriptors with ours (see ``Comparison``)."""
  dlib, detector, predictor, recognizer = _dlib_models()
  net = net or FaceFeatureNet()
  rows = []
  for name, image in frames:
    image = np.ascontiguousarray(image)
    for i, rect in enumerate(detector(image, upsample)):
      shape = predictor(image, rect)
      chip = np.asarray(dlib.get_face_chip(image, shape, CHIP_SIZE, CHIP_PADDING))
      theirs = np.asarray(recognizer.compute_face_descriptor(chip), np.float64)
      theirs_full = np.asarray(recognizer.compute_face_descriptor(image, shape), np.float64)
      landmarks = np.array([[(p.x, p.y) for p in shape.parts()]], np.float32)
      ours = net.descriptors(chip[None].astype(np.float32) / 255.0).numpy()[0].astype(np.float64)
      ours_aligned = net.descriptors(align_faces(image[None].astype(np.float32) / 255.0, landmarks,
                                                 emulate_dlib=True))
      ours_aligned = ours_aligned.numpy()[0].astype(np.float64)
      rows.append(Comparison(name, i, rect.width(), _cosine(ours, theirs),
                             float(np.linalg.norm(ours - theirs)), _cosine(ours_aligned, theirs_full)))
  return rows


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
  return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def main(argv) -> None:
  paths = list(FLAGS.compare_dlib) + list(argv[1:])
  if not paths:
    raise SystemExit('usage: python -m model.face_features --compare_dlib IMAGE_OR_VIDEO [...]')
  import tqdm  # pylint: disable=import-outside-toplevel
  net = FaceFeatureNet()
  rows = []
  for p in tqdm.tqdm(paths, desc='files'):
    rows += compare_with_dlib(read_frames(p, FLAGS.video_frames), net, FLAGS.upsample)
  print(f'{"source":<44} {"face":>4} {"box px":>6} {"cos(same chip)":>14} {"L2":>8} {"cos(our align)":>14}')
  for r in rows:
    print(f'{r.source[-44:]:<44} {r.face:>4} {r.box_width:>6} {r.cosine:>14.6f} {r.l2:>8.5f} '
          f'{r.cosine_aligned:>14.6f}')
  if not rows:
    print('no faces found')
    return
  print(f'faces: {len(rows)}; max L2 vs dlib (same chip): {max(r.l2 for r in rows):.2e}; max 1 - cosine: '
        f'{max(1.0 - r.cosine for r in rows):.2e}; min cosine with our alignment (emulate_dlib) vs dlib\'s '
        f'whole pipeline: {min(r.cosine_aligned for r in rows):.7f}')
  print(f'min cosine vs dlib: {min(r.cosine for r in rows):.7f}')


if __name__ == '__main__':
  _define_flags()
  cli.run(main)
