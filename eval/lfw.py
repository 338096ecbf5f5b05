r"""Verification metric (paper Sec. 4.2): EMD between same- and different-identity similarity histograms.

  python -m eval.lfw --model=RUN_OR_EXPORT --pairs=pairs.txt --images=LFW_ROOT [--output=DIR]
  python -m eval.lfw --model=RUN_OR_EXPORT --pairs_csv=../shared/media/pairs/pairs.csv  # photo pairs table
  python -m eval.lfw --model=RUN_OR_EXPORT --records='.../train/video-*.tfrecord'     # synthetic variant

Each image is reconstructed; the *identity component* (identity-only mesh: mean + identity deformation, no
expression) is rendered in the predicted pose with a fixed Lambertian light (uniform skin albedo, ambient
0.6 + directional 0.5 from the upper front: an export carries no per-image lighting) and embedded by the
face feature network (``model.face_features``: dlib's face ResNet, 128-D, aligned on the render's
projected landmarks; the paper used mean-pooled VGG-Face conv5_3, whose weights the project does not
ship). For every pair the cosine similarity of the two embeddings is computed; the metric is the EMD
between the same-identity and different-identity similarity distributions (on the samples, and binned on
fixed 0.05 bins over [-1, 1]); a larger EMD means identities are better separated. Also reported: the
verification accuracy (best threshold on the pairs, and the LFW 10-fold protocol when folds exist), a
histogram plot, and baselines in the same run: the input photos themselves (an upper reference) and the
mean template with the fitted pose (geometry carries no identity: the EMD left is pose/crop leakage).

LFW: images whose face is not found, and missing images, are counted skips, as are the pairs that use
them. Synthetic variant: frames of one clip (one identity, different expression, pose and light) form the
same pairs; frames of different clips the different pairs (as many as the same pairs, deterministic).
"""

from __future__ import annotations

from common import cli  # noqa: F401  (first: quiet TensorFlow start-up)

import collections
import itertools
import json
import pathlib
from typing import Sequence

import numpy as np

from eval import errors
from eval import figures
from eval import metrics
from eval import model_io
from eval import paper
from eval import records

SKIN_ALBEDO = (0.72, 0.53, 0.44)  # model.face_model.DEFAULT_ALBEDO
LIGHT_DIRECTION = (0.3, 0.4, 1.0)  # camera space, towards the light
AMBIENT, DIFFUSE = 0.6, 0.5
PHOTOS = 'input photos'


def render_identity(recon: model_io.Reconstruction, topology: model_io.Topology
                    ) -> tuple[np.ndarray, np.ndarray]:
  """Renders the identity-only meshes in their poses: (uint8 [B, H, W, 3], landmarks [B, 68, 2] px)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  import tf_ops  # pylint: disable=g-import-not-at-top
  from model import camera as camera_lib  # pylint: disable=g-import-not-at-top
  h, w = recon.image_size
  tris = np.asarray(topology.triangles, np.int64)
  light = np.asarray(LIGHT_DIRECTION) / np.linalg.norm(LIGHT_DIRECTION)
  images, lms = [], []
  for b in range(len(recon.identity_vertices)):
    rot = model_io.euler_to_rotation(recon.angles[b])
    pts = recon.identity_vertices[b] @ rot.T + recon.translation[b]
    fn = np.cross(pts[tris[:, 1]] - pts[tris[:, 0]], pts[tris[:, 2]] - pts[tris[:, 0]])
    normals = np.zeros_like(pts)
    for k in range(3):
      np.add.at(normals, tris[:, k], fn)
    normals /= np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-12)
    if np.mean(normals[:, 2]) < 0:  # orient towards the camera (+z in camera space)
      normals = -normals
    colour = np.asarray(SKIN_ALBEDO) * (AMBIENT + DIFFUSE * np.maximum(normals @ light, 0.0))[:, None]
    cam = camera_lib.Camera(image_size=(h, w), focal=(float(recon.focal[b]),) * 2)
    clip = camera_lib.to_clip(tf.constant(pts[None], tf.float32), cam)
    tri_tf = tf.constant(tris, tf.int32)
    r = tf_ops.rasterize(clip, tri_tf, (h, w))
    img = tf_ops.interpolate(tf.constant(colour[None], tf.float32), r.triangle_ids, r.barycentrics, tri_tf)
    images.append(np.clip(np.round(img.numpy()[0] * 255), 0, 255).astype(np.uint8))
    lms.append(model_io.project(recon.identity_vertices[b][topology.landmarks], recon.angles[b],
                                recon.translation[b], float(recon.focal[b]), (h, w)))
  return np.stack(images), np.stack(lms)


class Embedder:
  """``model.face_features`` descriptors of faces aligned on 68 landmarks."""

  def __init__(self):
    from model import face_features  # pylint: disable=g-import-not-at-top
    self._ff = face_features
    self._net = face_features.FaceFeatureNet()

  def __call__(self, images: np.ndarray, landmarks: np.ndarray, batch_size: int = 32) -> np.ndarray:
    out = []
    for i in range(0, len(images), batch_size):
      chips = self._ff.align_faces(np.asarray(images[i:i + batch_size], np.float32) / 255.0,
                                   np.asarray(landmarks[i:i + batch_size], np.float32))
      out.append(np.asarray(self._net.descriptors(chips)))
    return np.concatenate(out)


def synthetic_pairs(frames: list) -> list[tuple[int, int, bool, int]]:
  """(i, j, same, fold) pairs: all within-clip frame pairs, and as many cross-clip pairs."""
  by_clip = collections.defaultdict(list)
  for k, f in enumerate(frames):
    by_clip[f.identity_id or f.clip_id].append(k)
  same = [(i, j, True, 0) for ids in by_clip.values() for i, j in itertools.combinations(ids, 2)]
  clips = list(by_clip.values())
  diff = [(i, j, False, 0) for a, b in itertools.combinations(clips, 2) for i in a for j in b]
  if len(diff) > len(same) > 0:  # evenly spaced subset, as many as the same pairs
    diff = [diff[k] for k in np.linspace(0, len(diff) - 1, len(same)).round().astype(int)]
  return same + diff


def lfw_inputs(pairs_path: str | pathlib.Path, root: str | pathlib.Path, max_pairs: int = 0):
  """Loads the images the pairs name, with dlib landmarks; returns (images, landmarks, pairs, skipped)."""
  from PIL import Image  # pylint: disable=g-import-not-at-top
  from data import face as face_lib  # pylint: disable=g-import-not-at-top
  from data import lfw as lfw_io  # pylint: disable=g-import-not-at-top
  pairs_path, root = pathlib.Path(pairs_path), pathlib.Path(root)
  if not pairs_path.is_file():
    raise FileNotFoundError(f'--pairs={pairs_path}: no such file (expected LFW pairs.txt).')
  if not root.is_dir():
    raise FileNotFoundError(f'--images={root}: no such folder (expected <name>/<name>_0001.jpg).')
  pairs = lfw_io.read_lfw_pairs(pairs_path)
  if max_pairs:
    pairs = pairs[:max_pairs]
  skipped = collections.Counter()
  index, images, lms = {}, [], []
  analyzer = face_lib.FaceAnalyzer(min_face_size=1)
  out_pairs = []
  for p in pairs:
    ids = []
    for name, num in ((p.name_a, p.index_a), (p.name_b, p.index_b)):
      key = (name, num)
      if key not in index:
        path = lfw_io.lfw_image_path(root, name, num)
        index[key] = None
        if not path.is_file():
          skipped['image missing'] += 1
        else:
          try:
            img = np.asarray(Image.open(path).convert('RGB'))
            faces = analyzer.detect(img)
          except OSError:
            faces, img = None, None
            skipped['image unreadable'] += 1
          if faces:
            index[key] = len(images)
            images.append(img)
            lms.append(faces[0].landmarks)
          elif faces is not None:
            skipped['no face found'] += 1
      ids.append(index[key])
    if None in ids:
      skipped['pair skipped (an image missing or without a face)'] += 1
    else:
      out_pairs.append((ids[0], ids[1], p.same, p.fold))
  return images, (np.stack(lms) if lms else np.zeros((0, 68, 2))), out_pairs, skipped


def csv_pair_inputs(pairs_path: str | pathlib.Path, root: str | pathlib.Path | None = None):
  """Loads the photos of a ``pairs.csv`` table (``data.lfw.read_pairs_csv``; default folder: the table's),
  each cut to the model's face crop (``data.face``: the largest dlib face, 240 px) so that photos of any
  size share one batch; returns (crops uint8 [N, S, S, 3], landmarks [N, 68, 2] crop pixels, pairs,
  skipped) like ``lfw_inputs`` (one fold)."""
  from data import face as face_lib  # pylint: disable=g-import-not-at-top
  from data import lfw as lfw_io  # pylint: disable=g-import-not-at-top
  from data import media  # pylint: disable=g-import-not-at-top
  pairs_path = pathlib.Path(pairs_path)
  if not pairs_path.is_file():
    raise FileNotFoundError(f'--pairs_csv={pairs_path}: no such file (expected file_x,file_y,Decision).')
  root = pathlib.Path(root) if root else pairs_path.parent
  analyzer = face_lib.FaceAnalyzer(min_face_size=1)
  skipped = collections.Counter()
  index, crops, lms, out_pairs = {}, [], [], []
  for a, b, same in lfw_io.read_pairs_csv(pairs_path):
    ids = []
    for name in (a, b):
      if name not in index:
        index[name] = None
        try:
          img, _, _ = media.load_image(root / name)
          faces = analyzer.detect(img)
        except media.Drop as e:
          skipped[f'image {e.reason}'] += 1
          faces = None
        if faces:
          f = faces[0]
          index[name] = len(crops)
          crops.append(face_lib.crop_and_resize(img, f.crop_box))
          lms.append(face_lib.to_crop_coords(f.landmarks, f.crop_box))
        elif faces is not None:
          skipped['no face found'] += 1
      ids.append(index[name])
    if None in ids:
      skipped['pair skipped (an image missing or without a face)'] += 1
    else:
      out_pairs.append((ids[0], ids[1], same, 0))
  images = np.stack(crops) if crops else np.zeros((0, 1, 1, 3), np.uint8)
  return images, (np.stack(lms) if lms else np.zeros((0, 68, 2))), out_pairs, skipped


def score(embeddings: np.ndarray, pairs: list) -> dict:
  """EMD (samples and binned), accuracies and the similarity samples of a method."""
  a = np.asarray([p[0] for p in pairs])
  b = np.asarray([p[1] for p in pairs])
  same = np.asarray([p[2] for p in pairs], bool)
  folds = np.asarray([p[3] for p in pairs])
  sims = metrics.cosine_similarity(embeddings[a], embeddings[b])
  out = {'n_same': int(same.sum()), 'n_different': int((~same).sum()),
         'similarity_same': sims[same].tolist(), 'similarity_different': sims[~same].tolist()}
  if same.any() and (~same).any():
    out['emd'] = metrics.emd_samples(sims[same], sims[~same])
    out['emd_binned'] = metrics.emd_binned(sims[same], sims[~same])
    out['accuracy_best_threshold'], out['threshold'] = metrics.verification_accuracy(sims, same)
    if len(np.unique(folds)) > 1:
      out['accuracy_10fold'] = metrics.cross_validated_accuracy(sims, same, folds)
  return out


def evaluate(reconstructors: Sequence, images: np.ndarray, landmarks: np.ndarray, pairs: list,
             skipped: collections.Counter | None = None, synthetic: bool = False,
             output: pathlib.Path | None = None, embedder=None) -> dict:
  if not pairs:
    raise ValueError('eval.lfw: no usable pairs (all skipped: ' + str(dict(skipped or {})) + ').')
  embed = embedder or Embedder()
  methods = {PHOTOS: score(embed(images, landmarks), pairs)}
  for rec in reconstructors:
    if images.shape[1:3] != tuple(images[0].shape[:2]):
      raise ValueError('eval.lfw: images of different sizes in one batch.')
    recon = model_io.reconstruct_all(rec, images, landmarks)
    renders, render_lms = render_identity(recon, rec.topology)
    methods[rec.name] = score(embed(renders, render_lms), pairs)
    if output is not None:
      figures.save_png(output / 'figures' / f'lfw_render_{_slug(rec.name)}.png', np.concatenate(
          [np.concatenate([recon.images[i] if recon.images is not None else images[i], renders[i]], 0)
           for i in range(min(4, len(renders)))], 1))
  out = {'table': 'Verification EMD (LFW)', 'synthetic': synthetic, 'num_images': int(len(images)),
         'num_pairs': len(pairs), 'skipped': dict(skipped or {}), 'methods': methods, 'paper': paper.LFW_EMD,
         'embedding': 'model.face_features (dlib ResNet, 128-D); paper: VGG-Face conv5_3 mean-pooled'}
  if output is not None:
    output.mkdir(parents=True, exist_ok=True)
    for name, m in methods.items():
      img = figures.histogram_plot({'same': np.asarray(m['similarity_same']),
                                    'different': np.asarray(m['similarity_different'])},
                                   metrics.HISTOGRAM_EDGES, f"{name}: EMD {m.get('emd', float('nan')):.3f}")
      figures.save_png(output / 'figures' / f'lfw_hist_{_slug(name)}.png', img)
    (output / 'lfw.json').write_text(json.dumps(out, indent=1))
    (output / 'lfw.md').write_text(markdown(out))
  return out


def _slug(name: str) -> str:
  return ''.join(ch if ch.isalnum() else '_' for ch in name)


def markdown(out: dict) -> str:
  src = 'synthetic renders' if out['synthetic'] else out.get('source', 'LFW pairs')
  lines = [f"### Verification: EMD of same / different cosine similarities ({src}, {out['num_pairs']} pairs)",
           '', '| method | EMD | EMD (binned) | accuracy (best thr.) | 10-fold acc. | same / diff pairs |',
           '|---|---|---|---|---|---|']
  nan = float('nan')
  for name, m in out['methods'].items():
    lines.append(f"| {name} | {m.get('emd', nan):.4f} | {m.get('emd_binned', nan):.4f} | "
                 f"{m.get('accuracy_best_threshold', nan):.3f} | {m.get('accuracy_10fold', nan):.3f} | "
                 f"{m['n_same']} / {m['n_different']} |")
  for name, v in out['paper'].items():
    lines.append(f'| {name} [paper, VGG-Face] | {v:.2f} | | | | |')
  lines += ['', f"Embedding: {out['embedding']}. Skipped: {out['skipped'] or 'none'}.", '']
  return '\n'.join(lines)


@errors.friendly('eval.lfw')
def main(argv: Sequence[str]) -> None:
  from absl import flags  # pylint: disable=g-import-not-at-top
  del argv
  f = flags.FLAGS
  if f.records:
    frames, skipped = records.read_frames(f.records, max_frames=f.max_images)
    images = np.stack([fr.image for fr in frames]) if frames else np.zeros((0, 1, 1, 3), np.uint8)
    lms = np.stack([fr.landmarks for fr in frames]) if frames else np.zeros((0, 68, 2))
    pairs, synthetic = synthetic_pairs(frames), True
  elif f.pairs_csv:
    images, lms, pairs, skipped = csv_pair_inputs(f.pairs_csv, f.images)
    synthetic = False
  elif f.pairs and f.images:
    imgs, lms, pairs, skipped = lfw_inputs(f.pairs, f.images, f.max_pairs)
    images = np.stack(imgs) if imgs and len({i.shape for i in imgs}) == 1 else imgs
    if isinstance(images, list) and images:
      raise ValueError('eval.lfw: LFW images must share one size (250 x 250).')
    synthetic = False
  else:
    raise ValueError('eval.lfw: give --pairs and --images (LFW), --pairs_csv (a file_x,file_y,Decision '
                     'table), or --records (synthetic variant).')
  recs = model_io.with_baselines(f.model, False, f.baselines)
  out = evaluate(recs, images, lms, pairs, skipped, synthetic, pathlib.Path(f.output) if f.output else None)
  print(markdown(out))


def define_flags() -> None:
  from absl import flags  # pylint: disable=g-import-not-at-top
  flags.DEFINE_list('model', [], 'Run folders or model.export .npz files (several: side by side).')
  flags.DEFINE_string('pairs', None, 'LFW pairs.txt.')
  flags.DEFINE_string('images', None, 'LFW image root (<name>/<name>_0001.jpg); with --pairs_csv the photo '
                      "folder (default: the table's).")
  flags.DEFINE_string('pairs_csv', None, 'A same / different pairs table file_x,file_y,Decision (Yes / No), '
                      'e.g. ../shared/media/pairs/pairs.csv.')
  flags.DEFINE_string('records', None, 'Synthetic variant: glob(s) of multi-frame TFRecords.')
  flags.DEFINE_integer('max_pairs', 0, 'LFW: use at most this many pairs of the file (0: all).')
  flags.DEFINE_integer('max_images', 0, 'Synthetic: use at most this many frames (0: all).')
  flags.DEFINE_bool('baselines', True, 'Also evaluate the mean template with the fitted pose.')
  flags.DEFINE_string('output', None, 'Folder for lfw.json, lfw.md and the histogram plots.')


if __name__ == '__main__':
  define_flags()
  cli.run(main)
