"""Landmark vertices for a given pose: fixed inner landmarks plus the dynamic jaw contour.

The paper's landmark loss (Eq. 6) compares detected 2D landmarks with projected template vertices; the
jaw contour (iBUG 0-16) is not fixed on the surface but follows the silhouette. Each jaw landmark has a
horizontal line of candidate vertices from the annotated vertex to the midline
(``Semantics.jaw_candidates``). We pick the candidate that is extreme, on the landmark's side, along the
face's own x axis as seen in the image: on the side turning away that is the occluding contour, on the
side turning towards the camera (and frontally) it is the annotated, outermost vertex. Measuring along
the projected face x axis rather than the image x axis makes the choice invariant to in-plane roll.
The choice is discrete (no gradient); gradients flow through the chosen vertices' positions.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from model import semantics as semantics_lib


def jaw_sides(vertices: np.ndarray, sem: semantics_lib.Semantics) -> np.ndarray:
  """Side of each jaw landmark, float32 [17]: sign of the template x of its annotated vertex (0 = chin)."""
  x = vertices[sem.landmarks[list(semantics_lib.JAW_LANDMARKS)], 0]
  return np.where(np.abs(x) > 1e-3, np.sign(x), 0.0).astype(np.float32)


def select_landmark_vertices(projected: tf.Tensor, rotation: tf.Tensor, landmarks: tf.Tensor,
                             jaw_candidates: tf.Tensor, sides: tf.Tensor) -> tf.Tensor:
  """Vertex index of each of the 68 landmarks for each sample.

  Args:
    projected: [B, N, 2] projected vertices, pixels (x right, y down).
    rotation: [B, 3, 3] head rotation (model to camera).
    landmarks: int32 [68] static landmark vertices.
    jaw_candidates: int32 [17, K] candidates per jaw landmark.
    sides: float32 [17] side sign per jaw landmark (+1 model +x, -1 model -x, 0 fixed).

  Returns:
    int32 [B, 68].
  """
  cand = tf.gather(projected, jaw_candidates, axis=1)  # [B, 17, K, 2]
  return landmark_vertices_from_candidates(cand, rotation, landmarks, jaw_candidates, sides)


def landmark_vertices_from_candidates(candidate_points: tf.Tensor, rotation: tf.Tensor,
                                      landmarks: tf.Tensor, jaw_candidates: tf.Tensor,
                                      sides: tf.Tensor) -> tf.Tensor:
  """``select_landmark_vertices`` from the projected jaw candidates only.

  Args:
    candidate_points: [B, 17, K, 2] projections of ``jaw_candidates``, pixels (x right, y down).
    rotation: [B, 3, 3] head rotation (model to camera).
    landmarks: int32 [68] static landmark vertices.
    jaw_candidates: int32 [17, K] candidates per jaw landmark.
    sides: float32 [17] side sign per jaw landmark (+1 model +x, -1 model -x, 0 fixed).

  Returns:
    int32 [B, 68].
  """
  # The model x axis in camera space, projected to the image (y flipped: pixel y points down).
  axis = tf.stack([rotation[:, 0, 0], -rotation[:, 1, 0]], -1)  # [B, 2]
  along = tf.einsum('bjkc,bc->bjk', candidate_points, axis) * sides[tf.newaxis, :, tf.newaxis]
  best = tf.argmax(along, axis=-1, output_type=tf.int32)  # [B, 17]; ties -> first = annotated vertex
  rows = tf.broadcast_to(tf.range(tf.shape(jaw_candidates)[0]), tf.shape(best))
  jaw = tf.gather_nd(jaw_candidates, tf.stack([rows, best], -1))  # [B, 17]
  batch = tf.shape(candidate_points)[0]
  rest = tf.broadcast_to(landmarks[tf.newaxis, 17:], [batch, tf.shape(landmarks)[0] - 17])
  return tf.concat([jaw, rest], axis=1)
