"""The learnable linear face model (paper Sec. 3.1): identity / expression geometry and albedo.

    V = Vbar + U (M_gid_perp alpha + M_gexp delta)        (Eqs. 1, 2)
    R = Rbar + M_R beta                                    (Eq. 3)

Layouts: a graph-space basis has 3G rows ordered node-major, row ``3 g + c`` = coordinate c (x, y, z) of
node g; the albedo basis has 3N rows, row ``3 n + c`` = colour channel c (r, g, b) of vertex n. Geometry
in cm, albedo in [0, 1] (linear RGB).

Identity is kept orthogonal to expression in every forward pass (Sec. 3.3, following FML [55]):
``M_gid_perp = M_gid - Q Q^T M_gid`` with Q the reduced QR basis of M_gexp. Orthogonality holds in graph
space; U is a fixed linear map, so the vertex-space models U M_gid_perp and U M_gexp keep independent
column spans (the graph-space constraint is the one that removes the identity/expression ambiguity in
the coefficients). ``FaceModel.call`` applies the projection to the coefficients instead of the basis,
through the Gram matrix of M_gexp (``project_out_of_span``; same values, a fraction of the work of a QR
and its gradient in every step); ``identity_basis`` (export, pictures) uses the QR.
"""

from __future__ import annotations

import typing

import numpy as np
import scipy.sparse as sp
import tensorflow as tf
import keras

import tf_ops
from model import config as config_lib
from model import shape_checks

DEFAULT_ALBEDO = (0.72, 0.53, 0.44)  # uniform linear-RGB skin tone, used as Rbar by default
DEFAULT_INIT_STDDEV = 1e-3


def sparse_to_tf(matrix: sp.spmatrix) -> tf.SparseTensor:
  """Converts a scipy sparse matrix to a reordered float32 ``tf.SparseTensor``."""
  coo = matrix.tocoo()
  st = tf.SparseTensor(np.stack([coo.row, coo.col], 1).astype(np.int64),
                       coo.data.astype(np.float32), coo.shape)
  return tf.sparse.reorder(st)


def upsample(upsampling: tf.SparseTensor, node_values: tf.Tensor,
             padded: typing.Optional[typing.Tuple[tf.Tensor, tf.Tensor]] = None) -> tf.Tensor:
  """Applies U [N, G] to node values [B, G, C], returning [B, N, C].

  ``padded``: U's rows as (neighbours [N, K], weights [N, K]) (``tf_ops.padded_rows``); with it, the fused
  CPU op ``tf_ops.upsample_nodes`` runs where ``tf_ops`` enables it (no transposes), else a sparse-dense
  matrix product.
  """
  node_values = shape_checks.ShapeChecker('upsample')('node_values', node_values,
                                                      (None, int(upsampling.shape[1]), None))
  if padded is not None and tf_ops.fused_ops_enabled():
    return tf_ops.upsample_nodes(node_values, *padded)
  b, g, c = tf.unstack(tf.shape(node_values))
  flat = tf.reshape(tf.transpose(node_values, [1, 0, 2]), [g, b * c])
  out = tf.sparse.sparse_dense_matmul(upsampling, flat)
  return tf.transpose(tf.reshape(out, [-1, b, c]), [1, 0, 2])


# Largest batch for which the fused basis product beats tf.matmul (forward + backward, 2 threads, this
# project's 2-core VM, 20k and 80k rows x 80 columns: faster at B = 1, 2, 4 by 1.1-2.3x, slower at B = 8).
FUSED_BASIS_MAX_BATCH = 4


def _basis_product(coefficients: tf.Tensor, basis: tf.Tensor) -> tf.Tensor:
  """coefficients [B, K] @ basis [D, K]^T -> [B, D]: the fused CPU op where ``tf_ops`` enables it and the
  static batch is at most ``FUSED_BASIS_MAX_BATCH`` (one pass over a tall basis; a general matrix product
  packs it first), else ``tf.matmul``."""
  batch = coefficients.shape[0]
  if batch is not None and batch <= FUSED_BASIS_MAX_BATCH and tf_ops.fused_ops_enabled():
    return tf_ops.basis_product(coefficients, basis)
  return tf.matmul(coefficients, basis, transpose_b=True)


def orthogonal_complement_projection(basis: tf.Tensor, against: tf.Tensor) -> tf.Tensor:
  """Projects the columns of ``basis`` [D, m] onto the orthogonal complement of span(``against`` [D, k]).

  Uses a reduced QR of ``against`` (requires D >= k); differentiable.

  Raises:
    ValueError: on wrong ranks, different D, or D < k.
  """
  check = shape_checks.ShapeChecker('orthogonal_complement_projection')
  basis = check('basis', basis, ('D', None))
  against = check('against', against, ('D', None))
  if None not in against.shape.as_list() and against.shape[0] < against.shape[1]:
    raise ValueError(f'orthogonal_complement_projection: against [D, k] needs D >= k, got '
                     f'{against.shape.as_list()}')
  q, _ = tf.linalg.qr(against, full_matrices=False)
  return basis - tf.matmul(q, tf.matmul(q, basis, transpose_a=True))


# Relative diagonal load of the Gram matrix in ``project_out_of_span``: keeps its Cholesky factor finite
# when ``against`` loses rank, and changes a well-conditioned projection by ~1e-6 relative.
GRAM_JITTER = 1e-6


def project_out_of_span(vectors: tf.Tensor, against: tf.Tensor) -> tf.Tensor:
  """Rows of ``vectors`` [B, D] minus their orthogonal projection onto span(``against`` [D, k]).

  ``v - A (A^T A)^-1 A^T v`` through a Cholesky factor of the k x k Gram matrix (normal equations), so
  ``project_out_of_span(c @ M^T, A) == c @ orthogonal_complement_projection(M, A)^T`` at O(D k^2 + B D k)
  cost instead of a QR of A and its gradient. The Gram matrix squares A's condition number; measured
  largest error relative to the exact projection (float32, D = 1563, k = 64): 2e-7, 2e-6, 5e-5, 2e-3 at
  cond(A) = 1.5 (the random init), 10, 100, 1000, against 4e-7, 2e-6, 6e-6, 4e-5 through the QR.

  Raises:
    ValueError: on wrong ranks or different D.
  """
  check = shape_checks.ShapeChecker('project_out_of_span')
  vectors = check('vectors', vectors, (None, 'D'))
  against = check('against', against, ('D', None))
  gram = tf.matmul(against, against, transpose_a=True)  # [k, k]
  k = tf.shape(gram)[0]
  load = GRAM_JITTER * tf.reduce_mean(tf.linalg.diag_part(gram)) + 1e-30
  chol = tf.linalg.cholesky(gram + load * tf.eye(k))
  coefficients = tf.linalg.cholesky_solve(chol, tf.matmul(against, vectors, transpose_a=True,
                                                          transpose_b=True))  # [k, B]
  return vectors - _basis_product(tf.transpose(coefficients), against)


class FaceModel(keras.layers.Layer):
  """Learnable identity, expression and albedo bases on a template with a deformation graph.

  Initialization: the three bases are trainable and start as i.i.d. N(0, init_stddev^2) entries
  (default 1e-3: with ~N(0, 1) coefficients a vertex moves ~0.01 cm and an albedo changes by ~0.01, so
  the initial model is visually the mean face). They must not start at zero: with M = 0 the gradient with
  respect to the coefficients, dL/dalpha = M^T dL/dV, vanishes, so the encoder that predicts alpha,
  delta and beta would get no signal; and all columns would receive identical updates up to their
  coefficient, a symmetry that random init breaks. Small, not large, random values keep the early
  reconstructions (pose stage) from being dominated by random deformations. The orthogonal projection
  needs M_gexp to have full column rank, which random init gives almost surely.

  Inputs (``call``): alpha [B, m_i], delta [B, m_e], beta [B, m_r] (any may be None = zeros).

  Outputs (dict):
    vertices: [B, N, 3] geometry V, cm.
    albedo: [B, N, 3] reflectance R (not clipped).
    graph_deformation: [B, G, 3] total node displacement (identity + expression), cm; input of the
      smoothness loss (Eq. 10) with ``graph_edges``.
    graph_identity, graph_expression: [B, G, 3] the two node-displacement parts.
    expression_deformation: [B, N, 3] U M_gexp delta, cm (the disentanglement metric / loss).
    identity_deformation: [B, N, 3] U M_gid_perp alpha, cm.

  Serialised form: the ``.npz`` written by ``model.export.save_model`` and read by
  ``model.export.load_model`` (bases, mean geometry and albedo, U, graph edges, template). A Keras
  config cannot hold those arrays: ``get_config`` reports the sizes only, and ``from_config`` raises.
  """

  def __init__(self, mean_vertices: np.ndarray, upsampling: sp.spmatrix, graph_edges: np.ndarray,
               num_identity: int = config_lib.PAPER.num_identity,
               num_expression: int = config_lib.PAPER.num_expression,
               num_albedo: int = config_lib.PAPER.num_albedo,
               mean_albedo: typing.Optional[np.ndarray] = None,
               init_stddev: float | typing.Sequence[float] = DEFAULT_INIT_STDDEV,
               seed: typing.Optional[int] = 0,
               orthogonalize: bool = True, **kwargs):
    """Creates the layer.

    Args:
      mean_vertices: float [N, 3] Vbar, cm.
      upsampling: sparse [N, G] U (``DeformationGraph.upsampling``).
      graph_edges: int [E, 2] node adjacency (``DeformationGraph.edges``).
      num_identity: m_i (paper: 80).
      num_expression: m_e (paper: 64); needs 3G >= m_e.
      num_albedo: m_r (paper: 80).
      mean_albedo: float [N, 3] Rbar, or None for the uniform ``DEFAULT_ALBEDO``.
      init_stddev: standard deviation of the random basis init (see the class docstring): one for all
        three bases, or (identity, expression, albedo).
      seed: initializer seed (deterministic models for tests and demos); None for random.
      orthogonalize: project M_gid onto the orthogonal complement of span(M_gexp) (the paper's model).
      **kwargs: passed to ``keras.layers.Layer``.
    """
    super().__init__(**kwargs)
    mean_vertices = np.asarray(mean_vertices, np.float32)
    n = len(mean_vertices)
    g = upsampling.shape[1]
    if upsampling.shape[0] != n:
      raise ValueError(f'U has {upsampling.shape[0]} rows for {n} vertices')
    if num_expression > 3 * g:
      raise ValueError(f'num_expression={num_expression} exceeds 3G={3 * g}')
    if mean_albedo is None:
      mean_albedo = np.broadcast_to(np.asarray(DEFAULT_ALBEDO, np.float32), (n, 3))
    self.num_vertices, self.num_nodes = n, g
    self.num_identity, self.num_expression, self.num_albedo = (
        num_identity, num_expression, num_albedo)
    self.orthogonalize = orthogonalize
    self.mean_vertices = tf.constant(mean_vertices)
    self.mean_albedo = tf.constant(np.asarray(mean_albedo, np.float32))
    self.upsampling_matrix = upsampling.tocsr().astype(np.float32)
    self.upsampling = sparse_to_tf(self.upsampling_matrix)
    self.upsampling_rows = tuple(tf.constant(x) for x in tf_ops.padded_rows(self.upsampling_matrix))
    self.graph_edges = tf.constant(np.asarray(graph_edges, np.int32))
    seeds = [None] * 3 if seed is None else [seed, seed + 1, seed + 2]
    stddevs = [float(x) for x in np.broadcast_to(np.asarray(init_stddev, np.float64), [3])]
    init = lambda i: keras.initializers.RandomNormal(stddev=stddevs[i], seed=seeds[i])
    self.m_gid = self.add_weight(name='M_gid', shape=(3 * g, num_identity), initializer=init(0))
    self.m_gexp = self.add_weight(name='M_gexp', shape=(3 * g, num_expression), initializer=init(1))
    self.m_r = self.add_weight(name='M_R', shape=(3 * n, num_albedo), initializer=init(2))

  def identity_basis(self) -> tf.Tensor:
    """M_gid_perp [3G, m_i]: M_gid projected onto the orthogonal complement of span(M_gexp)."""
    if not self.orthogonalize or self.num_expression == 0:
      return tf.convert_to_tensor(self.m_gid)
    return orthogonal_complement_projection(self.m_gid, self.m_gexp)

  def call(self, alpha=None, delta=None, beta=None) -> dict[str, tf.Tensor]:
    """Evaluates the model (see the class docstring for inputs and outputs).

    Raises:
      ValueError: when a coefficient array is not [B, size] with this model's size, or the batch sizes
        differ.
    """
    check = shape_checks.ShapeChecker('FaceModel')
    given = {name: check(name, x, ('B', size)) for name, x, size in (
        ('alpha', alpha, self.num_identity), ('delta', delta, self.num_expression),
        ('beta', beta, self.num_albedo)) if x is not None}
    batch = tf.shape(next(iter(given.values())))[0] if given else 1
    alpha, delta, beta = (given[name] if name in given else tf.zeros([batch, size], tf.float32)
                          for name, size in (('alpha', self.num_identity), ('delta', self.num_expression),
                                             ('beta', self.num_albedo)))
    g = self.num_nodes
    graph_id = _basis_product(alpha, self.m_gid)  # [B, 3G]
    if self.orthogonalize and self.num_expression > 0:
      graph_id = project_out_of_span(graph_id, self.m_gexp)  # = alpha @ identity_basis()^T
    graph_id = tf.reshape(graph_id, [-1, g, 3])
    graph_exp = tf.reshape(_basis_product(delta, self.m_gexp), [-1, g, 3])
    graph_total = graph_id + graph_exp
    # One sparse product for the vertices; the two parts are separate products that a traced function
    # skips when they are not used.
    vertex_id = upsample(self.upsampling, graph_id, self.upsampling_rows)
    vertex_exp = upsample(self.upsampling, graph_exp, self.upsampling_rows)
    albedo = self.mean_albedo + tf.reshape(_basis_product(beta, self.m_r), [-1, self.num_vertices, 3])
    return {
        'vertices': self.mean_vertices + upsample(self.upsampling, graph_total, self.upsampling_rows),
        'albedo': albedo,
        'graph_deformation': graph_total,
        'graph_identity': graph_id,
        'graph_expression': graph_exp,
        'identity_deformation': vertex_id,
        'expression_deformation': vertex_exp,
    }

  def get_config(self):
    """The layer's sizes (for inspection; see the class docstring for its serialised form)."""
    config = super().get_config()
    config.update(num_identity=self.num_identity, num_expression=self.num_expression,
                  num_albedo=self.num_albedo, orthogonalize=self.orthogonalize,
                  num_vertices=self.num_vertices, num_nodes=self.num_nodes)
    return config

  @classmethod
  def from_config(cls, config):
    raise NotImplementedError(
        'FaceModel cannot be rebuilt from a Keras config (it holds the mean geometry, U and the graph): '
        'save it with model.export.save_model(path, face_model, template, graph) and load it with '
        'model.export.load_model(path).')


def graph_smoothness(graph_deformation: tf.Tensor, graph_edges: tf.Tensor) -> tf.Tensor:
  """Per-sample smoothness energy sum over adjacent node pairs ||d_i - d_j||^2 (Eq. 10) -> [B].

  Each undirected edge is counted once (Eq. 10 counts it twice: scale by 2 to match). The value is the sum
  of squared differences; its gradient, 2 L d with L the graph Laplacian of the edges, is one sparse
  matrix product when the edges are known at trace time (instead of the gathers' scatter-add gradients).

  Args:
    graph_deformation: [B, G, 3] node displacements, cm.
    graph_edges: int32 [E, 2] node pairs.
  """
  a = tf.gather(graph_deformation, graph_edges[:, 0], axis=1)
  b = tf.gather(graph_deformation, graph_edges[:, 1], axis=1)
  edges = tf.get_static_value(graph_edges)
  num_nodes = graph_deformation.shape[1]
  if edges is None or num_nodes is None:
    return tf.reduce_sum(tf.square(a - b), axis=[1, 2])
  laplacian = sparse_to_tf(sp.csr_matrix(graph_laplacian(edges, num_nodes)))

  @tf.custom_gradient
  def energy(x):
    del x  # the value is computed from the gathers above, outside this function's gradient
    value = tf.reduce_sum(tf.square(tf.stop_gradient(a) - tf.stop_gradient(b)), axis=[1, 2])

    def grad(upstream):
      # 2 L d, with the batch and the coordinates as the columns of one sparse product.
      nodes_first = tf.transpose(graph_deformation, [1, 0, 2])  # [G, B, 3]
      product = tf.sparse.sparse_dense_matmul(laplacian, tf.reshape(nodes_first, [num_nodes, -1]))
      product = tf.transpose(tf.reshape(product, tf.shape(nodes_first)), [1, 0, 2])
      return 2.0 * upstream[:, tf.newaxis, tf.newaxis] * product

    return value, grad

  return energy(graph_deformation)


def graph_laplacian(edges: np.ndarray, num_nodes: int) -> np.ndarray:
  """float32 [G, G] L = sum over listed edges (i, j) of (e_i - e_j)(e_i - e_j)^T (degree minus adjacency)."""
  edges = np.asarray(edges, np.int64).reshape(-1, 2)
  laplacian = np.zeros((num_nodes, num_nodes), np.float64)
  np.add.at(laplacian, (edges[:, 0], edges[:, 0]), 1.0)
  np.add.at(laplacian, (edges[:, 1], edges[:, 1]), 1.0)
  np.add.at(laplacian, (edges[:, 0], edges[:, 1]), -1.0)
  np.add.at(laplacian, (edges[:, 1], edges[:, 0]), -1.0)
  return laplacian.astype(np.float32)


def build_face_model(template, graph, **kwargs) -> FaceModel:
  """Convenience constructor from a ``Template`` and its ``DeformationGraph``."""
  return FaceModel(template.vertices, graph.upsampling, graph.edges, **kwargs)
