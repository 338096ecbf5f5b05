r"""68-point landmark accuracy on real photos with hand-made 300-W truth: ``python -m eval.landmarks``.

  python -m eval.landmarks --model=runs/demo --data=../shared/media/landmarks300w --output=out/landmarks

``--data``: a folder of images, each with its 300-W ``.pts`` file of the same stem (68 points, 1-based
pixels; ``data.landmarks_eval.read_pts``). Each image goes through ``eval.reconstruct``'s path (dlib
detection and 68 landmarks, the 240 px crop of ``data.face_frames.image_faces``, faces under
``--min_face_size`` = 200 crop pixels left out as there, the network on the crop:
``eval.reconstruct.reconstruct_face``); the face evaluated is the detection whose landmark box overlaps the
annotation's most (intersection over union >= ``MATCH_IOU``). Four predictions per face, all in input-image
pixels:

* the model: the reconstruction's 68 projected landmarks (jaw 0-16 chosen on the silhouette in the
  reconstructed pose), mapped from the crop back to the image (``landmarks68_image_px`` of
  ``eval.reconstruct``'s ``params.json``);
* ``dlib``: the detector's own 68 landmarks (what the model's input crop is built from);
* ``mean template``: the model's mean face with only its rigid pose fitted to dlib's 51 inner landmarks in
  the crop (``eval.model_io.mean_template_fitter``, the model's camera), projected with the same dynamic jaw;
* ``model, pose refitted``: the model's reconstructed mesh (identity + expression) with its rigid pose
  fitted the same way (what ``eval.reconstruct --fit_pose``, its default for photos, outputs): the shape the
  encoder reads, without its pose regression.

NME = mean point-to-point error / the inter-ocular distance of the truth (outer eye corners, points 36 and
45, 0-based), as in 300-W; for all 68 points and the 51 inner points (17-67, without the jaw). Per image and
as a mean with a 95% Student-t confidence interval over the evaluated images (``metrics.mean_interval``),
plus the paired per-image difference of the model against each baseline (its own t interval: a difference
whose interval excludes 0 is measured). An image whose annotated face is not found (``no_face``,
``face_too_small``, ``no_matching_face``), whose ``.pts`` is malformed or which does not load is a counted
failure of every method, never fatal.

Writes a table to stdout and ``landmarks.json`` / ``landmarks.md`` to ``--output``. Exit status 0 when every
image was evaluated, 1 when some failed (or none was evaluated), 2 for a bad ``--model`` / ``--data``, a
missing or unknown flag.
"""

from __future__ import annotations

from common import cli  # noqa: F401  (first: quiet TensorFlow start-up)

import collections
import json
import pathlib
import sys
from typing import Sequence

import numpy as np
from absl import flags

from eval import metrics

FLAGS = flags.FLAGS

# 'model, pose refitted': the model's reconstructed mesh with its rigid pose fitted to dlib's 51 inner
# landmarks exactly as the mean template's (separates the shape the encoder reads from its pose regression).
POSE_REFIT = 'model, pose refitted'
METHODS = ('model', POSE_REFIT, 'dlib', 'mean template')
SUBSETS = {'68': None, '51': metrics.INNER_LANDMARKS}
# Smallest landmark-box overlap between a detection and the annotation for the detection to be that face.
MATCH_IOU = 0.3
NO_MATCHING_FACE = 'no_matching_face'
BAD_ANNOTATION = 'bad_annotation'
MISSING_IMAGE = 'missing_image'


def define_flags() -> None:
  """The command-line flags (defined only when run as a program, so that tests can import the module)."""
  flags.DEFINE_string('model', None, 'Run folder of training.main (or a personalised model folder).')
  flags.DEFINE_string('data', None, 'Folder of images with 300-W .pts files of the same stem.')
  flags.DEFINE_string('output', None, 'Folder for landmarks.json and landmarks.md (optional).')
  flags.DEFINE_integer('min_face_size', 200, 'Smallest face crop side reconstructed, source pixels, as in '
                       'eval.reconstruct (smaller annotated faces are failures); it also sets the scale '
                       'the detector sees (data.face.detection_scale).')
  flags.DEFINE_bool('progress', True, 'Show a tqdm progress bar.')


def list_annotated(folder: str | pathlib.Path) -> tuple[list[tuple[pathlib.Path, pathlib.Path | None]], int]:
  """(annotation .pts, its image or None) for every ``.pts`` of a folder (sorted), and the number of images
  without a ``.pts``.

  Raises:
    FileNotFoundError: the folder does not exist. ValueError: it holds no ``.pts`` file.
  """
  from data import media  # pylint: disable=g-import-not-at-top
  folder = pathlib.Path(folder)
  if not folder.is_dir():
    raise FileNotFoundError(f'--data={folder}: not a folder (expected images with 300-W .pts files)')
  files = sorted(p for p in folder.iterdir() if p.is_file())
  images = {p.stem: p for p in files if media.is_image(p)}
  pts = [p for p in files if p.suffix.lower() == '.pts']
  if not pts:
    raise ValueError(f'--data={folder}: no .pts annotation files')
  return [(p, images.get(p.stem)) for p in pts], len(set(images) - {p.stem for p in pts})


def _box_iou(a: np.ndarray, b: np.ndarray) -> float:
  """Intersection over union of the bounding boxes of two point sets [P, 2]."""
  (al, at), (ar, ab) = a.min(0), a.max(0)
  (bl, bt), (br, bb) = b.min(0), b.max(0)
  inter = max(0.0, min(ar, br) - max(al, bl)) * max(0.0, min(ab, bb) - max(at, bt))
  union = (ar - al) * (ab - at) + (br - bl) * (bb - bt) - inter
  return float(inter / union) if union > 0 else 0.0


def project_landmarks68(ae, vertices: np.ndarray, angles: np.ndarray, translation: np.ndarray) -> np.ndarray:
  """The 68 landmarks (dynamic jaw) of model-space meshes in a pose, with the model's camera.

  Args:
    ae: the autoencoder (its ``mesh`` semantics and ``camera``).
    vertices: [B, N, 3] cm.
    angles: [B, 3] (pitch, yaw, roll) radians. translation: [B, 3] cm.

  Returns:
    float64 [B, 68, 2] crop pixels (x right, y down).
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from model import camera as camera_lib  # pylint: disable=g-import-not-at-top
  from model import image_formation  # pylint: disable=g-import-not-at-top
  f32 = lambda x: tf.constant(np.asarray(x, np.float32))
  rotation, t = image_formation.pose_to_rotation_translation((f32(angles), f32(translation)))
  cam_v = camera_lib.rigid_transform(f32(vertices), rotation, t)
  return image_formation.project_landmarks(cam_v, rotation, ae.camera, ae.mesh)[0].numpy().astype(np.float64)


def template_fitter(ae):
  """The pose-only baseline on the model's own mean face (``model_io.mean_template_fitter``)."""
  from eval import model_io  # pylint: disable=g-import-not-at-top
  t = ae.template
  topo = model_io.Topology(np.asarray(t.triangles, np.int32), np.asarray(t.landmarks),
                           np.asarray(t.semantics.triangle_regions),
                           np.asarray(ae.face_model.mean_vertices.numpy(), np.float32))
  return model_io.mean_template_fitter(topo)


def predict(ae, fitter, fc) -> dict[str, np.ndarray]:
  """The methods' 68 landmarks [68, 2] (input-image pixels) for one ``data.face_frames.FaceCrop``."""
  from data import face as face_lib  # pylint: disable=g-import-not-at-top
  from eval import reconstruct  # pylint: disable=g-import-not-at-top
  _, params, decoded = reconstruct.reconstruct_face(ae, fc)
  size = int(ae.model_config.image_size)
  detected = np.asarray(fc.frame.landmarks, np.float64)[None]
  fit = fitter.reconstruct(None, detected, image_size=(size, size))
  tpl = project_landmarks68(ae, fit.vertices, fit.angles, fit.translation)[0]
  # The model's own mesh (identity + expression) with the template's pose fit (eval.reconstruct --fit_pose).
  angles, translation = reconstruct.fit_pose_to_landmarks(ae, decoded['vertices'][0], fc.frame.landmarks)
  refit = project_landmarks68(ae, decoded['vertices'][:1], angles[None], translation[None])[0]
  return {'model': np.asarray(params['landmarks68_image_px'], np.float64),
          POSE_REFIT: face_lib.from_crop_coords(refit, fc.frame.crop_box, size),
          'dlib': np.asarray(fc.detected_landmarks, np.float64),
          'mean template': face_lib.from_crop_coords(tpl, fc.frame.crop_box, size)}


def evaluate(ae, data: str | pathlib.Path, min_face_size: int = 200, progress: bool = True) -> dict:
  """Per-image NMEs of the three methods on an annotated folder, and their summaries (see the module
  docstring). Returns the ``landmarks.json`` dictionary."""
  import tqdm  # pylint: disable=g-import-not-at-top
  from common.errors import FormatError  # pylint: disable=g-import-not-at-top
  from data import face as face_lib  # pylint: disable=g-import-not-at-top
  from data import face_frames  # pylint: disable=g-import-not-at-top
  from data import landmarks_eval  # pylint: disable=g-import-not-at-top
  from data import media  # pylint: disable=g-import-not-at-top
  from data import preprocess  # pylint: disable=g-import-not-at-top
  pairs, unannotated = list_annotated(data)
  analyzer = face_lib.FaceAnalyzer(min_face_size=min_face_size)
  fitter = template_fitter(ae)
  rows = []
  for pts, image in tqdm.tqdm(pairs, desc='images', disable=not progress):
    row = {'image': image.name if image else pts.stem, 'annotation': pts.name}
    rows.append(row)
    if image is None:
      row.update(status=MISSING_IMAGE, detail=f'no image beside {pts.name}')
      continue
    try:
      gt = landmarks_eval.read_pts(pts)
      if gt.shape != (68, 2):
        raise FormatError(pts, f'{len(gt)} points, expected the 68 of 300-W')
    except FormatError as e:
      row.update(status=BAD_ANNOTATION, detail=str(e))
      continue
    iod = float(np.linalg.norm(gt[36] - gt[45]))
    if iod <= 0:
      row.update(status=BAD_ANNOTATION, detail='points 36 and 45 coincide')
      continue
    row['interocular_px'] = iod
    try:
      faces = face_frames.image_faces(image, analyzer, min_face_size)
    except media.Drop as e:
      row.update(status=e.reason, detail=str(e))
      if e.reason == preprocess.FACE_TOO_SMALL:  # too small, or is the annotated face not found at all?
        pixels, _, scale = media.load_image(image)
        small = analyzer.detect(pixels)
        if max((_box_iou((f.landmarks + 0.5) / scale - 0.5, gt) for f in small), default=0.0) < MATCH_IOU:
          row.update(status=NO_MATCHING_FACE,
                     detail=f'{len(small)} faces, all too small, none of them the annotated one')
      continue
    ious = [_box_iou(fc.detected_landmarks, gt) for fc in faces]
    best = int(np.argmax(ious))
    if ious[best] < MATCH_IOU:
      row.update(status=NO_MATCHING_FACE,
                 detail=f'{len(faces)} faces, best landmark-box IoU {ious[best]:.2f}')
      continue
    fc = faces[best]
    pred = predict(ae, fitter, fc)
    row.update(status='ok', face_index=fc.face_index, match_iou=ious[best],
               face_box=[float(v) for v in fc.face_box], crop_box=[float(v) for v in fc.frame.crop_box],
               nme={m: {s: metrics.landmark_nme(pred[m], gt, points=idx) for s, idx in SUBSETS.items()}
                    for m in METHODS},
               landmarks68_image_px={m: pred[m].tolist() for m in METHODS})
  return summarize(rows, unannotated, str(data), str(getattr(ae, 'restored_from', '')))


def summarize(rows: list[dict], unannotated: int = 0, data: str = '', model: str = '') -> dict:
  """Means with 95% t intervals per method and subset, paired model - baseline differences, failures."""
  ok = [r for r in rows if r['status'] == 'ok']
  failures = collections.Counter(r['status'] for r in rows if r['status'] != 'ok')
  summary = {}
  for m in METHODS:
    summary[m] = {}
    for s in SUBSETS:
      mean, half = metrics.mean_interval([r['nme'][m][s] for r in ok])
      summary[m][s] = {'mean': mean, 'ci95': half, 'n': len(ok), 'failed': len(rows) - len(ok)}
  paired = {}
  for base in METHODS[1:]:
    paired[f'model - {base}'] = {
        s: dict(zip(('mean', 'ci95'), metrics.mean_interval([r['nme']['model'][s] - r['nme'][base][s]
                                                              for r in ok]))) for s in SUBSETS}
  return {'table': '300-W 68-point NME (inter-ocular: outer eye corners 36-45)', 'data': data, 'model': model,
          'normalisation': 'outer eye corners (points 36 and 45, 0-based) of the ground truth',
          'interval': '95% Student-t interval of the mean over images (half-width)',
          'subsets': {'68': 'all 68 points', '51': 'inner 51 points 17-67 (no jaw)'},
          'images': len(rows), 'evaluated': len(ok), 'failed': len(rows) - len(ok),
          'failures': dict(failures), 'images_without_annotation': unannotated,
          'summary': summary, 'paired': paired, 'per_image': rows}


def _fmt(mean: float, half: float) -> str:
  if not np.isfinite(mean):
    return '-'
  return f'{mean:.4f} ± {half:.4f}' if np.isfinite(half) else f'{mean:.4f}'


def markdown(out: dict) -> str:
  """The summary and per-image tables (markdown)."""
  lines = [f"### {out['table']}", '',
           f"{out['evaluated']} of {out['images']} images evaluated; failures: {out['failures'] or 'none'}. "
           'Mean ± half-width of the 95% Student-t interval over the evaluated images.', '',
           '| method | NME 68 | NME 51 (no jaw) | images | failed |', '|---|---|---|---|---|']
  for m in METHODS:
    s = out['summary'][m]
    lines.append(f"| {m} | {_fmt(s['68']['mean'], s['68']['ci95'])} | "
                 f"{_fmt(s['51']['mean'], s['51']['ci95'])} | {s['68']['n']} | {s['68']['failed']} |")
  for name, p in out['paired'].items():
    lines.append(f"| {name} (paired per image) | {_fmt(p['68']['mean'], p['68']['ci95'])} | "
                 f"{_fmt(p['51']['mean'], p['51']['ci95'])} | | |")
  lines += ['', '| image | inter-ocular px | ' + ' | '.join(f'{m} 68 / 51' for m in METHODS) + ' |',
            '|---|---|' + '---|' * len(METHODS)]
  for r in out['per_image']:
    if r['status'] == 'ok':
      cells = ' | '.join(f"{r['nme'][m]['68']:.4f} / {r['nme'][m]['51']:.4f}" for m in METHODS)
    else:
      cells = ' | '.join(f"failed: {r['status']}" for _ in METHODS)
    iod = f"{r['interocular_px']:.1f}" if 'interocular_px' in r else '-'
    lines.append(f"| {r['image']} | {iod} | {cells} |")
  return '\n'.join(lines) + '\n'


def write(out: dict, output: str | pathlib.Path) -> None:
  output = pathlib.Path(output)
  output.mkdir(parents=True, exist_ok=True)
  (output / 'landmarks.json').write_text(json.dumps(out, indent=1))
  (output / 'landmarks.md').write_text(markdown(out))


def main(argv: Sequence[str]) -> None:
  from model import reconstruction  # pylint: disable=g-import-not-at-top
  if len(argv) > 1:
    print(f'eval.landmarks: error: unexpected arguments {" ".join(argv[1:])}', file=sys.stderr)
    sys.exit(2)
  for name in ('model', 'data'):
    if not getattr(FLAGS, name):
      print(f'eval.landmarks: error: --{name} is required', file=sys.stderr)
      sys.exit(2)
  try:
    ae = reconstruction.load_autoencoder(FLAGS.model)
    out = evaluate(ae, FLAGS.data, FLAGS.min_face_size, FLAGS.progress)
  except (FileNotFoundError, ValueError) as e:
    print(f'eval.landmarks: error: {e}', file=sys.stderr)
    sys.exit(2)
  print(markdown(out))
  if FLAGS.output:
    write(out, FLAGS.output)
    print(f'written: {pathlib.Path(FLAGS.output) / "landmarks.json"}, landmarks.md')
  if out['failed'] or not out['evaluated']:
    print(f"eval.landmarks: {out['failed']} of {out['images']} images failed: {out['failures']}",
          file=sys.stderr)
    sys.exit(1)


def parse_flags_or_exit(argv: Sequence[str]) -> None:
  """Parses the flags once before ``absl.app.run`` so that a flag error exits with status 2 (absl: 1)."""
  from absl import app  # pylint: disable=g-import-not-at-top
  app.define_help_flags()
  try:
    FLAGS(list(argv))
  except flags.Error as e:
    print(f'eval.landmarks: error: {e} (see --helpshort)', file=sys.stderr)
    sys.exit(2)


if __name__ == '__main__':
  define_flags()
  parse_flags_or_exit(sys.argv)
  cli.run(main)
