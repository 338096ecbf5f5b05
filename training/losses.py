r"""The training objective (paper Eq. 5), one function per term.

    L = L_land + lambda_seg L_seg + lambda_pho L_pho + lambda_per L_per + lambda_smo L_smo + lambda_dis L_dis
        (+ lambda_mean L_land(mean mesh) + lambda_coef L_coef, see below)

Every function returns one value per sample, shape [B], so that the training step can average over the
global batch (``tf.distribute``: each replica sums its samples and divides by the global batch size).
The paper writes the data terms as sums over frames, landmarks and pixels; here each sum over frames,
points or pixels is a MEAN (written in every docstring), which only rescales the weights lambda but makes
them independent of N_f, the image size and the number of contour points.

Shapes are checked on entry (a wrong rank or last dimension raises ``ValueError`` naming the argument).
Units: pixels for 2D positions (x right, y down), cm for geometry, [0, 1] for colours.
"""

from __future__ import annotations

import typing

import tensorflow as tf

import tf_ops
from model import face_model
from model import semantics

LANDMARKS66 = tf.constant(semantics.LANDMARKS66, tf.int32)


def _check(name: str, x, rank: int, last: typing.Optional[typing.Sequence[typing.Optional[int]]] = None):
  x = tf.convert_to_tensor(x)
  if x.shape.rank != rank:
    raise ValueError(f'{name}: expected rank {rank}, got shape {x.shape}')
  if last is not None:
    tail = list(x.shape[rank - len(last):])
    for want, got in zip(last, tail):
      if want is not None and got is not None and want != got:
        raise ValueError(f'{name}: expected trailing dimensions {list(last)}, got shape {x.shape}')
  return x


def _same_leading(a_name, a, b_name, b, dims: int):
  if a.shape[:dims].is_fully_defined() and b.shape[:dims].is_fully_defined():
    if a.shape[:dims] != b.shape[:dims]:
      raise ValueError(f'{a_name} {a.shape} and {b_name} {b.shape} disagree in the first {dims} dimensions')


# ------------------------------------------------------------------------------------------------ Eq. 6


def landmark_loss(predicted: tf.Tensor, target: tf.Tensor,
                  indices: typing.Optional[tf.Tensor] = LANDMARKS66) -> tf.Tensor:
  r"""Landmark consistency (Eq. 6), per sample.

      L_land = mean_{i < N_f} mean_{k in K} || l_{i,k} - p(v_k) ||^2          [px^2]

  K = the 66 landmarks of the paper (``model.semantics.LANDMARKS66``: the 68-point set without the inner
  mouth corners 60 and 64). The jaw landmarks 0-16 of ``predicted`` are already chosen on the silhouette
  for the frame's pose (``model.landmarks``).

  Args:
    predicted: [B, F, 68, 2] projected landmark vertices p(v_k), pixels.
    target: [B, F, 68, 2] detected landmarks l, pixels.
    indices: int32 [K] landmark subset (None: all 68).

  Returns:
    [B].
  """
  predicted = _check('predicted', predicted, 4, [semantics.NUM_LANDMARKS, 2])
  target = _check('target', target, 4, [semantics.NUM_LANDMARKS, 2])
  _same_leading('predicted', predicted, 'target', target, 2)
  sq = tf.reduce_sum(tf.square(predicted - target), -1)  # [B, F, 68]
  if indices is not None:
    sq = tf.gather(sq, indices, axis=2)
  return tf.reduce_mean(sq, axis=[1, 2])


# ------------------------------------------------------------------------------------------------ Eq. 7


def bilinear_sample(image: tf.Tensor, points: tf.Tensor) -> tf.Tensor:
  """Bilinear lookup of ``image`` [N, H, W, C] at ``points`` [N, M, 2] (x, y pixels, centres at integers).

  Points outside the image read the clamped border. Differentiable with respect to ``points``.

  Returns:
    [N, M, C].
  """
  h, w = tf.shape(image)[1], tf.shape(image)[2]
  x = tf.clip_by_value(points[..., 0], 0.0, tf.cast(w - 1, tf.float32))
  y = tf.clip_by_value(points[..., 1], 0.0, tf.cast(h - 1, tf.float32))
  x0 = tf.minimum(tf.floor(x), tf.cast(w - 2, tf.float32))
  y0 = tf.minimum(tf.floor(y), tf.cast(h - 2, tf.float32))
  fx, fy = (x - x0)[..., None], (y - y0)[..., None]
  x0, y0 = tf.cast(x0, tf.int32), tf.cast(y0, tf.int32)

  def at(yy, xx):
    return tf.gather_nd(image, tf.stack([yy, xx], -1), batch_dims=1)

  return ((1 - fy) * ((1 - fx) * at(y0, x0) + fx * at(y0, x0 + 1))
          + fy * ((1 - fx) * at(y0 + 1, x0) + fx * at(y0 + 1, x0 + 1)))


def select_contour_pixels(pixel_mask: tf.Tensor, positions: tf.Tensor, max_points: int):
  """Up to ``max_points`` marked pixels of each image, as differentiable positions.

  Args:
    pixel_mask: [N, H, W] {0, 1}.
    positions: [N, H, W, 2] per-pixel positions (pixels).
    max_points: M.

  Returns:
    points [N, M, 2], valid [N, M] float {0, 1} (fewer than M marked pixels: the rest are invalid; more:
    the first M in raster order are kept).
  """
  n = tf.shape(pixel_mask)[0]
  flat = tf.reshape(pixel_mask, [n, -1])
  count = tf.shape(flat)[1]
  order = 1.0 - tf.cast(tf.range(count), tf.float32) / tf.cast(count, tf.float32)  # raster order ties
  _, idx = tf.math.top_k(flat * 2.0 + order[None], k=max_points)
  valid = tf.gather(flat, idx, batch_dims=1)
  points = tf.gather(tf.reshape(positions, [n, -1, 2]), idx, batch_dims=1)
  return points, valid


def contour_terms(mesh_points: tf.Tensor, mesh_valid: tf.Tensor, distance: tf.Tensor,
                  image_points: tf.Tensor, image_valid: tf.Tensor, threshold: float) -> tf.Tensor:
  r"""Both terms of Eq. 7 for one contour (a, b), per contour instance.

      sum_{c in C} D(c) / |C|  +  sum_{q: D(q) = 0} || q - closest(C, q) ||^2 / |{q}|

  with pairs farther apart than ``threshold`` pixels ignored (noisy segmentations, the paper's outlier
  rule): a mesh point with D(c) > threshold and an image point whose closest mesh point is farther than
  ``threshold`` contribute nothing.

  Args:
    mesh_points: [N, M, 2] mesh contour C (pixels); mesh_valid: [N, M] {0, 1}.
    distance: [N, H, W] distance transform D of the image contour (pixels).
    image_points: [N, P, 2] image contour pixels {q : D(q) = 0}; image_valid: [N, P] {0, 1}.
    threshold: outlier distance, pixels.

  Returns:
    [N].
  """
  d = bilinear_sample(distance[..., None], mesh_points)[..., 0]  # [N, M]
  w1 = mesh_valid * tf.cast(d <= threshold, tf.float32)
  term1 = tf.reduce_sum(w1 * d, -1) / tf.maximum(tf.reduce_sum(w1, -1), 1.0)
  sq = tf.reduce_sum(tf.square(image_points[:, :, None] - mesh_points[:, None]), -1)  # [N, P, M]
  sq = sq + (1.0 - mesh_valid[:, None]) * 1e9
  closest = tf.reduce_min(sq, -1)  # [N, P]
  w2 = image_valid * tf.cast(closest <= threshold ** 2, tf.float32)
  term2 = tf.reduce_sum(w2 * closest, -1) / tf.maximum(tf.reduce_sum(w2, -1), 1.0)
  return term1 + term2


def lip_segmentation_loss(outer_contours: tf.Tensor, inner_pixels: tf.Tensor, pixel_positions: tf.Tensor,
                          distance: tf.Tensor, image_contours: tf.Tensor, image_contour_lengths: tf.Tensor,
                          threshold: float = 20.0, max_inner_points: int = 128) -> tf.Tensor:
  r"""Lip segmentation consistency (Eq. 7), per sample.

      L_seg = mean_{i < N_f} sum_{(a, b)} [ mean_{c in C_a^b} D_a^b(c)
                                            + mean_{q: D_a^b(q) = 0} || q - closest(C_a^b, q) ||^2 ]

  a in {upper, lower}, b in {outer, inner}. Mesh contours C: outer = the projected annotated vertex loops;
  inner = the rendered inner lip contour pixels (``model.autoencoder.inner_lip_contour_pixels``) at their
  differentiable positions. D is read with bilinear sampling. Image contour pixels {q : D(q) = 0} are the
  vertices of the segmentation's contour polylines. Pairs farther apart than ``threshold`` px are ignored.

  Args:
    outer_contours: [B, F, 2, K, 2] projected outer lip loops (upper, lower), pixels.
    inner_pixels: [B, F, S, S, 2] {0, 1} rendered inner contour pixels (upper, lower).
    pixel_positions: [B, F, S, S, 2] differentiable pixel positions (barycentric interpolation).
    distance: [B, F, S, S, 4] distance transforms D, channels (upper_outer, upper_inner, lower_outer,
      lower_inner) (``data.schema.LIP_CONTOURS``).
    image_contours: [B, F, 4, P, 2] contour polylines (same channel order), padded.
    image_contour_lengths: int [B, F, 4] valid points per polyline (0: no contour, the term is skipped).
    threshold: outlier distance (pixels).
    max_inner_points: inner contour pixels kept per lip and frame.

  Returns:
    [B].
  """
  outer_contours = _check('outer_contours', outer_contours, 5, [2, None, 2])
  inner_pixels = _check('inner_pixels', inner_pixels, 5, [2])
  pixel_positions = _check('pixel_positions', pixel_positions, 5, [2])
  distance = _check('distance', distance, 5, [4])
  image_contours = _check('image_contours', image_contours, 5, [4, None, 2])
  image_contour_lengths = _check('image_contour_lengths', image_contour_lengths, 3, [4])
  _same_leading('inner_pixels', inner_pixels, 'distance', distance, 4)
  _same_leading('outer_contours', outer_contours, 'image_contours', image_contours, 2)
  shape = tf.shape(distance)
  b, f = shape[0], shape[1]
  n = b * f
  flat = lambda x: tf.reshape(x, tf.concat([[n], tf.shape(x)[2:]], 0))
  outer, inner, pos = flat(outer_contours), flat(inner_pixels), flat(pixel_positions)
  dist, img, lengths = flat(distance), flat(image_contours), flat(image_contour_lengths)
  p = tf.shape(img)[2]
  img_valid = tf.cast(tf.range(p)[None, None] < lengths[..., None], tf.float32)  # [n, 4, P]
  total = tf.zeros([n])
  for lip in range(2):  # 0 upper, 1 lower; channels 2 lip (outer), 2 lip + 1 (inner)
    mesh_outer = outer[:, lip]
    k = tf.shape(mesh_outer)[1]
    inner_pts, inner_valid = select_contour_pixels(inner[..., lip], pos, max_inner_points)
    pairs = ((2 * lip, (mesh_outer, tf.ones([n, k]))), (2 * lip + 1, (inner_pts, inner_valid)))
    for c, (pts, valid) in pairs:
      has = tf.cast(lengths[:, c] > 0, tf.float32)
      total += has * contour_terms(pts, valid, dist[..., c], img[:, c], img_valid[:, c], threshold)
  return tf.reduce_mean(tf.reshape(total, [b, f]), axis=1)


# ------------------------------------------------------------------------------------------------ Eq. 8


def photometric_loss(images: tf.Tensor, rendered: tf.Tensor, mask: tf.Tensor) -> tf.Tensor:
  r"""Photometric consistency (Eq. 8), per sample.

      L_pho = mean_{i < N_f} [ sum_p M_i(p) || F_i(p) - S_i(p) ||^2 / sum_p M_i(p) ]

  i.e. the mean squared RGB difference over the rendered face mask M_i (a frame without a visible face
  contributes 0).

  Args:
    images: [B, F, S, S, 3] input frames F_i in [0, 1].
    rendered: [B, F, S, S, 3] rendered frames S_i.
    mask: [B, F, S, S, 1] rendered mask M_i.

  Returns:
    [B], differentiable with respect to ``rendered`` (the frames and the mask are constants).
  """
  images = _check('images', images, 5, [3])
  rendered = _check('rendered', rendered, 5, [3])
  mask = _check('mask', mask, 5, [1])
  _same_leading('images', images, 'rendered', rendered, 4)
  _same_leading('images', images, 'mask', mask, 4)
  # One fused pass on a CPU (tf_ops.masked_squared_error; plain TF where a GPU is visible). The input
  # frames and the mask are constants of the loss: no gradient flows to them.
  shape = tf.shape(rendered)
  frames = tf.concat([[shape[0] * shape[1]], shape[2:]], 0)
  sq = tf.reshape(tf_ops.masked_squared_error(tf.reshape(rendered, frames), tf.reshape(images, frames),
                                              tf.reshape(mask, tf.concat([frames[:3], [1]], 0))), shape[:2])
  per_frame = sq / tf.maximum(tf.reduce_sum(mask, [2, 3, 4]), 1.0)
  return tf.reduce_mean(per_frame, 1)


# ------------------------------------------------------------------------------------------------ Eq. 9


def perceptual_loss(rendered_features: typing.Sequence[tf.Tensor],
                    input_features: typing.Sequence[tf.Tensor], num_frames: int) -> tf.Tensor:
  r"""Perceptual loss (Eq. 9), per sample.

      L_per = mean_{i < N_f} sum_{l < 5} 1 - <f_l(S_i), f_l(F_i)> / (||f_l(S_i)|| ||f_l(F_i)||)

  f_l: the face feature network's intermediate maps (``model.face_features``), each flattened per frame.

  Args:
    rendered_features: L tensors [B F, h_l, w_l, c_l] of the rendered frames.
    input_features: L tensors of the same shapes for the input frames.
    num_frames: F (frames are folded into the leading dimension).

  Returns:
    [B].
  """
  if len(rendered_features) != len(input_features) or not rendered_features:
    raise ValueError(f'perceptual_loss needs matching non-empty feature lists, got '
                     f'{len(rendered_features)} and {len(input_features)}')
  total = 0.0
  for l, (a, b) in enumerate(zip(rendered_features, input_features)):
    if a.shape.rank != 4 or a.shape != b.shape:
      raise ValueError(f'feature map {l}: expected two equal [N, h, w, c] shapes, got {a.shape} and '
                       f'{b.shape}')
    a = tf.reshape(a, [tf.shape(a)[0], -1])
    b = tf.reshape(b, [tf.shape(b)[0], -1])
    cos = tf.reduce_sum(a * b, -1) / tf.maximum(tf.norm(a, axis=-1) * tf.norm(b, axis=-1), 1e-8)
    total += 1.0 - cos
  return tf.reduce_mean(tf.reshape(total, [-1, num_frames]), 1)


# ----------------------------------------------------------------------------------------------- Eq. 10


def smoothness_loss(graph_deformation: tf.Tensor, graph_edges: tf.Tensor) -> tf.Tensor:
  r"""Graph smoothness (Eq. 10), per sample.

      L_smo = mean_{i < N_f} sum_{q in G_i} sum_{n in N(q)} || d_q - d_n ||^2          [cm^2]

  d: node displacements (identity + expression) of frame i; every undirected edge counted twice, as in
  the paper's double sum.

  Args:
    graph_deformation: [B, F, G, 3] node displacements, cm.
    graph_edges: int32 [E, 2] undirected node adjacency (each edge once).

  Returns:
    [B].
  """
  graph_deformation = _check('graph_deformation', graph_deformation, 4, [3])
  graph_edges = _check('graph_edges', graph_edges, 2, [2])
  shape = tf.shape(graph_deformation)
  frames = tf.reshape(graph_deformation, tf.concat([[-1], shape[2:]], 0))
  frames = tf.ensure_shape(frames, [None, *graph_deformation.shape[2:]])  # keeps G static
  per_frame = face_model.graph_smoothness(frames, graph_edges)  # each edge once
  return tf.reduce_mean(2.0 * tf.reshape(per_frame, shape[:2]), axis=1)


# ----------------------------------------------------------------------------------------------- Eq. 11


def disentanglement_loss(delta: tf.Tensor, is_neutral: tf.Tensor) -> tf.Tensor:
  r"""Disentanglement on neutral samples (Eq. 11), per sample.

      L_dis = [sample is neutral] * mean_{i < N_f} || delta_i ||^2

  Args:
    delta: [B, F, m_e] expression coefficients.
    is_neutral: bool [B].

  Returns:
    [B] (0 for non-neutral samples).
  """
  delta = _check('delta', delta, 3)
  is_neutral = _check('is_neutral', is_neutral, 1)
  _same_leading('delta', delta, 'is_neutral', is_neutral, 1)
  return tf.cast(is_neutral, tf.float32) * tf.reduce_mean(tf.reduce_sum(tf.square(delta), -1), 1)


# ------------------------------------------------------------------------------------- regularisation


def coefficient_loss(alpha: tf.Tensor, beta: tf.Tensor, delta: tf.Tensor) -> tf.Tensor:
  r"""Coefficient prior (not in Eq. 5; see ``training.config.LossWeights``), per sample.

      L_coef = mean_j alpha_j^2 + mean_j beta_j^2 + mean_{i, j} delta_{i, j}^2

  Why: the learned models are linear, so M c = (s M)(c / s) for any s; nothing else in Eq. 5 fixes the
  scale split between a basis and its coefficients. A weak quadratic prior keeps the coefficients of order
  one (the N(0, 1) convention of the Figure-1 grids and of ``model.export``) and lets the bases carry the
  variance; it also keeps the network's outputs bounded early in training.

  Args:
    alpha: [B, m_i]; beta: [B, m_r]; delta: [B, F, m_e].

  Returns:
    [B].
  """
  alpha = _check('alpha', alpha, 2)
  beta = _check('beta', beta, 2)
  delta = _check('delta', delta, 3)
  mean_sq = lambda x, axes: tf.reduce_mean(tf.square(x), axes) if x.shape[-1] else tf.zeros(tf.shape(x)[:1])
  return mean_sq(alpha, [1]) + mean_sq(beta, [1]) + mean_sq(delta, [1, 2])
