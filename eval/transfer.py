r"""Expression transfer (paper Fig. 11): ``python -m eval.transfer``.

  python -m eval.transfer --model=runs/demo --source=clip.mp4 --target=photo.jpg --output=out/ \
      --min_face_size=100

The target image gives the identity, albedo, lighting and pose (the largest face, ``model.reconstruction``);
the source (a video: its largest face per frame, or an image) gives the per-frame expression delta. The
transferred face is the target's geometry with the source's expression:

    V_t(delta_s) = Vbar + U M_gid_perp alpha_t + U M_gexp delta_s

rendered with the target's albedo, light and pose. Generic or personalised models (``--model`` is any
run folder, e.g. one written by ``training.main --stage=personalize``).

Outputs: ``transfer.png``, a grid with one column per source frame (at most ``--columns``, spread over the
clip) and the rows of Fig. 11: source | source reconstruction | transferred reconstruction (over the
target) | transferred geometry; for a video source also ``transfer.mp4`` (the four panels side by side per
frame) and ``transfer.npz`` (target alpha / beta, source deltas, transferred vertices [T, N, 3]).
``summary.json`` counts the source frames as ``eval.reconstruct`` does.
"""

from common import cli  # noqa: F401  (must precede TensorFlow)

import collections
import json
import pathlib
import sys

import numpy as np
from absl import flags

FLAGS = flags.FLAGS


def define_flags() -> None:
  """The command-line flags (defined only when run as a program, so that tests can import the module)."""
  flags.DEFINE_string('model', None, 'Run folder (generic or personalised model; default: the shipped '
                      'pretrained model, model.pretrained).')
  flags.DEFINE_string('source', None, 'Video or image whose expression is transferred.')
  flags.DEFINE_string('target', None, 'Image whose identity receives the expression.')
  flags.DEFINE_string('output', None, 'Output folder (created).')
  flags.DEFINE_integer('min_face_size', 200, 'Smallest face crop side kept, source pixels (paper: 200).')
  flags.DEFINE_integer('max_frames', 0, 'Source video frames read (0: all).')
  flags.DEFINE_integer('stride', 1, 'Read every stride-th source frame.')
  flags.DEFINE_integer('columns', 6, 'Source frames shown in transfer.png.')
  flags.DEFINE_bool('progress', True, 'Show tqdm progress bars.')


def _u8(x):
  return np.round(np.clip(x, 0.0, 1.0) * 255).astype(np.uint8)


def source_crops(path, analyzer, min_face_size: int, max_frames: int = 0, stride: int = 1,
                 progress: bool = True):
  """(crops float32 [T, S, S, 3], frame indices, skip reasons, fps, landmarks [T, 68, 2] crop pixels) of
  the source's largest faces.

  Raises:
    media.Drop: an unreadable source, or no usable face in it.
  """
  import tqdm  # pylint: disable=g-import-not-at-top
  from data import face_frames  # pylint: disable=g-import-not-at-top
  from data import media  # pylint: disable=g-import-not-at-top
  from data import preprocess  # pylint: disable=g-import-not-at-top
  path = pathlib.Path(path)
  (path, kind), = face_frames.list_inputs(path) if not path.is_dir() else [(path, 'folder')]
  if kind == 'folder':
    raise ValueError(f'--source {path} is a folder; expected one video or image')
  if kind == 'image':
    frame = face_frames.image_faces(path, analyzer, min_face_size)[0].frame
    return (frame.image[None].astype(np.float32) / 255.0, [0], collections.Counter(), 25.0,
            frame.landmarks[None])
  _, fps = face_frames.video_info(path)
  crops, indices, skipped, landmarks = [], [], collections.Counter(), []
  for i, image in tqdm.tqdm(face_frames.video_frames(path, max_frames or None, stride),
                            desc='source faces', disable=not progress):
    try:
      face = face_frames.usable_faces(image, analyzer, min_face_size, largest_only=True)[0]
    except media.Drop as e:
      skipped[e.reason] += 1
      continue
    frame = preprocess.make_frame(image, face, i)
    crops.append(frame.image.astype(np.float32) / 255.0)
    landmarks.append(frame.landmarks)
    indices.append(i)
  if not crops:
    raise media.Drop(preprocess.NO_FACE, f'no usable face in {path.name} (skipped: {dict(skipped)})')
  return np.stack(crops), indices, skipped, fps / stride, np.stack(landmarks)


def transfer_params(source: dict, target: dict) -> dict:
  """The target's identity, albedo, light and pose with the source's per-frame expression [T, m_e]."""
  t = len(source['delta'])
  tile = lambda x: np.repeat(np.asarray(x)[:1], t, axis=0)
  return {'alpha': target['alpha'], 'beta': target['beta'], 'delta': np.asarray(source['delta']),
          'sh': tile(target['sh']), 'angles': tile(target['angles']),
          'translation': tile(target['translation'])}


def run(ae, source, target, output, min_face_size: int = 200, max_frames: int = 0, stride: int = 1,
        columns: int = 6, progress: bool = True) -> dict:
  """Transfers the source's expressions onto the target (see the module docstring); returns the summary.

  Raises:
    media.Drop: unreadable source / target, or no usable face in either.
    FileNotFoundError / ValueError: missing or unsupported paths.
  """
  from data import face as face_lib  # pylint: disable=g-import-not-at-top
  from data import face_frames  # pylint: disable=g-import-not-at-top
  from model import reconstruction  # pylint: disable=g-import-not-at-top
  from model import visualize  # pylint: disable=g-import-not-at-top
  output = pathlib.Path(output)
  output.mkdir(parents=True, exist_ok=True)
  analyzer = face_lib.FaceAnalyzer(min_face_size=min_face_size)
  (target_path, kind), = face_frames.list_inputs(target)
  if kind != 'image':
    raise ValueError(f'--target {target_path} must be an image (the identity), got a {kind}')
  target_frame = face_frames.image_faces(target_path, analyzer, min_face_size)[0].frame
  target_crop = target_frame.image[None].astype(np.float32) / 255.0
  target_params = reconstruction.encode_frames(ae, target_crop, target_frame.landmarks[None])
  crops, indices, skipped, fps, landmarks = source_crops(source, analyzer, min_face_size, max_frames, stride,
                                                         progress)
  source_params = reconstruction.encode_frames(ae, crops, landmarks)
  source_dec = reconstruction.decode_frames(ae, source_params)
  params = transfer_params(source_params, target_params)
  dec = reconstruction.decode_frames(ae, params)
  geo = reconstruction.geometry_images(ae, dec['vertices'], params['angles'], params['translation'])
  source_over = reconstruction.overlay(crops, source_dec['image'], source_dec['mask'])
  target_over = reconstruction.overlay(np.repeat(target_crop, len(crops), 0), dec['image'], dec['mask'])
  rows = [crops, source_over, target_over, geo]
  show = np.unique(face_frames.spread_indices(len(crops), min(columns, len(crops))))
  grid = np.concatenate([np.concatenate(list(r[show]), axis=1) for r in rows], axis=0)
  files = {'transfer.png': str(visualize.save_png(output / 'transfer.png', grid))}
  np.savez(output / 'transfer.npz', target_alpha=target_params['alpha'], target_beta=target_params['beta'],
           source_delta=source_params['delta'], vertices=dec['vertices'],
           identity_vertices=dec['identity_vertices'], frame_index=np.asarray(indices))
  files['transfer.npz'] = str(output / 'transfer.npz')
  if len(crops) > 1:
    frames = list(_u8(np.concatenate(rows, axis=2)))
    files['transfer.mp4'] = str(face_frames.write_video(output / 'transfer.mp4', frames, fps))
  summary = {'source': str(source), 'target': str(target_path), 'frames_reconstructed': len(crops),
             'frames_seen': len(crops) + sum(skipped.values()), 'skipped': dict(skipped),
             'rows': ['source', 'source reconstruction', 'transfer onto target', 'transfer geometry'],
             'files': files}
  (output / 'summary.json').write_text(json.dumps(summary, indent=1))
  return summary


def main(argv):
  del argv
  from data import media  # pylint: disable=g-import-not-at-top
  from model import reconstruction  # pylint: disable=g-import-not-at-top
  for name in ('source', 'target', 'output'):
    if not getattr(FLAGS, name):
      print(f'error: --{name} is required', file=sys.stderr)
      sys.exit(2)
  try:
    ae = reconstruction.load_autoencoder(FLAGS.model)
    summary = run(ae, FLAGS.source, FLAGS.target, FLAGS.output, FLAGS.min_face_size, FLAGS.max_frames,
                  max(1, FLAGS.stride), FLAGS.columns, FLAGS.progress)
  except (reconstruction.NotAModelError, media.Drop, FileNotFoundError, ValueError) as e:
    print(f'error: {e}', file=sys.stderr)
    sys.exit(2)
  print(f'transferred {summary["frames_reconstructed"]} frames: {summary["files"]}')


if __name__ == '__main__':
  define_flags()
  cli.run(main)
