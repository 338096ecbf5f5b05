r"""Reconstruct faces in images and videos: ``python -m eval.reconstruct``.

  python -m eval.reconstruct --model=runs/demo --input=photo.jpg --output=out/
  python -m eval.reconstruct --model=runs/demo --input=clip.mp4 --output=out/ --min_face_size=100
  python -m eval.reconstruct --model=runs/demo --input=folder/ --output=out/     # images and videos

``--model``: a run folder of ``training.main`` or a personalised model folder (``--stage=personalize``).
Faces are found and cropped with the project's preprocessing (``data.face_frames``: dlib, 240 px crops).

Per face (``<output>/<file stem>[_face<k>]/``):

* ``params.npz`` / ``params.json``: alpha, beta, delta, sh, angles, translation (per frame for a video:
  ``[T, ...]``, with ``frame_index`` and, when smoothing is on, the unsmoothed ``raw_*`` arrays);
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
import json
import pathlib
import sys
from typing import Optional

import numpy as np
from absl import flags

FLAGS = flags.FLAGS


def define_flags() -> None:
  """The command-line flags (defined only when run as a program, so that tests can import the module)."""
  flags.DEFINE_string('model', None, 'Run folder (training.main) or personalised model folder.')
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
  return output / (path.stem + (f'_face{face}' if faces > 1 else ''))


def reconstruct_image(ae, path, output, opts, analyzer) -> dict:
  """One image file: every usable face. Returns its summary entry."""
  from data import face_frames  # pylint: disable=g-import-not-at-top
  from model import reconstruction  # pylint: disable=g-import-not-at-top
  faces = face_frames.image_faces(path, analyzer, opts.min_face_size)
  dirs = []
  for fc in faces:
    crops = fc.frame.image[None].astype(np.float32) / 255.0
    params = reconstruction.encode_frames(ae, crops)
    decoded = reconstruction.decode_frames(ae, params)
    d = _face_dir(output, path, fc.face_index, len(faces))
    write_face(ae, d, {**params, 'crop_box': np.asarray(fc.frame.crop_box)}, decoded, crops, opts)
    dirs.append(str(d))
  return {'frames_seen': 1, 'frames_reconstructed': 1, 'faces': len(faces), 'skipped': {}, 'outputs': dirs}


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
  crops, indices, boxes = [], [], []
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
    indices.append(i)
    boxes.append(fr.crop_box)
  entry = {'frames_seen': seen, 'frames_reconstructed': len(crops), 'faces': 1 if crops else 0,
           'skipped': dict(skipped), 'fps': fps, 'stride': opts.stride, 'outputs': []}
  if not crops:
    return entry
  crops = np.stack(crops)
  raw = reconstruction.encode_frames(ae, crops)
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
  params.update(frame_index=np.asarray(indices), crop_box=np.asarray(boxes))
  write_face(ae, out_dir, params, decoded, crops, opts, fps=fps_used)
  frames = []
  for s in range(0, len(crops), 32):
    part = slice(s, s + 32)
    frames += list(panels(ae, crops[part], {k: decoded[k][part] for k in ('vertices', 'image', 'mask')},
                          {k: params[k][part] for k in ('angles', 'translation')}))
  face_frames.write_video(out_dir / 'overlay.mp4', frames, fps_used)
  entry['outputs'] = [str(out_dir)]
  return entry


def run(ae, input_path, output, opts: Options = Options()) -> dict:
  """Reconstructs every face of ``input_path`` into ``output``; writes and returns ``summary.json``.

  Raises:
    FileNotFoundError / ValueError: the input does not exist or is not an image, video or media folder.
  """
  import tqdm  # pylint: disable=g-import-not-at-top
  from data import face as face_lib  # pylint: disable=g-import-not-at-top
  from data import face_frames  # pylint: disable=g-import-not-at-top
  from data import media  # pylint: disable=g-import-not-at-top
  inputs = face_frames.list_inputs(input_path)
  output = pathlib.Path(output)
  output.mkdir(parents=True, exist_ok=True)
  analyzer = face_lib.FaceAnalyzer(min_face_size=opts.min_face_size)
  files = {}
  for path, kind in tqdm.tqdm(inputs, desc='files', disable=not opts.progress or len(inputs) < 2):
    try:
      fn = reconstruct_image if kind == 'image' else reconstruct_video
      files[str(path)] = {'kind': kind, **fn(ae, path, output, opts, analyzer)}
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
  (output / 'summary.json').write_text(json.dumps(summary, indent=1))
  return summary


def main(argv):
  del argv
  from model import reconstruction  # pylint: disable=g-import-not-at-top
  for name in ('model', 'input', 'output'):
    if not getattr(FLAGS, name):
      print(f'error: --{name} is required', file=sys.stderr)
      sys.exit(2)
  try:
    ae = reconstruction.load_autoencoder(FLAGS.model)
  except reconstruction.NotAModelError as e:
    print(f'error: {e}', file=sys.stderr)
    sys.exit(2)
  opts = Options(FLAGS.min_face_size, FLAGS.smooth, FLAGS.min_cutoff, FLAGS.beta, FLAGS.max_frames,
                 max(1, FLAGS.stride), FLAGS.texture_size, FLAGS.progress)
  try:
    summary = run(ae, FLAGS.input, FLAGS.output, opts)
  except (FileNotFoundError, ValueError) as e:
    print(f'error: {e}', file=sys.stderr)
    sys.exit(2)
  print(f'frames seen {summary["frames_seen"]}, reconstructed {summary["frames_reconstructed"]}, '
        f'skipped {summary["skipped"]}; summary: {pathlib.Path(FLAGS.output) / "summary.json"}')
  if not summary['frames_reconstructed']:
    print('error: no usable face in the input (see summary.json; try a smaller --min_face_size)',
          file=sys.stderr)
    sys.exit(1)


if __name__ == '__main__':
  define_flags()
  cli.run(main)
