r"""Reconstruct faces in images and videos: ``python -m eval.reconstruct``.

  python -m eval.reconstruct --model=runs/demo --input=photo.jpg --output=out/
  python -m eval.reconstruct --model=runs/demo --input=clip.mp4 --output=out/ --min_face_size=100
  python -m eval.reconstruct --model=runs/demo --input=folder/ --output=out/     # images and videos

``--model``: a run folder of ``training.main`` or a personalised model folder (``--stage=personalize``).
Faces are found and cropped with the project's preprocessing (``data.face_frames``: dlib, 240 px crops).

Per face (``<output>/<file stem>[_face<k>]/``):

* ``params.npz`` / ``params.json``: alpha, beta, delta, sh, angles, translation (per frame for a video:
  ``[T, ...]``, with ``frame_index`` and, when smoothing is on, the unsmoothed ``raw_*`` arrays), and where
  the face is in the input, in input-image pixels (pixel-centre coordinates, x right, y down; per frame
  ``[T, ...]`` for a video): ``landmarks68_image_px`` [68, 2] the reconstruction's 68 projected landmarks
  (iBUG order, jaw 0-16 on the silhouette), ``face_box`` [4] dlib's detection (left, top, right, bottom),
  ``crop_box`` [3] (x0, y0, side) and ``crop_box_ltrb`` [4] the square the 240 px crop was cut from;
* ``full.{obj,ply}`` (identity + expression), ``identity.{obj,ply}`` (the person's neutral face: identity
  only), ``expression.{obj,ply}`` (the mean identity with this expression); vertex colours = albedo; cm;
  for a video the frame in the middle of the clip;
* ``textured.obj`` + ``textured.mtl`` + ``textured_albedo.png`` (albedo baked into the template UV map);
* ``model.glb`` (``model.gltf``: neutral identity mesh, expression basis as morph targets, albedo texture;
  for a video the per-frame expression weights as an animation);
* ``overlay.png``: input | render over the input | shaded geometry (a video: 4 frames spread over it);
* a video also: ``overlay.mp4`` (the same three panels per frame, H.264).

Video: the largest face of every frame is reconstructed; identity / albedo from ``N_f`` frames spread over
the clip, pose / expression / light per frame (``model.reconstruction``). Pose (angles, translation) and
expression are smoothed with the One Euro filter (``eval.smoothing``; ``--nosmooth`` turns it off) and the
jitter (mean |second difference|) of each is reported with and without smoothing in ``summary.json``.

``summary.json``: per input file frames seen / reconstructed and the reasons for the rest (``no_face``,
``face_too_small``, ``unreadable_image``, ``corrupt_video``, ...), and the totals; ``seen = reconstructed +
sum(skipped)`` for every file. A bad file or frame is counted, never fatal. Exit status 1 when no face at
all was reconstructed, 2 for a bad ``--model`` or ``--input``.
"""

from common import cli  # noqa: F401  (must precede TensorFlow)

import collections
import dataclasses
import errno
import json
import pathlib
import shutil
import sys
from typing import Optional

import numpy as np
from absl import flags

FLAGS = flags.FLAGS


def define_flags() -> None:
  """The command-line flags (defined only when run as a program, so that tests can import the module)."""
  flags.DEFINE_string('model', None, 'Run folder (training.main), personalised or packaged model folder '
                      '(default: the pretrained model shipped with the package, model.pretrained).')
  flags.DEFINE_string('input', None, 'Image, video, or folder of images and videos.')
  flags.DEFINE_string('output', None, 'Output folder (created).')
  flags.DEFINE_integer('min_face_size', 200, 'Smallest face crop side kept, source pixels (paper: 200).')
  flags.DEFINE_bool('smooth', True, 'One Euro smoothing of per-frame pose and expression (videos).')
  flags.DEFINE_float('min_cutoff', 1.0, 'One Euro min_cutoff, Hz.')
  flags.DEFINE_float('beta', 0.3, 'One Euro speed coefficient.')
  flags.DEFINE_integer('max_frames', 0, 'Frames read per video (0: all).')
  flags.DEFINE_integer('stride', 1, 'Read every stride-th video frame.')
  flags.DEFINE_integer('texture_size', 512, 'Side of the baked albedo texture, pixels.')
  flags.DEFINE_bool('progress', True, 'Show tqdm progress bars.')
  flags.DEFINE_bool('fit_pose', True, "Photos: fit the reconstruction's rigid pose to the detected landmarks "
                    "(the encoder's pose is kept in params as encoder_angles / encoder_translation; on the "
                    '300-W photos NME 0.090 -> 0.049, eval.landmarks). Videos keep the encoder\'s smoothed '
                    'pose.')


@dataclasses.dataclass(frozen=True)
class Options:
  """Reconstruction settings (the flags)."""
  min_face_size: int = 200
  smooth: bool = True
  min_cutoff: float = 1.0
  beta: float = 0.3
  max_frames: int = 0
  stride: int = 1
  texture_size: int = 512
  progress: bool = True
  fit_pose: bool = False


def _u8(x):
  return np.round(np.clip(x, 0.0, 1.0) * 255).astype(np.uint8)


def expression_basis(ae) -> np.ndarray:
  """float32 [m_e, N, 3]: the vertex displacement of each expression basis vector (cm)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  k = ae.model_config.num_expression
  out = ae.face_model(alpha=tf.zeros([k, ae.model_config.num_identity]), delta=tf.eye(k),
                      beta=tf.zeros([k, ae.model_config.num_albedo]))
  return out['vertices'].numpy() - ae.face_model.mean_vertices.numpy()[None]


def panels(ae, crops: np.ndarray, decoded: dict, params: dict) -> np.ndarray:
  """uint8 [T, S, 3 S, 3]: input | render over the input | shaded geometry."""
  from model import reconstruction  # pylint: disable=g-import-not-at-top
  geo = reconstruction.geometry_images(ae, decoded['vertices'], params['angles'], params['translation'])
  over = reconstruction.overlay(crops, decoded['image'], decoded['mask'])
  return _u8(np.concatenate([crops, over, geo], axis=2))


def write_face(ae, out_dir: pathlib.Path, params: dict, decoded: dict, crops: np.ndarray, opts: Options,
               fps: float = 25.0, basis: Optional[np.ndarray] = None) -> dict:
  """Writes one face's outputs (see the module docstring); returns {name: path}."""
  from model import export  # pylint: disable=g-import-not-at-top
  from model import gltf  # pylint: disable=g-import-not-at-top
  from model import visualize  # pylint: disable=g-import-not-at-top
  from PIL import Image  # pylint: disable=g-import-not-at-top
  out_dir.mkdir(parents=True, exist_ok=True)
  t = len(params['delta'])
  mid = t // 2
  np.savez(out_dir / 'params.npz', **{k: np.asarray(v) for k, v in params.items()})
  (out_dir / 'params.json').write_text(json.dumps({k: np.asarray(v).tolist() for k, v in params.items()}))
  tpl = ae.template
  mean = ae.face_model.mean_vertices.numpy()
  albedo = np.clip(decoded['albedo'], 0.0, 1.0)
  identity = decoded['identity_vertices']
  full = decoded['vertices'][mid]
  meshes = {'full': full, 'identity': identity, 'expression': mean + (full - identity)}
  files = {}
  for name, v in meshes.items():
    files[f'{name}.obj'] = export.write_obj(out_dir / f'{name}.obj', v, tpl.triangles, albedo)
    files[f'{name}.ply'] = export.write_ply(out_dir / f'{name}.ply', v, tpl.triangles, albedo)
  files['textured.obj'] = export.write_textured_obj(out_dir / 'textured.obj', full, tpl, albedo,
                                                    opts.texture_size)
  texture = np.asarray(Image.open(out_dir / 'textured_albedo.png').convert('RGB'))
  basis = expression_basis(ae) if basis is None else basis
  files['model.glb'] = gltf.write_glb(out_dir / 'model.glb', identity, tpl.triangles, tpl.uv, tpl.triangle_uv,
                                      texture, basis, np.asarray(params['delta'], np.float64), fps=fps)
  show = np.unique(np.minimum(((np.arange(4) + 0.5) * t / 4).astype(int), t - 1))
  pics = panels(ae, crops[show], {k: decoded[k][show] for k in ('vertices', 'image', 'mask')},
                {k: np.asarray(params[k])[show] for k in ('angles', 'translation')})
  files['overlay.png'] = visualize.save_png(out_dir / 'overlay.png', np.concatenate(list(pics), axis=0))
  return files


def _face_dir(output: pathlib.Path, path: pathlib.Path, face: int, faces: int) -> pathlib.Path:
  """``<output>/<stem>[_face<k>]``; ``<stem>_<ext>`` when another image or video beside the input has the
  same stem (``person.jpg`` and ``person.png`` -> ``person_jpg/``, ``person_png/``: neither overwrites)."""
  from data import media  # pylint: disable=g-import-not-at-top
  name = path.stem
  try:
    twins = [p for p in path.parent.iterdir() if p.stem == path.stem and p.name != path.name
             and (media.is_image(p) or media.is_video(p))]
  except OSError:
    twins = []
  if twins:
    name = f'{path.stem}_{path.suffix.lstrip(".")}'
  return output / (name + (f'_face{face}' if faces > 1 else ''))


def image_placement(landmarks_crop: np.ndarray, crop_box, face_box, size: int) -> dict[str, np.ndarray]:
  """Where a face is in its input image (the ``params.json`` fields of the module docstring).

  Args:
    landmarks_crop: [..., 68, 2] projected landmarks in crop pixels (``decode_frames``' ``landmarks2d``).
    crop_box: [..., 3] (x0, y0, side) of each crop in input pixels.
    face_box: [..., 4] (left, top, right, bottom) detection boxes in input pixels.
    size: side of the crops (pixels).

  Returns:
    ``landmarks68_image_px`` [..., 68, 2], ``face_box`` [..., 4], ``crop_box`` [..., 3], ``crop_box_ltrb``
    [..., 4] (float64, input pixels).
  """
  from data import face as face_lib  # pylint: disable=g-import-not-at-top
  crop_box = np.asarray(crop_box, np.float64)
  lm = np.asarray(landmarks_crop, np.float64)
  if crop_box.ndim == 2:  # one crop box per frame
    image_lm = np.stack([face_lib.from_crop_coords(l, b, size) for l, b in zip(lm, crop_box)])
  else:
    image_lm = face_lib.from_crop_coords(lm, crop_box, size)
  ltrb = np.concatenate([crop_box[..., :2], crop_box[..., :2] + crop_box[..., 2:3]], -1)
  return {'landmarks68_image_px': image_lm, 'face_box': np.asarray(face_box, np.float64),
          'crop_box': crop_box, 'crop_box_ltrb': ltrb}


def fit_pose_to_landmarks(ae, vertices: np.ndarray, landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """The rigid pose that puts a reconstructed mesh's landmarks on detected ones.

  The same fit as the mean-template baseline (``eval.model_io.mean_template_fitter``: Levenberg-Marquardt on
  the 51 inner landmarks, the model's camera), applied to the model's own mesh.

  Args:
    ae: the autoencoder (its template's topology and landmark vertices).
    vertices: float [N, 3] the reconstructed mesh, model space (cm).
    landmarks: float [68, 2] detected landmarks, crop pixels.

  Returns:
    (angles [3] radians (pitch, yaw, roll), translation [3] cm), float32.
  """
  from eval import model_io  # pylint: disable=g-import-not-at-top
  t = ae.template
  size = int(ae.model_config.image_size)
  topo = model_io.Topology(np.asarray(t.triangles, np.int32), np.asarray(t.landmarks),
                           np.asarray(t.semantics.triangle_regions), np.asarray(vertices, np.float32))
  fit = model_io.mean_template_fitter(topo).reconstruct(None, np.asarray(landmarks, np.float64)[None],
                                                         image_size=(size, size))
  return fit.angles[0].astype(np.float32), fit.translation[0].astype(np.float32)


def reconstruct_face(ae, fc, fit_pose: bool = False) -> tuple[np.ndarray, dict, dict]:
  """The reconstruction of one face of an image (a ``data.face_frames.FaceCrop``), as this CLI makes it.

  ``fit_pose``: replace the encoder's rigid pose by the pose fitted to the detected landmarks
  (``fit_pose_to_landmarks``; the encoder's own pose is kept as ``encoder_angles`` /
  ``encoder_translation``).

  Returns:
    (crops float32 [1, S, S, 3] in [0, 1]; params of ``model.reconstruction.encode_frames`` plus the
    ``image_placement`` fields for this one face (``landmarks68_image_px`` [68, 2], ...); decoded outputs
    of ``decode_frames`` (``landmarks2d`` [1, 68, 2] crop pixels, ...)).
  """
  from model import reconstruction  # pylint: disable=g-import-not-at-top
  crops = fc.frame.image[None].astype(np.float32) / 255.0
  params = reconstruction.encode_frames(ae, crops, fc.frame.landmarks[None])
  decoded = reconstruction.decode_frames(ae, params)
  if fit_pose:
    angles, translation = fit_pose_to_landmarks(ae, decoded['vertices'][0], fc.frame.landmarks)
    params = {**params, 'encoder_angles': params['angles'], 'encoder_translation': params['translation'],
              'angles': angles[None], 'translation': translation[None]}
    decoded = reconstruction.decode_frames(ae, params)
  place = image_placement(decoded['landmarks2d'][0], fc.frame.crop_box, fc.face_box, crops.shape[1])
  return crops, {**params, **place}, decoded


def reconstruct_image(ae, path, output, opts, analyzer) -> dict:
  """One image file: every usable face. Returns its summary entry."""
  from data import face_frames  # pylint: disable=g-import-not-at-top
  faces = face_frames.image_faces(path, analyzer, opts.min_face_size)
  dirs = []
  for fc in faces:
    crops, params, decoded = reconstruct_face(ae, fc, opts.fit_pose)
    d = _face_dir(output, path, fc.face_index, len(faces))
    write_face(ae, d, params, decoded, crops, opts)
    dirs.append(str(d))
  entry = {'frames_seen': 1, 'frames_reconstructed': 1, 'faces': len(faces), 'skipped': {}, 'outputs': dirs}
  if _is_grayscale(path):
    entry['conversions'] = ['grayscale']
    entry['note'] = GRAYSCALE_NOTE
  return entry


GRAYSCALE_NOTE = ('grayscale image: converted to RGB by repeating its channel; the encoder learned from '
                  'colour images, so geometry and albedo can differ from those of the colour original')


def _is_grayscale(path: pathlib.Path) -> bool:
  """Whether an image file stores one channel (gray, gray + alpha, 1-bit, 16-bit or float gray)."""
  from PIL import Image  # pylint: disable=g-import-not-at-top
  try:
    with Image.open(path) as im:
      return im.mode in ('1', 'L', 'LA', 'La', 'I', 'I;16', 'I;16B', 'I;16L', 'F')
  except (OSError, ValueError):
    return False


def reconstruct_video(ae, path, output, opts, analyzer) -> dict:
  """One video: the largest face of every frame. Returns its summary entry."""
  import tqdm  # pylint: disable=g-import-not-at-top
  from data import face_frames  # pylint: disable=g-import-not-at-top
  from data import media  # pylint: disable=g-import-not-at-top
  from data import preprocess  # pylint: disable=g-import-not-at-top
  from eval import smoothing  # pylint: disable=g-import-not-at-top
  from model import reconstruction  # pylint: disable=g-import-not-at-top
  total, fps = face_frames.video_info(path)
  fps_used = fps / opts.stride
  expected = (total + opts.stride - 1) // opts.stride
  if opts.max_frames:
    expected = min(expected, opts.max_frames)
  skipped = collections.Counter()
  crops, indices, boxes, face_boxes, landmarks = [], [], [], [], []
  seen = 0
  for i, image in tqdm.tqdm(face_frames.video_frames(path, opts.max_frames or None, opts.stride),
                            total=expected, desc=f'faces {path.name}', disable=not opts.progress):
    seen += 1
    try:
      face = face_frames.usable_faces(image, analyzer, opts.min_face_size, largest_only=True)[0]
    except media.Drop as e:
      skipped[e.reason] += 1
      continue
    fr = preprocess.make_frame(image, face, i)
    crops.append(fr.image.astype(np.float32) / 255.0)
    landmarks.append(fr.landmarks)
    indices.append(i)
    boxes.append(fr.crop_box)
    face_boxes.append(face.box)
  entry = {'frames_seen': seen, 'frames_reconstructed': len(crops), 'faces': 1 if crops else 0,
           'skipped': dict(skipped), 'fps': fps, 'stride': opts.stride, 'outputs': []}
  if not crops:
    return entry
  crops = np.stack(crops)
  raw = reconstruction.encode_frames(ae, crops, np.stack(landmarks))
  params = dict(raw)
  jitter = {}
  for k in ('angles', 'translation', 'delta'):
    flat = np.asarray(raw[k], np.float64).reshape(len(crops), -1)
    smooth = smoothing.one_euro(flat, fps_used, smoothing.OneEuroConfig(opts.min_cutoff, opts.beta))
    jitter[k] = {'raw': smoothing.jitter(flat), 'smoothed': smoothing.jitter(smooth)}
    if opts.smooth:
      params[k] = smooth.reshape(np.shape(raw[k])).astype(np.float32)
      params[f'raw_{k}'] = raw[k]
  entry['jitter'] = jitter
  entry['smoothing'] = ({'filter': 'one_euro', 'min_cutoff': opts.min_cutoff, 'beta': opts.beta}
                        if opts.smooth else None)
  decoded = reconstruction.decode_frames(ae, params)
  out_dir = _face_dir(output, path, 0, 1)
  params.update(frame_index=np.asarray(indices),
                **image_placement(decoded['landmarks2d'], boxes, face_boxes, crops.shape[1]))
  write_face(ae, out_dir, params, decoded, crops, opts, fps=fps_used)
  frames = []
  for s in range(0, len(crops), 32):
    part = slice(s, s + 32)
    frames += list(panels(ae, crops[part], {k: decoded[k][part] for k in ('vertices', 'image', 'mask')},
                          {k: params[k][part] for k in ('angles', 'translation')}))
  face_frames.write_video(out_dir / 'overlay.mp4', frames, fps_used)
  entry['outputs'] = [str(out_dir)]
  return entry


class OutputError(RuntimeError):
  """The output folder cannot be written (disk full, read-only); the message says what was kept."""


_OUTPUT_ERRNOS = frozenset({errno.ENOSPC, errno.EROFS, errno.EDQUOT, errno.EFBIG})


def run(ae, input_path, output, opts: Options = Options()) -> dict:
  """Reconstructs every face of ``input_path`` into ``output``; writes and returns ``summary.json``.

  Raises:
    FileNotFoundError / ValueError: the input does not exist or is not an image, video or media folder.
    NotADirectoryError: ``output`` is a file.
    OutputError: ``output`` cannot be written (full or read-only disk); the partial results of the file
      being written are removed.
  """
  import tqdm  # pylint: disable=g-import-not-at-top
  from data import face as face_lib  # pylint: disable=g-import-not-at-top
  from data import face_frames  # pylint: disable=g-import-not-at-top
  from data import media  # pylint: disable=g-import-not-at-top
  inputs = face_frames.list_inputs(input_path)
  output = pathlib.Path(output)
  if output.exists() and not output.is_dir():
    raise NotADirectoryError(f'--output {output} is a file, not a folder; pass a folder')
  try:
    output.mkdir(parents=True, exist_ok=True)
  except OSError as e:
    raise OutputError(f'cannot create the output folder {output} ({e.strerror})') from None
  analyzer = face_lib.FaceAnalyzer(min_face_size=opts.min_face_size)
  files = {}
  for path, kind in tqdm.tqdm(inputs, desc='files', disable=not opts.progress or len(inputs) < 2):
    before = set(output.iterdir())
    try:
      fn = reconstruct_image if kind == 'image' else reconstruct_video
      files[str(path)] = {'kind': kind, **fn(ae, path, output, opts, analyzer)}
    except OSError as e:
      if e.errno not in _OUTPUT_ERRNOS and not str(e.filename or '').startswith(str(output)):
        raise
      for partial in set(output.iterdir()) - before:  # this file's half-written results
        if partial.is_dir():
          shutil.rmtree(partial, ignore_errors=True)
        else:
          partial.unlink(missing_ok=True)
      raise OutputError(f'cannot write the results of {path} to {output} ({e.strerror or e}); '
                        f'{len(files)} file(s) before it were done (their results are kept, without '
                        'summary.json): free space or fix the folder, then rerun') from None
    except media.Drop as e:
      files[str(path)] = {'kind': kind, 'frames_seen': 1 if kind == 'image' else 0,
                          'frames_reconstructed': 0, 'faces': 0, 'skipped': {e.reason: 1}, 'detail': str(e),
                          'outputs': []}
      if kind == 'video':
        files[str(path)]['file_skipped'] = e.reason
  totals = collections.Counter()
  reasons = collections.Counter()
  for f in files.values():
    totals['frames_seen'] += f['frames_seen']
    totals['frames_reconstructed'] += f['frames_reconstructed']
    totals['faces'] += f['faces']
    reasons.update(f['skipped'])
  summary = {'model': str(getattr(ae, 'restored_from', '')), 'input': str(input_path),
             'options': dataclasses.asdict(opts), **dict(totals), 'skipped': dict(reasons),
             'files': files}
  try:
    (output / 'summary.json').write_text(json.dumps(summary, indent=1))
  except OSError as e:
    raise OutputError(f'cannot write {output / "summary.json"} ({e.strerror or e}); free space or fix the '
                      'folder, then rerun') from None
  return summary


def main(argv):
  del argv
  from model import reconstruction  # pylint: disable=g-import-not-at-top
  for name in ('input', 'output'):
    if not getattr(FLAGS, name):
      print(f'error: --{name} is required', file=sys.stderr)
      sys.exit(2)
  try:
    ae = reconstruction.load_autoencoder(FLAGS.model)
  except reconstruction.NotAModelError as e:
    print(f'error: {e}', file=sys.stderr)
    sys.exit(2)
  opts = Options(FLAGS.min_face_size, FLAGS.smooth, FLAGS.min_cutoff, FLAGS.beta, FLAGS.max_frames,
                 max(1, FLAGS.stride), FLAGS.texture_size, FLAGS.progress, FLAGS.fit_pose)
  try:
    summary = run(ae, FLAGS.input, FLAGS.output, opts)
  except (FileNotFoundError, NotADirectoryError, ValueError, OutputError) as e:
    print(f'error: {e}', file=sys.stderr)
    sys.exit(2)
  print(f'frames seen {summary["frames_seen"]}, reconstructed {summary["frames_reconstructed"]}, '
        f'skipped {summary["skipped"]}; summary: {pathlib.Path(FLAGS.output) / "summary.json"}')
  if not summary['frames_reconstructed']:
    print(f'error: {no_face_message(summary)}', file=sys.stderr)
    sys.exit(1)


def no_face_message(summary: dict) -> str:
  """Why nothing was reconstructed, by reason (the flag hint only where a flag helps)."""
  reasons = summary.get('skipped', {})
  text = ', '.join(f'{k} {v}' for k, v in sorted(reasons.items())) or 'no frames'
  hint = ' try a smaller --min_face_size;' if 'face_too_small' in reasons else ''
  return f'no face reconstructed ({text});{hint} details per file in summary.json'


if __name__ == '__main__':
  define_flags()
  cli.run(main)
