"""Adapters between the evaluation CLIs and whatever produces reconstructions.

Every table needs the same thing: for a batch of images, the reconstructed geometry (with and without its
expression part), the pose, and the model's topology and semantics. ``Reconstructor`` is that interface;
``load_reconstructor(path)`` builds one from

* a run folder of ``training`` (encoder + face model, via ``model.autoencoder``) when that module is
  available: the network reconstructs the images (the paper's protocol);
* an exported model ``.npz`` (``model.export``): the learned linear model is fitted to the 2D landmarks of
  each image (``LandmarkFitter``: the same fitting as the baselines, so it measures the *model*, not the
  encoder).

Baselines use ``LandmarkFitter`` with other bases: ``mean_template_fitter`` (pose only, the mean face) and
``ict_fitter`` (the true ICT identity and expression model of the synthetic world, on the same template).

Units: geometry in cm (the template's unit); the CLIs convert to mm. Landmark fitting uses the 51 inner
iBUG landmarks (17-67): the jaw contour (0-16) follows the silhouette and has no fixed vertex.
"""

from __future__ import annotations

import dataclasses
import json
import math
import pathlib
from typing import Protocol, Sequence

import numpy as np
import scipy.optimize
import scipy.sparse as sp

# Inner landmarks used for fitting (no jaw contour).
FIT_LANDMARKS = tuple(range(17, 68))
# Prior: a unit coefficient moves the mesh by BASIS_RMS_CM (RMS over vertices); coefficients ~ N(0, 1).
BASIS_RMS_CM = 0.2
# Landmark noise assumed by the fit, as a fraction of the image height (2 px at 240 px).
LANDMARK_SIGMA = 2.0 / 240.0


@dataclasses.dataclass(frozen=True)
class Topology:
  """Topology and semantics of a model's mesh."""
  triangles: np.ndarray  # int32 [T, 3]
  landmarks: np.ndarray  # int [68] vertex of each iBUG landmark (jaw: the frontal default)
  triangle_regions: np.ndarray  # int [T] 0 skin, 1 upper lip, 2 lower lip (model.semantics)
  mean_vertices: np.ndarray  # float32 [N, 3] cm

  @property
  def num_vertices(self) -> int:
    return len(self.mean_vertices)


@dataclasses.dataclass
class Reconstruction:
  """Reconstructions of a batch of B images (model space: before the rigid pose)."""
  vertices: np.ndarray  # [B, N, 3] cm, identity + expression
  identity_vertices: np.ndarray  # [B, N, 3] cm, identity only (mean + identity deformation)
  angles: np.ndarray  # [B, 3] (pitch, yaw, roll) radians, model.camera convention
  translation: np.ndarray  # [B, 3] cm
  focal: np.ndarray  # [B] pixels of the camera the pose refers to
  image_size: tuple[int, int]  # (H, W) of the images
  landmark_rms_px: np.ndarray | None = None  # [B] landmark fit residual (landmark fitting only)
  lip_masks: np.ndarray | None = None  # bool [B, H, W, 2] upper / lower lip, when the model renders them
  images: np.ndarray | None = None  # uint8 [B, H, W, 3] the (cropped) images the pose refers to

  @property
  def expression_offsets(self) -> np.ndarray:
    """[B, N, 3] cm: the expression deformation (vertices - identity_vertices)."""
    return self.vertices - self.identity_vertices


class Reconstructor(Protocol):
  name: str
  topology: Topology

  def reconstruct(self, images: np.ndarray, landmarks2d: np.ndarray | None = None) -> Reconstruction:
    """images: uint8 [B, H, W, 3]; landmarks2d: optional [B, 68, 2] pixels (x right, y down)."""


# ----------------------------------------------------------------------------------- numpy camera


def euler_to_rotation(angles: np.ndarray) -> np.ndarray:
  """[3] (pitch, yaw, roll) -> R = Rz Ry Rx, as ``model.camera.euler_to_rotation``."""
  cx, cy, cz = np.cos(angles)
  sx, sy, sz = np.sin(angles)
  rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
  ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
  rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
  return rz @ ry @ rx


def default_focal(height: int) -> float:
  """``model.camera.Camera.for_image_size``'s focal (same field of view as 1000 px at 240 px)."""
  from model import camera  # pylint: disable=g-import-not-at-top
  from model import config  # pylint: disable=g-import-not-at-top
  return camera.DEFAULT_FOCAL * height / float(config.IMAGE_SIZE)


def project(points: np.ndarray, angles: np.ndarray, translation: np.ndarray, focal: float,
            size: tuple[int, int]) -> np.ndarray:
  """Model-space points [P, 3] cm -> pixels [P, 2] (``model.camera.project`` after the rigid pose)."""
  h, w = size
  cam = points @ euler_to_rotation(angles).T + translation
  depth = -cam[:, 2]
  return np.stack([(w - 1) / 2 + focal * cam[:, 0] / depth, (h - 1) / 2 - focal * cam[:, 1] / depth], 1)


# ------------------------------------------------------------------------------------------ fitting


def _vertex_basis(node_basis: np.ndarray, upsampling: sp.spmatrix) -> np.ndarray:
  """Graph-node basis [3G, k] (row 3 g + c) -> vertex basis [N, 3, k]."""
  k = node_basis.shape[1]
  g = node_basis.shape[0] // 3
  nodes = node_basis.reshape(g, 3, k)
  return np.stack([upsampling @ nodes[:, c, :] for c in range(3)], 1).astype(np.float32)


class LandmarkFitter:
  """Fits a linear shape model and a rigid pose to 2D landmarks (regularized least squares).

  Minimizes  sum_l ||pi(R (v_l(a, d)) + t) - x_l||^2 / sigma^2 + ||a||^2 + ||d||^2  over pose and
  coefficients, with v(a, d) = mean + B_id a + B_exp d, each basis column scaled to an RMS vertex
  displacement of ``BASIS_RMS_CM`` (so one prior fits learned and ICT bases alike), sigma =
  ``LANDMARK_SIGMA`` x image height, and the 51 inner landmarks.
  """

  def __init__(self, name: str, topology: Topology, identity_basis: np.ndarray | None,
               expression_basis: np.ndarray | None, prior_weight: float = 1.0):
    """Args: identity_basis / expression_basis: [N, 3, k] vertex bases in cm (None = no such part)."""
    self.name = name
    self.topology = topology
    n = topology.num_vertices

    def norm(b):
      if b is None or b.shape[-1] == 0:
        return np.zeros((n, 3, 0), np.float64)
      b = np.asarray(b, np.float64)
      if b.shape[:2] != (n, 3):
        raise ValueError(f'{name}: basis of shape {b.shape} for a {n}-vertex mesh.')
      rms = np.sqrt(np.mean(np.sum(b ** 2, axis=1), axis=0))
      return b * (BASIS_RMS_CM / np.maximum(rms, 1e-12))

    self.identity_basis, self.expression_basis = norm(identity_basis), norm(expression_basis)
    self.prior_weight = prior_weight
    self._lm = np.asarray(topology.landmarks)[list(FIT_LANDMARKS)]

  def fit_one(self, landmarks2d: np.ndarray, size: tuple[int, int], focal: float) -> dict:
    """Pose and coefficients for one image's [68, 2] landmarks."""
    target = np.asarray(landmarks2d, np.float64)[list(FIT_LANDMARKS)]
    mean = self.topology.mean_vertices[self._lm].astype(np.float64)
    bid, bexp = self.identity_basis[self._lm], self.expression_basis[self._lm]
    ki, ke = bid.shape[-1], bexp.shape[-1]
    sigma = LANDMARK_SIGMA * size[0]
    w = math.sqrt(self.prior_weight)

    def unpack(x):
      return x[:3], x[3:6], x[6:6 + ki], x[6 + ki:]

    def residual(x):
      ang, t, a, d = unpack(x)
      v = mean + bid @ a + bexp @ d
      r = (project(v, ang, t, focal, size) - target).ravel() / sigma
      return np.concatenate([r, w * a, w * d])

    basis = np.concatenate([bid, bexp], -1)  # [L, 3, k]

    def jacobian(x):
      """Analytic in translation and coefficients, central differences in the three angles."""
      ang, t, a, d = unpack(x)
      v = mean + bid @ a + bexp @ d
      rot = euler_to_rotation(ang)
      cam = v @ rot.T + t
      z = cam[:, 2]
      dp = np.zeros((len(v), 2, 3))  # d pixel / d camera point
      dp[:, 0, 0] = -focal / z
      dp[:, 0, 2] = focal * cam[:, 0] / z ** 2
      dp[:, 1, 1] = focal / z
      dp[:, 1, 2] = -focal * cam[:, 1] / z ** 2
      jt = dp.reshape(-1, 3) / sigma  # [2L, 3]
      jc = np.einsum('lpj,jk,lkc->lpc', dp, rot, basis).reshape(2 * len(v), basis.shape[-1]) / sigma
      ja = np.zeros((2 * len(v), 3))
      for i in range(3):
        e = np.zeros(3)
        e[i] = 1e-6
        ja[:, i] = (project(v, ang + e, t, focal, size) - project(v, ang - e, t, focal, size)).ravel() / (
            2e-6 * sigma)
      top = np.concatenate([ja, jt, jc], 1)
      prior = np.concatenate([np.zeros((ki + ke, 6)), w * np.eye(ki + ke)], 1)
      return np.concatenate([top, prior], 0)

    # Initial translation: depth from the landmark spread, x/y from their centroid.
    spread_px = np.linalg.norm(target - target.mean(0), axis=1).mean()
    spread_cm = np.linalg.norm(mean[:, :2] - mean[:, :2].mean(0), axis=1).mean()
    depth = focal * spread_cm / max(spread_px, 1e-6)
    c = target.mean(0)
    h, wid = size
    t0 = np.array([(c[0] - (wid - 1) / 2) * depth / focal - mean[:, 0].mean(),
                   -(c[1] - (h - 1) / 2) * depth / focal - mean[:, 1].mean(), -depth])
    x0 = np.concatenate([np.zeros(3), t0, np.zeros(ki + ke)])
    # Residuals (2L + k) always outnumber parameters (6 + k): Levenberg-Marquardt applies.
    sol = scipy.optimize.least_squares(residual, x0, jac=jacobian, method='lm', x_scale='jac',
                                       max_nfev=100 * (len(x0) + 1))
    ang, t, a, d = unpack(sol.x)
    rms_px = float(np.sqrt(np.mean(((project(mean + bid @ a + bexp @ d, ang, t, focal, size) - target) ** 2)
                                   .sum(1))))
    return dict(angles=ang, translation=t, alpha=a, delta=d, landmark_rms_px=rms_px)

  def reconstruct(self, images: np.ndarray | None, landmarks2d: np.ndarray | None = None,
                  image_size: tuple[int, int] | None = None) -> Reconstruction:
    """Fits each image's landmarks (required: this reconstructor does not look at pixels)."""
    if landmarks2d is None:
      raise ValueError(f'{self.name}: landmark fitting needs 2D landmarks [B, 68, 2].')
    lms = np.asarray(landmarks2d, np.float64)
    if lms.ndim != 3 or lms.shape[1:] != (68, 2):
      raise ValueError(f'{self.name}: expected landmarks [B, 68, 2], got {lms.shape}.')
    size = tuple(images.shape[1:3]) if images is not None else tuple(image_size)
    focal = default_focal(size[0])
    fits = [self.fit_one(l, size, focal) for l in lms]
    mean = self.topology.mean_vertices.astype(np.float64)
    ident = np.stack([mean + self.identity_basis @ f['alpha'] for f in fits])
    verts = ident + np.stack([self.expression_basis @ f['delta'] for f in fits])
    return Reconstruction(vertices=verts, identity_vertices=ident,
                          angles=np.stack([f['angles'] for f in fits]),
                          translation=np.stack([f['translation'] for f in fits]),
                          focal=np.full(len(fits), focal), image_size=size,
                          landmark_rms_px=np.array([f['landmark_rms_px'] for f in fits]))


# ------------------------------------------------------------------------------------------- loaders

_EXPORT_KEYS = ('mean_vertices', 'triangles', 'landmarks', 'triangle_regions', 'M_gexp', 'U_row')


def read_export(path: str | pathlib.Path) -> dict:
  """The arrays of a ``model.export`` .npz (numpy only) plus vertex bases ``identity_basis`` /
  ``expression_basis`` [N, 3, k] in cm; clear errors for missing files or keys."""
  path = pathlib.Path(path)
  if not path.is_file():
    raise FileNotFoundError(f'Model export {path} does not exist (expected a model.export .npz).')
  try:
    with np.load(path) as d:
      data = {k: d[k] for k in d.files}
  except (OSError, ValueError) as e:
    raise ValueError(f'{path}: not a readable .npz model export ({e}).') from e
  missing = [k for k in _EXPORT_KEYS if k not in data]
  if missing:
    raise ValueError(f'{path}: not a model.export file, missing arrays {missing}.')
  u = sp.csr_matrix((data['U_val'], (data['U_row'], data['U_col'])),
                    shape=tuple(int(s) for s in data['U_shape']))
  gid = data['M_gid_perp'] if 'M_gid_perp' in data else data['M_gid']
  data['identity_basis'] = _vertex_basis(gid, u)
  data['expression_basis'] = _vertex_basis(data['M_gexp'], u)
  data['config'] = json.loads(str(data['config'])) if 'config' in data else {}
  return data


def topology_from_export(data: dict) -> Topology:
  return Topology(np.asarray(data['triangles'], np.int32), np.asarray(data['landmarks']),
                  np.asarray(data['triangle_regions']), np.asarray(data['mean_vertices'], np.float32))


def template_topology(region: str = 'narrow') -> Topology:
  """The template of the synthetic world (``model.template``), mean = ICT neutral."""
  from model import template as template_lib  # pylint: disable=g-import-not-at-top
  t = template_lib.load_template(region)
  return Topology(np.asarray(t.triangles, np.int32), np.asarray(t.landmarks),
                  np.asarray(t.semantics.triangle_regions), np.asarray(t.vertices, np.float32))


def export_fitter(path: str | pathlib.Path, name: str | None = None) -> LandmarkFitter:
  """The learned linear model of an export, fitted to landmarks."""
  data = read_export(path)
  return LandmarkFitter(name or pathlib.Path(path).stem, topology_from_export(data), data['identity_basis'],
                        data['expression_basis'])


def mean_template_fitter(topology: Topology) -> LandmarkFitter:
  """Baseline: the mean face with a fitted pose."""
  return LandmarkFitter('mean template', topology, None, None)


def ict_fitter(region: str = 'narrow', identity_modes: int = 100) -> LandmarkFitter:
  """Baseline (synthetic world): the true ICT identity and expression model on the template."""
  from model import assets  # pylint: disable=g-import-not-at-top
  from model import template as template_lib  # pylint: disable=g-import-not-at-top
  t = template_lib.load_template(region)
  ident = np.moveaxis(t.map_ict(assets.load_identity_deltas(identity_modes)), 0, -1)
  expr = np.moveaxis(t.map_ict(assets.load_expression_deltas()[0]), 0, -1)
  return LandmarkFitter('ICT model (true)', template_topology(region), ident, expr)


def load_reconstructor(path: str | pathlib.Path, name: str | None = None) -> Reconstructor:
  """A reconstructor from a run folder or packaged model (``model.pretrained``; encoder, needs
  ``model.autoencoder``) or an exported .npz."""
  path = pathlib.Path(path)
  if path.is_dir():
    from model import autoencoder  # pylint: disable=g-import-not-at-top
    return _EncoderReconstructor(autoencoder, path, name)
  if path.suffix == '.npz':
    return export_fitter(path, name)
  raise ValueError(f'--model={path}: expected a run folder or a model.export .npz file.')


class _EncoderReconstructor:
  """A trained run (``model.autoencoder.Autoencoder.from_run_dir``): the paper's reconstruction path.

  Images that are not already ``image_size`` squares are cut around the face first, exactly like
  ``data.prepare`` (``data.face.crop_box_from_landmarks`` on the given or detected landmarks); the returned
  pose then refers to that crop (``crop_boxes``).
  """

  def __init__(self, module, path: pathlib.Path, name: str | None):
    from model import pretrained  # pylint: disable=g-import-not-at-top
    packaged = pretrained.is_packaged(path)
    self._ae = pretrained.load(path) if packaged else module.Autoencoder.from_run_dir(path)
    self.name = name or path.name
    t = self._ae.template
    self.topology = Topology(np.asarray(t.triangles, np.int32), np.asarray(t.landmarks),
                             np.asarray(t.semantics.triangle_regions), np.asarray(t.vertices, np.float32))
    self.size = int(self._ae.model_config.image_size)

  def _crop(self, image: np.ndarray, landmarks: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """(crop [S, S, 3], its landmarks [68, 2] crop pixels: the given ones mapped, or dlib's)."""
    from data import face as face_lib  # pylint: disable=g-import-not-at-top
    needs_landmarks = self._ae.encoder_config.landmark_input
    if image.shape[:2] == (self.size, self.size) and landmarks is None and not needs_landmarks:
      return image, np.zeros((68, 2), np.float32)  # an image-only encoder: nothing to detect
    if landmarks is None:
      faces = face_lib.FaceAnalyzer(min_face_size=1).detect(image)
      if not faces:
        raise ValueError('no face found in the image')
      landmarks = faces[0].landmarks
    landmarks = np.asarray(landmarks, np.float32)
    if image.shape[:2] == (self.size, self.size):
      return image, landmarks
    box = face_lib.crop_box_from_landmarks(landmarks)
    return (face_lib.crop_and_resize(image, box, self.size),
            face_lib.to_crop_coords(landmarks, box, self.size))

  def reconstruct(self, images: np.ndarray, landmarks2d: np.ndarray | None = None,
                  image_size: Sequence[int] | None = None, batch_size: int = 8) -> Reconstruction:
    """Crops (if needed) and encodes each image; ``landmarks2d`` [B, 68, 2] are the encoder's landmark
    input (the given detections, or dlib's when None)."""
    del image_size
    pairs = [self._crop(im, None if landmarks2d is None else landmarks2d[i]) for i, im in enumerate(images)]
    crops = np.stack([p[0] for p in pairs])
    crop_landmarks = np.stack([p[1] for p in pairs]).astype(np.float32)
    outs = []
    for start in range(0, len(crops), batch_size):
      x = crops[start:start + batch_size, None].astype(np.float32) / 255.0  # [b, 1, S, S, 3]
      lm = crop_landmarks[start:start + batch_size, None] if self._ae.encoder_config.landmark_input else None
      o = self._ae(x, lm)
      outs.append({k: np.asarray(o[k]) for k in ('vertices', 'identity_vertices', 'angles', 'translation',
                                                  'lip_masks')})
    cat = {k: np.concatenate([o[k] for o in outs]) for k in outs[0]}
    return Reconstruction(cat['vertices'][:, 0], cat['identity_vertices'], cat['angles'][:, 0],
                          cat['translation'][:, 0], np.full(len(crops), float(self._ae.camera.focal[0])),
                          (self.size, self.size), lip_masks=cat['lip_masks'][:, 0] > 0.5, images=crops)


class DetectedLandmarks:
  """A reconstructor fed dlib's 68 detected landmarks instead of the dataset's (the user's situation).

  ``detect(images)`` gives the detections and which images had a face; the evaluations (``eval.bu3dfe``,
  ``eval.lips``) run the wrapped reconstructor on the detected images only and count the others as
  skipped, so a row shows what the detector costs, its failures included. Its name is
  ``'<name> (dlib landmarks)'``.
  """

  def __init__(self, reconstructor):
    self.inner = reconstructor
    self.name = f'{reconstructor.name} (dlib landmarks)'
    self.topology = reconstructor.topology
    self._analyzer = None

  def detect(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(landmarks float32 [B, 68, 2] image pixels (zeros where none), found bool [B]) of uint8 images
    [B, H, W, 3]: the largest face dlib finds in each."""
    from data import face as face_lib  # pylint: disable=g-import-not-at-top
    if self._analyzer is None:
      self._analyzer = face_lib.FaceAnalyzer(min_face_size=1)
    out, found = np.zeros((len(images), 68, 2), np.float32), np.zeros(len(images), bool)
    for i, image in enumerate(images):
      faces = self._analyzer.detect(np.asarray(image))
      if faces:
        out[i], found[i] = np.asarray(faces[0].landmarks, np.float32), True
    return out, found

  def reconstruct(self, images: np.ndarray, landmarks2d: np.ndarray | None = None,
                  **kwargs) -> Reconstruction:
    """The wrapped reconstruction on ``landmarks2d`` (this row's detections, from ``detect``)."""
    return self.inner.reconstruct(images, landmarks2d, **kwargs)


def with_detected_landmarks(reconstructors: Sequence) -> list:
  """``DetectedLandmarks`` rows for the trained encoders among ``reconstructors`` that read landmarks."""
  return [DetectedLandmarks(r) for r in reconstructors
          if isinstance(r, _EncoderReconstructor) and r._ae.encoder_config.landmark_input]  # pylint: disable=protected-access


def render_regions(recon: Reconstruction, topology: Topology) -> np.ndarray:
  """Rasterizes each posed reconstruction: int32 [B, H, W] with -1 background, 0 skin, 1 upper lip,
  2 lower lip (``model.semantics`` labels), with the reconstruction's camera."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  import tf_ops  # pylint: disable=g-import-not-at-top
  from model import camera as camera_lib  # pylint: disable=g-import-not-at-top
  h, w = recon.image_size
  out = []
  regions = np.asarray(topology.triangle_regions, np.int32)
  for b in range(len(recon.vertices)):
    cam = camera_lib.Camera(image_size=(h, w), focal=(float(recon.focal[b]),) * 2)
    pts = recon.vertices[b] @ euler_to_rotation(recon.angles[b]).T + recon.translation[b]
    clip = camera_lib.to_clip(tf.constant(pts[None], tf.float32), cam)
    ids = tf_ops.rasterize(clip, tf.constant(topology.triangles, tf.int32), (h, w)).triangle_ids.numpy()[0]
    out.append(np.where(ids >= 0, regions[np.maximum(ids, 0)], -1))
  return np.stack(out).astype(np.int32)


def lip_masks(recon: Reconstruction, topology: Topology) -> np.ndarray:
  """bool [B, H, W, 2] upper / lower lip masks of the reconstructions (the network's own render when it
  produced one, else rasterized here)."""
  if recon.lip_masks is not None:
    return recon.lip_masks
  r = render_regions(recon, topology)
  return np.stack([r == 1, r == 2], -1)


def with_baselines(models: Sequence[str], synthetic: bool, baselines: bool = True,
                   region: str = 'narrow', ict_identity_modes: int | None = None) -> list:
  """The reconstructors of ``models`` (paths) followed by the baselines: the mean template with a fitted
  pose, and on synthetic data the true ICT model (``ict_identity_modes`` leading identity modes, default
  the synthetic world's) fitted to the same landmarks."""
  recs = [load_reconstructor(m) for m in models]
  if baselines:
    recs.append(mean_template_fitter(recs[0].topology if recs else template_topology(region)))
    if synthetic:
      if ict_identity_modes is None:
        from data.synthetic import config as synthetic_config  # pylint: disable=g-import-not-at-top
        ict_identity_modes = synthetic_config.SyntheticConfig().identity_modes
      recs.append(ict_fitter(region, ict_identity_modes))
  return recs


def reconstruct_all(rec, images: np.ndarray, landmarks: np.ndarray, batch_size: int = 16) -> Reconstruction:
  """``rec.reconstruct`` over batches (with a progress bar), concatenated."""
  from tqdm import tqdm  # pylint: disable=g-import-not-at-top
  parts = [rec.reconstruct(images[i:i + batch_size], landmarks[i:i + batch_size])
           for i in tqdm(range(0, len(images), batch_size), desc=rec.name, leave=False)]
  cat = lambda k: None if getattr(parts[0], k) is None else np.concatenate([getattr(p, k) for p in parts])
  return Reconstruction(cat('vertices'), cat('identity_vertices'), cat('angles'), cat('translation'),
                        cat('focal'), parts[0].image_size, cat('landmark_rms_px'), cat('lip_masks'),
                        cat('images'))
