r"""Overlay pictures of the lips from MediaPipe's face mesh and from dlib's 68 landmarks, side by side.

  python -m data.lip_overlays --output=/tmp/lip_overlays

For every face in the shared photos and in frames of the shared videos (``shared/media``; of evenly spread
frames, those with the most open mouths): the 240x240
crop of ``data.prepare``, drawn twice, left the MediaPipe lips (``--lip_source=mediapipe``), right dlib's
(``--lip_source=dlib``): upper lip mask red, lower lip mask blue, the four contours in yellow (outer) and
green (inner). Each picture is scaled 2x; the file name says the source and frame; ``index.txt`` lists the
face-mesh score of each face. Faces the mesh rejects (score < ``--min_mesh_score``) are marked "fallback".
"""

from __future__ import annotations

from common import cli  # noqa: F401  (first: quiet TensorFlow start-up)  # pylint: disable=g-bad-import-order

import pathlib
from typing import Sequence

import numpy as np
from absl import flags

FLAGS = flags.FLAGS


_SCALE = 2
_UPPER, _LOWER = (255, 40, 40), (40, 90, 255)


def draw(crop: np.ndarray, frame, title: str) -> np.ndarray:
  """The crop with the lip masks blended in and the contours drawn, scaled ``_SCALE``x: uint8 RGB."""
  import cv2  # pylint: disable=g-import-not-at-top
  from model import semantics  # pylint: disable=g-import-not-at-top
  img = cv2.resize(crop, None, fx=_SCALE, fy=_SCALE, interpolation=cv2.INTER_CUBIC).astype(np.float32)
  mask = cv2.resize(frame.lip_mask, None, fx=_SCALE, fy=_SCALE, interpolation=cv2.INTER_NEAREST)
  for label, colour in ((semantics.REGION_UPPER_LIP, _UPPER), (semantics.REGION_LOWER_LIP, _LOWER)):
    img[mask == label] = 0.55 * img[mask == label] + 0.45 * np.array(colour, np.float32)
  img = np.ascontiguousarray(img.astype(np.uint8))
  for k, c in enumerate(frame.lip_contours):
    pts = np.round((np.asarray(c) + 0.5) * _SCALE * 16 - 8).astype(np.int32).reshape(-1, 1, 2)
    colour = (255, 230, 0) if k % 2 == 0 else (0, 230, 90)
    cv2.polylines(img, [pts], False, colour, 1, cv2.LINE_AA, shift=4)
  cv2.putText(img, title, (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
  return img


def overlay(image: np.ndarray, face, min_mesh_score: float) -> tuple[np.ndarray, float]:
  """Side-by-side picture (MediaPipe | dlib) of one face; returns it and the face-mesh score."""
  from data import face_mesh  # pylint: disable=g-import-not-at-top
  from data import preprocess  # pylint: disable=g-import-not-at-top
  score = face_mesh.fit(image, face.landmarks).score
  panels = []
  for source in ('mediapipe', 'dlib'):
    cfg = preprocess.Config(lip_source=source, min_mesh_score=min_mesh_score)
    frame = preprocess.make_frame(image, face, 0, cfg)
    title = source if frame.lip_source == source else f'{source}: fallback (score {score:.2f})'
    panels.append(draw(frame.image, frame, title))
  return np.concatenate(panels, 1), score


def mouth_opening(landmarks: np.ndarray) -> float:
  """Inner-lip gap (iBUG points 62 -> 66) over the inter-ocular distance (36 -> 45)."""
  return float(np.linalg.norm(landmarks[66] - landmarks[62]) / np.linalg.norm(landmarks[45] - landmarks[36]))


def open_mouth_frames(images: dict[int, np.ndarray], count: int, analyzer) -> list[int]:
  """The ``count`` frames whose largest face opens its mouth the most (sorted by frame index)."""
  opening = {}
  for i, img in images.items():
    faces = analyzer.detect(img)
    if faces:
      opening[i] = mouth_opening(faces[0].landmarks)
  return sorted(sorted(opening, key=lambda i: -opening[i])[:count])


def shared_inputs(frames_per_video: int, analyzer, candidates: int = 3):
  """(name, RGB image) of the shared photos and of frames of the shared videos: of ``candidates`` x
  ``frames_per_video`` evenly spread frames, those with the most open mouths."""
  from common import paths  # pylint: disable=g-import-not-at-top
  from data import media  # pylint: disable=g-import-not-at-top
  root = paths.shared_path('media')
  for p in sorted((root / 'photos').iterdir()):
    if media.is_image(p.name):
      yield p.stem, media.load_image(p)[0]
  for p in sorted((root / 'video').iterdir()):
    if media.is_video(p.name):
      src = media.FrameSource(p)
      n = frames_per_video * candidates
      idx = np.unique(np.linspace(0, src.num_frames - 1, n + 2)[1:-1].round().astype(int))
      images = src.read(idx.tolist())
      for i in open_mouth_frames(images, frames_per_video, analyzer):
        yield f'{p.stem}_frame{i:05d}', images[i]


def write_overlays(output: str | pathlib.Path, frames_per_video: int = 6, min_face_size: int = 60,
                   min_mesh_score: float | None = None) -> list[pathlib.Path]:
  """Writes one PNG per face of the shared media and ``index.txt``; returns the PNG paths."""
  from PIL import Image  # pylint: disable=g-import-not-at-top
  from tqdm import tqdm  # pylint: disable=g-import-not-at-top
  from data import face as face_lib  # pylint: disable=g-import-not-at-top
  from data import face_mesh  # pylint: disable=g-import-not-at-top
  min_mesh_score = face_mesh.DEFAULT_MIN_SCORE if min_mesh_score is None else min_mesh_score
  out = pathlib.Path(output)
  out.mkdir(parents=True, exist_ok=True)
  analyzer = face_lib.FaceAnalyzer(min_face_size=min_face_size)
  written, index = [], []
  inputs = list(shared_inputs(frames_per_video, analyzer))
  for name, image in tqdm(inputs, desc='lip overlays', unit='image'):
    for k, face in enumerate(f for f in analyzer.detect(image) if f.size >= min_face_size):
      picture, score = overlay(image, face, min_mesh_score)
      path = out / f'{name}_face{k}.png'
      Image.fromarray(picture).save(path)
      written.append(path)
      index.append(f'{path.name}\tface {face.size} px\tmesh score {score:.3f}')
  (out / 'index.txt').write_text('\n'.join(index) + '\n')
  return written


def main(argv: Sequence[str]) -> None:
  from absl import app  # pylint: disable=g-import-not-at-top
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  if not FLAGS.output:
    raise app.UsageError('--output is required.')
  paths_written = write_overlays(FLAGS.output, FLAGS.frames_per_video, FLAGS.min_face_size,
                                 FLAGS.min_mesh_score)
  print(f'{len(paths_written)} overlay pictures in {FLAGS.output} (left MediaPipe lips, right dlib lips; '
        'red upper lip, blue lower lip).')


def _define_flags() -> None:
  """The command line's flags (defined only when run as a program: importing the module defines none)."""
  flags.DEFINE_string('output', None, 'Folder for the PNG pictures.')
  flags.DEFINE_integer('frames_per_video', 6, 'Frames taken from each shared video: the most open mouths '
                       'among 3x as many evenly spread frames.')
  flags.DEFINE_integer('min_face_size', 60, 'Smaller faces are skipped.')
  from data import face_mesh  # pylint: disable=g-import-not-at-top
  flags.DEFINE_float('min_mesh_score', face_mesh.DEFAULT_MIN_SCORE,
                     'Faces with a lower face-mesh score fall back to dlib lips.')


if __name__ == '__main__':
  _define_flags()
  cli.run(main)
