"""Evaluation metrics of the paper's Section 4 (pure numpy / scipy, no TensorFlow).

Geometry: similarity alignment (Umeyama), rigid + scale ICP against a triangle surface, exact
point-to-triangle / point-to-surface distances, per-vertex RMSE. Images: mask IoU, landmark NME.
Disentanglement: mean expression-deformation length. Verification: cosine similarities, their histograms,
Earth Mover's Distance (on samples and binned), verification accuracy. Subspaces: principal angles.
Summaries: the mean with its Student-t confidence interval.

Units are whatever the inputs carry (the CLIs convert to millimetres before calling).
"""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import scipy.spatial
import scipy.stats

# ------------------------------------------------------------------------------------------- alignment


@dataclasses.dataclass(frozen=True)
class Similarity:
  """x -> scale * rotation @ x + translation."""
  scale: float
  rotation: np.ndarray  # [3, 3], det +1
  translation: np.ndarray  # [3]

  def apply(self, points: np.ndarray) -> np.ndarray:
    """Transforms points [..., 3]."""
    return self.scale * np.asarray(points, np.float64) @ self.rotation.T + self.translation

  def compose(self, first: 'Similarity') -> 'Similarity':
    """The similarity ``self(first(x))``."""
    return Similarity(self.scale * first.scale, self.rotation @ first.rotation,
                      self.scale * self.rotation @ first.translation + self.translation)

  def inverse(self) -> 'Similarity':
    r = self.rotation.T
    return Similarity(1.0 / self.scale, r, -(r @ self.translation) / self.scale)

  @staticmethod
  def identity() -> 'Similarity':
    return Similarity(1.0, np.eye(3), np.zeros(3))


def _check_points(name: str, x: np.ndarray) -> np.ndarray:
  x = np.asarray(x, np.float64)
  if x.ndim != 2 or x.shape[1] != 3:
    raise ValueError(f'{name}: expected points of shape [N, 3], got {x.shape}.')
  if not np.all(np.isfinite(x)):
    raise ValueError(f'{name}: contains NaN or Inf.')
  return x


def umeyama(source: np.ndarray, target: np.ndarray, with_scale: bool = True,
            weights: np.ndarray | None = None) -> Similarity:
  """Least-squares similarity taking ``source`` onto ``target`` (Umeyama 1991).

  Minimizes sum_i w_i ||s R x_i + t - y_i||^2 over s > 0 (s = 1 if not ``with_scale``), R in SO(3), t.

  Args:
    source: [N, 3] points x_i, N >= 3 and not collinear.
    target: [N, 3] corresponding points y_i.
    with_scale: estimate s (else rigid).
    weights: optional [N] non-negative weights.

  Returns:
    The ``Similarity``.
  """
  x, y = _check_points('source', source), _check_points('target', target)
  if x.shape != y.shape or len(x) < 3:
    raise ValueError(f'umeyama: need >= 3 corresponding points, got {x.shape} and {y.shape}.')
  w = np.ones(len(x)) if weights is None else np.asarray(weights, np.float64)
  w = w / w.sum()
  mx, my = w @ x, w @ y
  xc, yc = x - mx, y - my
  cov = (yc * w[:, None]).T @ xc  # [3, 3] = sum w y x^T
  u, d, vt = np.linalg.svd(cov)
  sign = np.ones(3)
  if np.linalg.det(u) * np.linalg.det(vt) < 0:
    sign[2] = -1.0
  rotation = u @ np.diag(sign) @ vt
  var_x = float(w @ np.sum(xc ** 2, axis=1))
  scale = float(np.sum(d * sign) / var_x) if with_scale else 1.0
  return Similarity(scale, rotation, my - scale * rotation @ mx)


# ----------------------------------------------------------------------------------- surface distances


def closest_points_on_triangles(points: np.ndarray, a: np.ndarray, b: np.ndarray,
                                c: np.ndarray) -> np.ndarray:
  """Exact closest point of each point on its triangle (Ericson, Real-Time Collision Detection 5.1.5).

  Args:
    points, a, b, c: [M, 3] (point i against triangle (a_i, b_i, c_i)); degenerate triangles are handled.

  Returns:
    [M, 3] closest points.
  """
  p, a, b, c = (np.asarray(v, np.float64) for v in (points, a, b, c))
  ab, ac, ap = b - a, c - a, p - a
  d1, d2 = np.einsum('ij,ij->i', ab, ap), np.einsum('ij,ij->i', ac, ap)
  bp = p - b
  d3, d4 = np.einsum('ij,ij->i', ab, bp), np.einsum('ij,ij->i', ac, bp)
  cp = p - c
  d5, d6 = np.einsum('ij,ij->i', ab, cp), np.einsum('ij,ij->i', ac, cp)
  va = d3 * d6 - d5 * d4
  vb = d5 * d2 - d1 * d6
  vc = d1 * d4 - d3 * d2
  out = np.empty_like(p)
  done = np.zeros(len(p), bool)

  def put(mask, value):
    m = mask & ~done
    out[m] = value[m]
    done[m] = True

  with np.errstate(divide='ignore', invalid='ignore'):
    put((d1 <= 0) & (d2 <= 0), a)  # vertex region A
    put((d3 >= 0) & (d4 <= d3), b)  # vertex region B
    put((d6 >= 0) & (d5 <= d6), c)  # vertex region C
    v = d1 / (d1 - d3)
    put((vc <= 0) & (d1 >= 0) & (d3 <= 0), a + v[:, None] * ab)  # edge AB
    w = d2 / (d2 - d6)
    put((vb <= 0) & (d2 >= 0) & (d6 <= 0), a + w[:, None] * ac)  # edge AC
    w = (d4 - d3) / ((d4 - d3) + (d5 - d6))
    put((va <= 0) & ((d4 - d3) >= 0) & ((d5 - d6) >= 0), b + w[:, None] * (c - b))  # edge BC
    denom = 1.0 / (va + vb + vc)
    v, w = vb * denom, vc * denom
    inside = a + v[:, None] * ab + w[:, None] * ac
  rest = ~done
  if np.any(rest):
    ok = rest & np.all(np.isfinite(inside), axis=1)
    out[ok] = inside[ok]
    bad = rest & ~ok  # degenerate triangle: nearest of the three vertices
    if np.any(bad):
      cand = np.stack([a[bad], b[bad], c[bad]], 1)
      k = np.argmin(np.linalg.norm(cand - p[bad, None], axis=-1), axis=1)
      out[bad] = cand[np.arange(len(k)), k]
  return out


def point_to_surface(points: np.ndarray, vertices: np.ndarray, triangles: np.ndarray,
                     k: int = 8, exact: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """Exact distance from each point to a triangle mesh surface.

  Candidates: the ``k`` triangles with the nearest centroids (cKDTree) give an upper bound D_p; every
  triangle t that can be closer than D_p has its centroid within D_p + r_t (r_t its centroid-to-corner
  radius), so those are searched too. The result is exact, not an approximation.

  Args:
    points: [P, 3].
    vertices: [V, 3] mesh vertices.
    triangles: [T, 3] int vertex indices.
    k: initial candidates per point.
    exact: run the completeness pass; False returns the best of the ``k`` candidates (an upper bound on
      the distance, usually equal; ICP iterations use it, final figures never do).

  Returns:
    (distances [P], closest points [P, 3], triangle index [P]).
  """
  pts = _check_points('points', points)
  verts = _check_points('vertices', vertices)
  tris = np.asarray(triangles, np.int64)
  if tris.ndim != 2 or tris.shape[1] != 3 or len(tris) == 0:
    raise ValueError(f'triangles: expected a non-empty [T, 3] array, got {tris.shape}.')
  if tris.min() < 0 or tris.max() >= len(verts):
    raise ValueError(f'triangles: indices must lie in [0, {len(verts)}), got [{tris.min()}, {tris.max()}].')
  corners = verts[tris]  # [T, 3, 3]
  centroids = corners.mean(1)
  radius = np.linalg.norm(corners - centroids[:, None], axis=-1).max(1)  # [T]
  tree = scipy.spatial.cKDTree(centroids)
  k = min(k, len(tris))
  _, cand = tree.query(pts, k=k)
  cand = cand.reshape(len(pts), k)
  rows = np.repeat(np.arange(len(pts)), k)
  best_d = np.full(len(pts), np.inf)
  best_q = np.zeros_like(pts)
  best_t = np.zeros(len(pts), np.int64)

  def update(rows, tri_ids):
    q = closest_points_on_triangles(pts[rows], *(corners[tri_ids, j] for j in range(3)))
    d = np.linalg.norm(q - pts[rows], axis=1)
    order = np.lexsort((d, rows))  # by row, then distance: first of each row is its minimum
    r_sorted = rows[order]
    first = np.ones(len(order), bool)
    first[1:] = r_sorted[1:] != r_sorted[:-1]
    sel = order[first]
    rr = rows[sel]
    better = d[sel] < best_d[rr]
    rr, sel = rr[better], sel[better]
    best_d[rr], best_q[rr], best_t[rr] = d[sel], q[sel], tri_ids[sel]

  update(rows, cand.ravel())
  if not exact:
    return best_d, best_q, best_t
  # Completeness pass: a triangle t can only beat the bound if |p - c_t| - r_t < D_p (r_t its own
  # centroid-to-corner radius). Triangles are grouped by radius (median / 90th percentile) so that each
  # group's ball query uses that group's largest radius, not the mesh's; candidates are then pruned by r_t.
  groups = np.digitize(radius, np.quantile(radius, [0.5, 0.9]))
  for gid in np.unique(groups):
    members = np.flatnonzero(groups == gid)
    sub = scipy.spatial.cKDTree(centroids[members])
    near = sub.query_ball_point(pts, best_d + radius[members].max() + 1e-12, return_sorted=False)
    lens = np.fromiter(map(len, near), np.int64, len(near))
    if lens.sum() == 0:
      continue
    rows = np.repeat(np.arange(len(pts)), lens)
    tri_ids = members[np.fromiter(itertools.chain.from_iterable(near), np.int64, int(lens.sum()))]
    lower = np.linalg.norm(pts[rows] - centroids[tri_ids], axis=1) - radius[tri_ids]
    keep = lower < best_d[rows]
    if np.any(keep):
      update(rows[keep], tri_ids[keep])
  return best_d, best_q, best_t


@dataclasses.dataclass(frozen=True)
class IcpResult:
  transform: Similarity  # applied to the source points
  distances: np.ndarray  # [P] final point-to-surface distances of the transformed source
  mean_distance_history: np.ndarray  # [iterations + 1] mean distance before each iteration and at the end
  #   (first and last entries exact, the others from the k-candidate search)
  iterations: int
  converged: bool


def icp(source: np.ndarray, vertices: np.ndarray, triangles: np.ndarray,
        init: Similarity | None = None, with_scale: bool = True, max_iterations: int = 50,
        tolerance: float = 1e-6, trim_fraction: float = 0.0) -> IcpResult:
  """Point-to-surface ICP with a similarity (rigid + scale) transform of the source points.

  Each iteration pairs every transformed source point with its closest point on the target surface (among
  the triangles of the 8 nearest centroids; the final distances are exact),
  drops the ``trim_fraction`` largest residuals (trimmed ICP; 0 keeps all), and solves Umeyama on the
  pairs. Stops when the mean distance improves by less than ``tolerance`` (relative).

  Args:
    source: [P, 3] points to move (for example a scan crop).
    vertices, triangles: the target surface.
    init: initial similarity (default identity).
    with_scale: estimate scale (else rigid).
    max_iterations: iteration cap.
    tolerance: relative improvement below which it stops.
    trim_fraction: fraction of worst pairs ignored in each fit, in [0, 1).

  Returns:
    ``IcpResult`` with the total transform (source -> target).
  """
  src = _check_points('source', source)
  if not 0.0 <= trim_fraction < 1.0:
    raise ValueError(f'trim_fraction must be in [0, 1), got {trim_fraction}.')
  tf_ = init or Similarity.identity()
  moved = tf_.apply(src)
  d, q, _ = point_to_surface(moved, vertices, triangles)
  history = [float(d.mean())]
  converged = False
  it = 0
  for it in range(1, max_iterations + 1):
    keep = np.ones(len(d), bool)
    if trim_fraction > 0:
      keep = d <= np.quantile(d, 1.0 - trim_fraction)
    step = umeyama(moved[keep], q[keep], with_scale=with_scale)
    tf_ = step.compose(tf_)
    moved = tf_.apply(src)
    d, q, _ = point_to_surface(moved, vertices, triangles, exact=False)
    history.append(float(d.mean()))
    if history[-2] - history[-1] <= tolerance * max(history[-2], 1e-12):
      converged = True
      break
  d = point_to_surface(moved, vertices, triangles)[0]
  history[-1] = float(d.mean())
  return IcpResult(tf_, d, np.asarray(history), it, converged)


# ------------------------------------------------------------------------------------ per-vertex errors


def per_vertex_errors(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
  """Euclidean error per vertex, [N] (shapes [N, 3] must match: same topology)."""
  p, g = np.asarray(pred, np.float64), np.asarray(gt, np.float64)
  if p.shape != g.shape or p.ndim != 2 or p.shape[1] != 3:
    raise ValueError(f'per-vertex error needs two [N, 3] meshes of the same topology, got {p.shape} and '
                     f'{g.shape}.')
  return np.linalg.norm(p - g, axis=1)


def per_vertex_rmse(pred: np.ndarray, gt: np.ndarray, mask: np.ndarray | None = None) -> float:
  """RMSE = sqrt(mean_i ||p_i - g_i||^2) over the vertices in ``mask`` (all if None)."""
  e = per_vertex_errors(pred, gt)
  if mask is not None:
    e = e[np.asarray(mask, bool)]
  return float(np.sqrt(np.mean(e ** 2)))


# ---------------------------------------------------------------------------------------------- images


def mask_iou(pred: np.ndarray, gt: np.ndarray) -> float:
  """|P and G| / |P or G| of two boolean masks of the same shape; NaN when both are empty."""
  p, g = np.asarray(pred, bool), np.asarray(gt, bool)
  if p.shape != g.shape:
    raise ValueError(f'mask_iou: shapes differ, {p.shape} vs {g.shape}.')
  union = np.count_nonzero(p | g)
  return float('nan') if union == 0 else np.count_nonzero(p & g) / union


# 300-W's 68 points without the jaw contour (17 brows, nose, eyes, mouth): the "inner" 51.
INNER_LANDMARKS = tuple(range(17, 68))


def landmark_nme(pred: np.ndarray, gt: np.ndarray, left: int = 36, right: int = 45,
                 points=None) -> float:
  """Normalized mean error: mean_{i in points} ||p_i - g_i|| / ||g_left - g_right||.

  Args:
    pred: [N, D] predicted points (pixels).
    gt: [N, D] ground truth (pixels).
    left, right: the ground-truth points whose distance normalises (300-W: outer eye corners 36, 45).
    points: indices averaged over (e.g. ``INNER_LANDMARKS``); None = all N. The normaliser is the same.

  Returns:
    The NME (a fraction of the inter-ocular distance).
  """
  p, g = np.asarray(pred, np.float64), np.asarray(gt, np.float64)
  if p.shape != g.shape or p.ndim != 2:
    raise ValueError(f'landmark_nme: shapes differ or are not [N, D], {p.shape} vs {g.shape}.')
  iod = np.linalg.norm(g[left] - g[right])
  if iod <= 0:
    raise ValueError('landmark_nme: zero inter-ocular distance in the ground truth.')
  err = np.linalg.norm(p - g, axis=1)
  if points is not None:
    err = err[np.asarray(points, np.int64)]
  return float(err.mean() / iod)


def mean_interval(values, level: float = 0.95) -> tuple[float, float]:
  """Sample mean and the half-width of its Student-t confidence interval.

  Half-width = t_{(1 + level) / 2, n - 1} * s / sqrt(n) with the sample standard deviation s (ddof 1).

  Args:
    values: [n] samples (NaN not allowed).
    level: coverage of the interval.

  Returns:
    (mean, half_width); half_width is NaN for n < 2, both NaN for n = 0.
  """
  x = np.asarray(values, np.float64).ravel()
  if not np.all(np.isfinite(x)):
    raise ValueError('mean_interval: values contain NaN or Inf.')
  n = len(x)
  if n == 0:
    return float('nan'), float('nan')
  if n < 2:
    return float(x[0]), float('nan')
  half = scipy.stats.t.ppf(0.5 + level / 2.0, n - 1) * x.std(ddof=1) / np.sqrt(n)
  return float(x.mean()), float(half)


# ------------------------------------------------------------------------------------ disentanglement


def expression_deformation_length(offsets: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
  """Mean per-vertex length of expression deformations: AE_b = mean_i ||d_{b,i}||.

  Args:
    offsets: [B, N, 3] (or [N, 3]) expression displacements of each vertex (the expression component of
      the reconstruction minus the identity-only mesh).
    mask: optional [N] vertices to average over.

  Returns:
    [B] (or scalar array) in the unit of ``offsets``; the paper's AE is the mean over a neutral set.
  """
  o = np.asarray(offsets, np.float64)
  if o.shape[-1] != 3:
    raise ValueError(f'expression offsets must end in 3 coordinates, got {o.shape}.')
  lengths = np.linalg.norm(o, axis=-1)
  if mask is not None:
    lengths = lengths[..., np.asarray(mask, bool)]
  return lengths.mean(-1)


# ---------------------------------------------------------------------------------------- verification

HISTOGRAM_EDGES = np.linspace(-1.0, 1.0, 41)  # fixed 0.05-wide bins on [-1, 1] for the binned EMD


def cosine_similarity(a: np.ndarray, b: np.ndarray) -> np.ndarray:
  """Row-wise cos(a_i, b_i) of [M, D] embeddings, [M]."""
  a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
  if a.shape != b.shape:
    raise ValueError(f'cosine_similarity: shapes differ, {a.shape} vs {b.shape}.')
  na, nb = np.linalg.norm(a, axis=-1), np.linalg.norm(b, axis=-1)
  if np.any(na == 0) or np.any(nb == 0):
    raise ValueError('cosine_similarity: zero embedding vector.')
  return np.sum(a * b, axis=-1) / (na * nb)


def similarity_histogram(values: np.ndarray, edges: np.ndarray = HISTOGRAM_EDGES) -> np.ndarray:
  """Normalized histogram (sums to 1) of similarities with fixed ``edges``; values are clipped into range."""
  v = np.clip(np.asarray(values, np.float64), edges[0], edges[-1])
  h, _ = np.histogram(v, bins=edges)
  return h / max(h.sum(), 1)


def emd_samples(a: np.ndarray, b: np.ndarray) -> float:
  """1-D Earth Mover's (Wasserstein-1) distance between the empirical distributions of two samples."""
  a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
  if not len(a) or not len(b):
    raise ValueError('emd_samples: both samples must be non-empty.')
  return float(scipy.stats.wasserstein_distance(a, b))


def emd_binned(a: np.ndarray, b: np.ndarray, edges: np.ndarray = HISTOGRAM_EDGES) -> float:
  """EMD between the fixed-edge histograms of two samples (mass at the bin centres)."""
  centres = (edges[:-1] + edges[1:]) / 2
  ha, hb = similarity_histogram(a, edges), similarity_histogram(b, edges)
  if ha.sum() == 0 or hb.sum() == 0:
    raise ValueError('emd_binned: both samples must be non-empty.')
  return float(scipy.stats.wasserstein_distance(centres, centres, ha, hb))


def verification_accuracy(similarities: np.ndarray, same: np.ndarray,
                          threshold: float | None = None) -> tuple[float, float]:
  """Fraction of pairs classified right by ``similarity > threshold`` -> same identity.

  Args:
    similarities: [M] pair similarities.
    same: [M] bool ground truth.
    threshold: fixed threshold; None picks the best one on these pairs (an optimistic, in-sample figure:
      the LFW protocol picks it on the other nine folds, see ``cross_validated_accuracy``).

  Returns:
    (accuracy, threshold used).
  """
  s = np.asarray(similarities, np.float64)
  y = np.asarray(same, bool)
  if s.shape != y.shape or not len(s):
    raise ValueError(f'verification_accuracy: need matching non-empty arrays, got {s.shape}, {y.shape}.')
  if threshold is not None:
    return float(np.mean((s > threshold) == y)), float(threshold)
  order = np.argsort(s)
  ss, yy = s[order], y[order]
  # Threshold just below element k: pairs < k are "different", >= k "same". k = 0..M.
  correct_below = np.concatenate([[0], np.cumsum(~yy)])  # different pairs among the first k
  correct_above = np.concatenate([np.cumsum(yy[::-1])[::-1], [0]])  # same pairs from k on
  total = correct_below + correct_above
  # Only cut between distinct values.
  valid = np.ones(len(s) + 1, bool)
  valid[1:-1] = ss[1:] > ss[:-1]
  total = np.where(valid, total, -1)
  k = int(np.argmax(total))
  if k == 0:
    thr = ss[0] - 1e-9
  elif k == len(s):
    thr = ss[-1]
  else:
    thr = (ss[k - 1] + ss[k]) / 2
  return float(total[k] / len(s)), float(thr)


def cross_validated_accuracy(similarities: np.ndarray, same: np.ndarray, folds: np.ndarray) -> float:
  """LFW protocol: for each fold the best threshold on the other folds, applied to this fold; mean."""
  s, y, f = (np.asarray(v) for v in (similarities, same, folds))
  accs = []
  for k in np.unique(f):
    test = f == k
    if np.all(test):
      return verification_accuracy(s, y)[0]
    _, thr = verification_accuracy(s[~test], y[~test])
    accs.append(verification_accuracy(s[test], y[test], thr)[0])
  return float(np.mean(accs))


# ------------------------------------------------------------------------------------------- subspaces


def principal_angle_cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
  """Cosines of the principal angles between span(A) and span(B), descending.

  Args:
    a: [D, p] basis vectors as columns (need not be orthonormal; rank-deficient columns are dropped).
    b: [D, q].

  Returns:
    [min(rank A, rank B)] cosines in [0, 1]; 1 = a shared direction, 0 = orthogonal.
  """
  a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
  if a.ndim != 2 or b.ndim != 2 or a.shape[0] != b.shape[0]:
    raise ValueError(f'principal angles need [D, p] and [D, q] bases, got {a.shape} and {b.shape}.')
  qa, qb = _orth(a), _orth(b)
  s = np.linalg.svd(qa.T @ qb, compute_uv=False)
  return np.clip(s, 0.0, 1.0)


def _orth(m: np.ndarray) -> np.ndarray:
  u, s, _ = np.linalg.svd(m, full_matrices=False)
  tol = max(m.shape) * np.finfo(np.float64).eps * (s[0] if len(s) else 0.0)
  return u[:, s > tol]


def best_matching_columns(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """For each column of A the column of B with the largest |cosine| and that cosine, ([p], [p])."""
  a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
  na = a / np.maximum(np.linalg.norm(a, axis=0, keepdims=True), 1e-30)
  nb = b / np.maximum(np.linalg.norm(b, axis=0, keepdims=True), 1e-30)
  c = np.abs(na.T @ nb)
  idx = np.argmax(c, axis=1)
  return idx, c[np.arange(len(idx)), idx]


def projection_ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
  """For each column of A, ||P_B a|| / ||a||: how much of it lies in span(B), [p] in [0, 1]."""
  a = np.asarray(a, np.float64)
  qb = _orth(np.asarray(b, np.float64))
  return np.linalg.norm(qb.T @ a, axis=0) / np.maximum(np.linalg.norm(a, axis=0), 1e-30)


def gap_closed(errors, baseline, reference, level: float = 0.95, resamples: int = 4000,
               seed: int = 0) -> dict:
  r"""Share of the error gap from a baseline to a reference that a method closes, with a bootstrap interval.

      gap = (mean_i b_i - mean_i e_i) / (mean_i b_i - mean_i r_i)

  over paired items i (the method's error e, the baseline's b, e.g. the mean template, and the reference's
  r, e.g. the true model): 0 is the baseline, 1 the reference. The interval is the percentile bootstrap
  over items (the three errors of an item resampled together).

  Args:
    errors, baseline, reference: [n] paired per-item errors (any unit, the same for the three).
    level: interval coverage.
    resamples: bootstrap resamples.
    seed: bootstrap seed.

  Returns:
    {'fraction', 'ci_low', 'ci_high', 'n'} (NaN when n < 2 or the gap is 0).
  """
  e, b, r = (np.asarray(x, np.float64).ravel() for x in (errors, baseline, reference))
  if not (len(e) == len(b) == len(r)):
    raise ValueError(f'gap_closed: unpaired inputs of lengths {len(e)}, {len(b)}, {len(r)}.')
  n = len(e)
  nan = {'fraction': float('nan'), 'ci_low': float('nan'), 'ci_high': float('nan'), 'n': n}
  if n < 2 or b.mean() == r.mean():
    return nan
  idx = np.random.default_rng(seed).integers(0, n, size=(resamples, n))
  den = b[idx].mean(1) - r[idx].mean(1)
  ok = den != 0
  boot = (b[idx].mean(1) - e[idx].mean(1))[ok] / den[ok]
  lo, hi = np.percentile(boot, [50 * (1 - level), 50 * (1 + level)])
  return {'fraction': float((b.mean() - e.mean()) / (b.mean() - r.mean())), 'ci_low': float(lo),
          'ci_high': float(hi), 'n': n}
