r"""Does the encoder read a grayscale photo the way it reads the colour one? (issue 23, point 9)

  python scripts/grayscale_check.py [--model=DIR] [--photos=../shared/media/photos] [--output=docs/grayscale]

For every photo with a usable face: reconstruct the colour photo and its grayscale version (saved as a
one-channel PNG by PIL and read back as a user's grayscale file is: ``data.media.to_rgb8`` replicates it)
through ``eval.reconstruct``'s path, and compare the two. Reported per photo and on average: the
identity-geometry difference (RMSE mm over the identity meshes' vertices, same model space), the full-mesh
difference, the depth (translation z, cm) and the largest pose angle difference (degrees); beside them the
identity difference between *different* photos (the scale a change of person makes). Writes
``grayscale.json`` and ``grayscale.md``.
"""

import json
import pathlib
import sys
import tempfile

from absl import app
from absl import flags
import numpy as np
from PIL import Image

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from common import cli  # noqa: E402,F401  pylint: disable=g-import-not-at-top

FLAGS = flags.FLAGS
flags.DEFINE_string('model', None, 'Model folder (default: the shipped pretrained model).')
flags.DEFINE_string('photos', None, 'Photo folder (default: the shared photos).')
flags.DEFINE_string('output', 'docs/grayscale', 'Folder for grayscale.json / grayscale.md.')


def _reconstruct(ae, analyzer, path):
  from data import face_frames  # pylint: disable=g-import-not-at-top
  from eval import reconstruct  # pylint: disable=g-import-not-at-top
  from model import reconstruction  # pylint: disable=g-import-not-at-top
  fc = face_frames.image_faces(path, analyzer, 0)[0]
  _, params, decoded = reconstruct.reconstruct_face(ae, fc)
  ident = reconstruction.decode_frames(ae, {**params, 'delta': np.zeros_like(params['delta'])})['vertices']
  return {'vertices': decoded['vertices'][0], 'identity': ident[0],
          'z': float(np.asarray(params['translation']).reshape(-1, 3)[0, 2]),
          'angles': np.degrees(np.asarray(params['angles']).reshape(-1, 3)[0])}


def main(argv):
  del argv
  from common import paths  # pylint: disable=g-import-not-at-top
  from data import face  # pylint: disable=g-import-not-at-top
  from data import media  # pylint: disable=g-import-not-at-top
  from model import reconstruction  # pylint: disable=g-import-not-at-top
  ae = reconstruction.load_autoencoder(FLAGS.model)
  folder = pathlib.Path(FLAGS.photos) if FLAGS.photos else paths.shared_path('media', 'photos')
  analyzer = face.FaceAnalyzer(min_face_size=0)
  rows, identities = [], []
  tmp = pathlib.Path(tempfile.mkdtemp())
  for p in sorted(folder.glob('*')):
    if p.suffix.lower() not in ('.jpg', '.jpeg', '.png'):
      continue
    gray = tmp / f'{p.stem}_gray.png'
    try:
      Image.open(p).convert('L').save(gray)  # a one-channel file, as a user's grayscale photo
      a, b = _reconstruct(ae, analyzer, p), _reconstruct(ae, analyzer, gray)
    except (media.Drop, IndexError, OSError):
      continue
    rms = lambda x, y: float(np.sqrt(((x - y) ** 2).sum(-1).mean()) * 10.0)  # cm -> mm  # noqa: E731
    rows.append({'photo': p.name, 'identity_rmse_mm': rms(a['identity'], b['identity']),
                 'full_rmse_mm': rms(a['vertices'], b['vertices']), 'depth_colour_cm': a['z'],
                 'depth_gray_cm': b['z'], 'angle_diff_deg': float(np.abs(a['angles'] - b['angles']).max())})
    identities.append(a['identity'])
  between = [float(np.sqrt(((identities[i] - identities[j]) ** 2).sum(-1).mean()) * 10.0)
             for i in range(len(identities)) for j in range(i + 1, len(identities))]
  out = {'model': str(getattr(ae, 'restored_from', '')), 'photos': rows,
         'mean_identity_rmse_colour_vs_gray_mm': float(np.mean([r['identity_rmse_mm'] for r in rows])),
         'mean_full_rmse_colour_vs_gray_mm': float(np.mean([r['full_rmse_mm'] for r in rows])),
         'mean_abs_depth_diff_cm': float(np.mean([abs(r['depth_colour_cm'] - r['depth_gray_cm'])
                                                  for r in rows])),
         'mean_identity_rmse_between_photos_mm': float(np.mean(between)) if between else None}
  md = ['| photo | identity colour vs gray (mm) | full mesh (mm) | depth colour / gray (cm) | max angle diff '
        '(deg) |', '|---|---|---|---|---|']
  md += [f'| {r["photo"]} | {r["identity_rmse_mm"]:.3f} | {r["full_rmse_mm"]:.3f} | '
         f'{r["depth_colour_cm"]:.1f} / {r["depth_gray_cm"]:.1f} | {r["angle_diff_deg"]:.2f} |' for r in rows]
  md += ['', 'Mean identity difference colour vs gray: '
         f'{out["mean_identity_rmse_colour_vs_gray_mm"]:.3f} mm; '
         f'between different photos: {out["mean_identity_rmse_between_photos_mm"]:.3f} mm. Mean |depth '
         f'difference|: {out["mean_abs_depth_diff_cm"]:.2f} cm. Model: {out["model"]}.']
  output = pathlib.Path(FLAGS.output)
  output.mkdir(parents=True, exist_ok=True)
  (output / 'grayscale.json').write_text(json.dumps(out, indent=1))
  (output / 'grayscale.md').write_text('\n'.join(md) + '\n')
  print('\n'.join(md))


if __name__ == '__main__':
  app.run(main)
