r"""Table 1: geometric reconstruction error on BU-3DFE (or the synthetic test split in its layout), in mm.

  python -m eval.bu3dfe --model=RUN_OR_EXPORT --data=ROOT [--output=DIR]

Each 2D image (``<stem>_F2D.bmp``) is reconstructed and compared with its 3D scan (``<stem>_F3D.wrl``).
Two protocols, chosen per scan (``--protocol=auto``):

* ``vertex`` (same topology as the model: the synthetic test split): similarity alignment (Umeyama, with
  scale) of the reconstruction onto the ground-truth mesh over all template vertices (the narrow ICT face
  area), then the per-vertex RMSE sqrt(mean_i ||p_i - g_i||^2) with exact correspondences.
* ``scan`` (real scans, any topology): similarity from 6 landmark-group centroids (both eyes, both brows,
  nostrils <-> iBUG nose base 31-35, outer mouth; centroids need no point-to-point ordering), then
  trimmed similarity ICP (10% worst pairs ignored per step) of the scan crop onto the reconstructed
  surface, then the RMS of the exact scan-to-mesh distances over the crop: the scan vertices within
  ``--crop_radius_mm`` (default 95 mm, as in the NoW benchmark) of the scan point nearest the aligned
  reconstruction's nose tip (iBUG 30). Distances are converted back to the scan's mm.

What differs from the paper: it precomputes correspondences by non-rigid registration and reports the
per-vertex RMSE on 324 images; ``scan`` uses closest-point distances instead (no non-rigid registration),
which cannot exceed the registered per-vertex error for the same alignment. Without a trained encoder
(an exported .npz), the learned model is fitted to the image's 2D landmarks (``eval.model_io``).

Baselines in the same run: the mean template with a fitted pose, and on the synthetic split the true ICT
model fitted to the same landmarks. Landmarks come from the synthetic ground truth when present
(``--groundtruth``, default ``ROOT/../groundtruth.npz``), else from dlib on the image (a face that is
not found is a counted skip). Outputs: a table (mean and SD over images, per expression and overall, the
paper's numbers beside), ``bu3dfe.json``, and heat maps of the median and worst case of each method.
"""

from __future__ import annotations

from common import cli  # noqa: F401  (first: quiet TensorFlow start-up)

import collections
import dataclasses
import json
import pathlib
from typing import Sequence

import numpy as np

from data import bu3dfe as bu3dfe_io
from eval import errors
from eval import figures
from eval import metrics
from eval import model_io
from eval import paper

CROP_RADIUS_MM = 95.0
ICP_TRIM = 0.1
ICP_POINTS = 2000  # evenly spaced crop vertices used to fit ICP (distances use the whole crop)
CM_TO_MM = 10.0
# Landmark-group correspondences: BU-3DFE 83-point groups (data BU3DFE_LANDMARK_GROUPS) <-> iBUG-68 ranges.
GROUPS = (('right_eye', range(36, 42)), ('left_eye', range(42, 48)), ('right_brow', range(17, 22)),
          ('left_brow', range(22, 27)), ('nostrils', range(31, 36)), ('outer_mouth', range(48, 60)))
NOSE_TIP = 30
EXPRESSIONS = ('NE', 'AN', 'DI', 'FE', 'HA', 'SA', 'SU')


@dataclasses.dataclass
class ScanResult:
  stem: str
  expression: str
  protocol: str
  rmse_mm: float
  mean_mm: float
  landmark_rms_px: float | None = None


@dataclasses.dataclass
class Bu3dfeInput:
  """What the evaluation reads: scans with images and 2D landmarks, and the skips."""
  items: list  # (scan, image uint8 [H, W, 3], landmarks [68, 2])
  skipped: collections.Counter
  synthetic: bool
  identity_modes: int | None = None  # K of the synthetic world (from its ground truth)


def load_inputs(root: str | pathlib.Path, groundtruth: str | pathlib.Path | None = None,
                max_scans: int = 0) -> Bu3dfeInput:
  """Finds the scans under ``root`` with their 2D images and landmarks.

  Raises:
    FileNotFoundError / ValueError: ``root`` missing, or no ``*_F3D.wrl`` scan under it.
  """
  from PIL import Image  # pylint: disable=g-import-not-at-top
  io = bu3dfe_io
  root = pathlib.Path(root)
  if not root.is_dir():
    raise FileNotFoundError(f'--data={root}: no such folder (expected the BU-3DFE layout '
                            '<subject>/<subject>_<EXPR><II><RACE>_F3D.wrl with _F2D images).')
  scans = io.find_bu3dfe_scans(root)
  if not scans:
    raise ValueError(f'--data={root}: no BU-3DFE scans found (expected <subject>/<stem>_F3D.wrl files, e.g. '
                     'F0001/F0001_NE00WH_F3D.wrl; see shared/formats/BU3DFE.md).')
  gt_path = pathlib.Path(groundtruth) if groundtruth else root.parent / 'groundtruth.npz'
  gt_lms, modes = {}, None
  if gt_path.is_file():
    with np.load(gt_path) as g:
      gt_lms = {str(n): l for n, l in zip(g['name'], g['landmarks2d'])}
      modes = int(g['alpha'].shape[-1]) if 'alpha' in g.files else None
  elif groundtruth:
    raise FileNotFoundError(f'--groundtruth={gt_path} does not exist.')
  skipped = collections.Counter()
  items = []
  analyzer = None
  for scan in scans:
    if max_scans and len(items) >= max_scans:
      break
    if scan.image is None:
      skipped['no 2D image'] += 1
      continue
    try:
      image = np.asarray(Image.open(scan.image).convert('RGB'))
    except OSError:
      skipped['unreadable 2D image'] += 1
      continue
    key = scan.name.stem[:-len(scan.name.kind) - 1]
    lms = gt_lms.get(key)
    if lms is None:
      if analyzer is None:
        from data import face as face_lib  # pylint: disable=g-import-not-at-top
        analyzer = face_lib.FaceAnalyzer(min_face_size=1)
      faces = analyzer.detect(image)
      if not faces:
        skipped['no face found in the 2D image'] += 1
        continue
      lms = faces[0].landmarks
    items.append((scan, image, np.asarray(lms, np.float64)))
  return Bu3dfeInput(items, skipped, synthetic=bool(gt_lms), identity_modes=modes)


def _group_centroids_bnd(points: np.ndarray) -> np.ndarray:
  groups = bu3dfe_io.BU3DFE_LANDMARK_GROUPS
  return np.stack([points[list(groups[g])].mean(0) for g, _ in GROUPS])


def _group_centroids_mesh(vertices: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
  return np.stack([vertices[landmarks[list(r)]].mean(0) for _, r in GROUPS])


def vertex_protocol(pred_mm: np.ndarray, gt_mm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """Similarity-aligns ``pred`` onto ``gt`` (same topology); returns (aligned pred, per-vertex errors)."""
  sim = metrics.umeyama(pred_mm, gt_mm)
  aligned = sim.apply(pred_mm)
  return aligned, metrics.per_vertex_errors(aligned, gt_mm)


def scan_protocol(pred_mm: np.ndarray, triangles: np.ndarray, landmarks: np.ndarray, scan_mm: np.ndarray,
                  bnd_points: np.ndarray, crop_radius_mm: float = CROP_RADIUS_MM
                  ) -> tuple[np.ndarray, np.ndarray]:
  """Landmark similarity + trimmed ICP + scan-to-mesh distances (module docstring).

  Returns:
    (indices of the cropped scan vertices [P], their distances to the reconstruction in scan mm [P]).
  """
  sim0 = metrics.umeyama(_group_centroids_mesh(pred_mm, landmarks), _group_centroids_bnd(bnd_points))
  nose = sim0.apply(pred_mm[landmarks[NOSE_TIP]][None])[0]
  centre = scan_mm[np.argmin(np.linalg.norm(scan_mm - nose, axis=1))]
  crop = np.flatnonzero(np.linalg.norm(scan_mm - centre, axis=1) <= crop_radius_mm)
  if len(crop) < 10:
    raise ValueError(f'only {len(crop)} scan vertices within {crop_radius_mm} mm of the nose tip.')
  fit = crop[np.linspace(0, len(crop) - 1, min(len(crop), ICP_POINTS)).round().astype(int)]
  res = metrics.icp(scan_mm[fit], pred_mm, triangles, init=sim0.inverse(), trim_fraction=ICP_TRIM,
                    max_iterations=30, tolerance=1e-4)
  dist = metrics.point_to_surface(res.transform.apply(scan_mm[crop]), pred_mm, triangles)[0]
  return crop, dist / res.transform.scale


def _fmt(mean, sd):
  return f'{mean:.2f} ± {sd:.2f}'


def evaluate(reconstructors: Sequence, data: Bu3dfeInput, protocol: str = 'auto',
             crop_radius_mm: float = CROP_RADIUS_MM, output: pathlib.Path | None = None) -> dict:
  """Runs every reconstructor on every item; returns the results dict (also written when ``output``)."""
  from tqdm import tqdm  # pylint: disable=g-import-not-at-top
  io = bu3dfe_io
  results, skipped = {}, collections.Counter(data.skipped)
  cases = {}
  meshes, items = {}, []
  for item in data.items:
    try:
      meshes[item[0].name.stem] = io.read_wrl(item[0].wrl)
      items.append(item)
    except (OSError, ValueError) as e:  # data's FormatError is a ValueError
      skipped[f'unreadable scan ({type(e).__name__})'] += 1
  for rec in reconstructors:
    topo = rec.topology
    rows = []
    for scan, image, lms in tqdm(items, desc=rec.name, leave=False):
      mesh = meshes[scan.name.stem]
      same_topology = (len(mesh.vertices) == topo.num_vertices
                       and mesh.triangles.shape == topo.triangles.shape
                       and np.array_equal(mesh.triangles, topo.triangles))
      proto = protocol if protocol != 'auto' else ('vertex' if same_topology else 'scan')
      if proto == 'vertex' and not same_topology:
        raise ValueError(f'--protocol=vertex needs the scan to share the model topology: {scan.wrl} has '
                         f'{len(mesh.vertices)} vertices / {len(mesh.triangles)} triangles, the model '
                         f'{topo.num_vertices} / {len(topo.triangles)}.')
      if hasattr(rec, 'detect'):  # a detected-landmarks row (model_io.DetectedLandmarks)
        detected, found = rec.detect(image[None])
        if not found[0]:
          skipped[f'{rec.name}: no face detected'] += 1
          continue
        lms = detected[0]
      recon = rec.reconstruct(image[None], lms[None])
      pred = recon.vertices[0] * CM_TO_MM
      fit_rms = None if recon.landmark_rms_px is None else float(recon.landmark_rms_px[0])
      if proto == 'vertex':
        aligned, err = vertex_protocol(pred, mesh.vertices)
        case = (mesh.vertices, mesh.triangles, err)
      else:
        if scan.bnd is None:
          skipped[f'{rec.name}: no .bnd landmarks for the scan protocol'] += 1
          continue
        try:
          _, bnd_pts = io.read_bnd(scan.bnd)
        except (OSError, ValueError):
          bnd_pts = np.zeros((0, 3))
        if len(bnd_pts) != 83:
          skipped[f'{rec.name}: unreadable .bnd or not 83 landmarks'] += 1
          continue
        try:
          crop, err = scan_protocol(pred, topo.triangles, topo.landmarks, mesh.vertices, bnd_pts,
                                    crop_radius_mm)
        except ValueError as e:
          skipped[f'{rec.name}: {e}'] += 1
          continue
        keep = np.zeros(len(mesh.vertices), bool)
        keep[crop] = True
        tris = mesh.triangles[np.all(keep[mesh.triangles], axis=1)]
        full = np.zeros(len(mesh.vertices))
        full[crop] = err
        case = (mesh.vertices, tris, full)
      rows.append(ScanResult(scan.name.stem, scan.name.expression, proto, float(np.sqrt(np.mean(err ** 2))),
                             float(err.mean()), fit_rms))
      cases.setdefault(rec.name, []).append((rows[-1], case))
    results[rec.name] = summarize(rows)
  figures_out = {}
  if output is not None:
    figures_out = _heatmaps(cases, output / 'figures')
  gaps = gap_table(results) if data.synthetic else {}
  out = {'table': 'BU-3DFE geometric error (Table 1)', 'unit': 'mm', 'gap_closed': gaps,
         'metric': 'per-vertex RMSE after similarity alignment (vertex protocol) / RMS scan-to-mesh distance '
                   'after landmark similarity + ICP over a nose-centred crop (scan protocol)',
         'crop_radius_mm': crop_radius_mm, 'synthetic': data.synthetic, 'num_images': len(items),
         'skipped': dict(skipped), 'methods': results, 'paper': paper.TABLE1_GEOMETRY_MM,
         'figures': figures_out}
  if output is not None:
    output.mkdir(parents=True, exist_ok=True)
    (output / 'bu3dfe.json').write_text(json.dumps(out, indent=1))
    (output / 'bu3dfe.md').write_text(markdown(out))
  return out


# The baselines of the synthetic split's gap (``model_io.with_baselines``' names): 0 and 1 of the scale.
GAP_BASELINE, GAP_REFERENCE = 'mean template', 'ICT model (true)'


def gap_table(results: dict) -> dict:
  """Per method: the share of the gap from the mean template (0) to the true ICT model fitted to the
  landmarks (1) that it closes, paired over the images all three evaluated (``metrics.gap_closed``)."""
  if GAP_BASELINE not in results or GAP_REFERENCE not in results:
    return {}
  by_stem = {name: {r['stem']: r['rmse_mm'] for r in m['rows']} for name, m in results.items()}
  out = {}
  for name in results:
    if name in (GAP_BASELINE, GAP_REFERENCE):
      continue
    stems = sorted(set(by_stem[name]) & set(by_stem[GAP_BASELINE]) & set(by_stem[GAP_REFERENCE]))
    pick = lambda method: [by_stem[method][s] for s in stems]  # pylint: disable=cell-var-from-loop
    out[name] = metrics.gap_closed(pick(name), pick(GAP_BASELINE), pick(GAP_REFERENCE))
  return out


def summarize(rows: list[ScanResult]) -> dict:
  """Mean and SD (over images) of the RMSE, overall and per expression, plus the rows."""
  def stats(values):
    v = np.asarray(values, np.float64)
    return {'mean': float(v.mean()) if len(v) else float('nan'),
            'sd': float(v.std()) if len(v) else float('nan'), 'n': int(len(v))}
  by_expr = collections.defaultdict(list)
  for r in rows:
    by_expr[r.expression].append(r.rmse_mm)
  return {'overall': stats([r.rmse_mm for r in rows]),
          'by_expression': {e: stats(by_expr[e]) for e in EXPRESSIONS if e in by_expr},
          'protocols': sorted({r.protocol for r in rows}),
          'rows': [dataclasses.asdict(r) for r in rows]}


def _heatmaps(cases: dict, folder: pathlib.Path) -> dict:
  """Median and worst case of each method, on one colour scale (99th percentile of all vertex errors)."""
  out = {}
  errs = [case[2] for c in cases.values() for _, case in c]
  if not errs:
    return out
  vmax = max(1.0, float(np.ceil(np.percentile(np.concatenate(errs), 99))))  # one scale for all panels
  for name, c in cases.items():
    order = sorted(range(len(c)), key=lambda i: c[i][0].rmse_mm)
    for label, i in (('median', order[len(order) // 2]), ('worst', order[-1])):
      row, (verts, tris, err) = c[i]
      img = figures.error_heatmap(verts, tris, err, vmax,
                                  f'{name}: {label} {row.stem} RMSE {row.rmse_mm:.2f} mm')
      slug = ''.join(ch if ch.isalnum() else '_' for ch in name)
      path = figures.save_png(folder / f'bu3dfe_{slug}_{label}.png', img)
      out[f'{name} {label}'] = str(path)
  return out


def markdown(out: dict) -> str:
  """The table: methods (ours, baselines, paper) x overall and per expression, 'mean ± SD' in mm."""
  exprs = [e for e in EXPRESSIONS if any(e in m['by_expression'] for m in out['methods'].values())]
  head = '| method | overall (mm) | ' + ' | '.join(exprs) + ' | n |'
  lines = [f"### BU-3DFE geometric error ({'synthetic test split' if out['synthetic'] else 'scans'})", '',
           head, '|' + '---|' * (len(exprs) + 3)]
  for name, m in out['methods'].items():
    o = m['overall']
    cells = [_fmt(m['by_expression'][e]['mean'], m['by_expression'][e]['sd']) if e in m['by_expression']
             else '' for e in exprs]
    lines.append(f"| {name} | {_fmt(o['mean'], o['sd'])} | " + ' | '.join(cells) + f" | {o['n']} |")
  for name, (mean, sd) in out['paper'].items():
    lines.append(f'| {name} [paper, real BU-3DFE] | {_fmt(mean, sd)} |' + ' |' * len(exprs) + ' 324 |')
  gaps = out.get('gap_closed') or {}
  if gaps:
    lines += ['', f'Share of the gap from the {GAP_BASELINE} (0%) to the {GAP_REFERENCE} (100%) closed, '
              'paired over images, 95% bootstrap interval: ' + '; '.join(
                  f"{k} {g['fraction']:.0%} [{g['ci_low']:.0%}, {g['ci_high']:.0%}] (n {g['n']})"
                  for k, g in gaps.items()) + '.']
  lines += ['', f"Metric: {out['metric']} (crop radius {out['crop_radius_mm']:g} mm). "
            f"Images: {out['num_images']}; skipped: {out['skipped'] or 'none'}.", '']
  return '\n'.join(lines)


@errors.friendly('eval.bu3dfe')
def main(argv: Sequence[str]) -> None:
  from absl import flags  # pylint: disable=g-import-not-at-top
  del argv
  f = flags.FLAGS
  data = load_inputs(f.data, f.groundtruth, f.max_scans)
  recs = model_io.with_baselines(f.model, data.synthetic, f.baselines, ict_identity_modes=data.identity_modes)
  out = evaluate(recs, data, f.protocol, f.crop_radius_mm, pathlib.Path(f.output) if f.output else None)
  print(markdown(out))
  if not any(m['overall']['n'] for m in out['methods'].values()):
    import sys  # pylint: disable=g-import-not-at-top
    reasons = ', '.join(f'{k} {v}' for k, v in sorted(out['skipped'].items())) or 'no images'
    print(f'eval.bu3dfe: error: no image could be evaluated ({reasons})', file=sys.stderr)
    raise SystemExit(1)


def define_flags() -> None:
  from absl import flags  # pylint: disable=g-import-not-at-top
  flags.DEFINE_list('model', [], 'Run folders or model.export .npz files (several: side by side).')
  flags.DEFINE_string('data', None, 'BU-3DFE root (subject folders) or the synthetic test/bu3dfe folder.')
  flags.DEFINE_string('groundtruth', None, 'Synthetic ground truth npz (default ROOT/../groundtruth.npz '
                      'when it exists: landmarks from it and the true-ICT baseline).')
  flags.DEFINE_enum('protocol', 'auto', ['auto', 'vertex', 'scan'], 'Error protocol (module docstring).')
  flags.DEFINE_float('crop_radius_mm', CROP_RADIUS_MM,
                     'Scan crop radius around the nose tip (scan protocol).')
  flags.DEFINE_integer('max_scans', 0, 'Evaluate at most this many images (0: all).')
  flags.DEFINE_bool('baselines', True, 'Also evaluate the mean template (and the true ICT model on '
                    'synthetic data).')
  flags.DEFINE_string('output', None, 'Folder for bu3dfe.json, bu3dfe.md and the heat maps.')
  flags.mark_flag_as_required('data')


if __name__ == '__main__':
  define_flags()
  cli.run(main)
