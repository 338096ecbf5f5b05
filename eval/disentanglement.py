r"""Table 3: AE, the average expression deformation on neutral faces (identity / expression leakage).

  python -m eval.disentanglement --model=RUN_OR_EXPORT --records='.../train/neutral-*.tfrecord'

Neutral frames (records with ``meta/is_neutral`` = 1: the synthetic neutral split, or EmotioNet images whose
coded AUs are all 0, the paper's mining rule) are reconstructed and

    AE = mean over frames b of  mean over vertices i of  ||U M_gexp delta_b||_i      (in mm)

i.e. the mean per-vertex length of the expression deformation (vertices minus the identity-only mesh). A
perfectly disentangled model explains a neutral face by identity alone: AE = 0. The paper states no unit
for its AE (0.0116 with L_dis, 4.0065 without); its model is in the template's unit, so its numbers are
probably cm or template units, i.e. not directly comparable: ours are printed in mm (x 10 for cm).

Export-only part (no images): the principal-angle cosines between the learned identity and expression
vertex spaces, span(U M_gid_perp) vs span(U M_gexp) (the projection is orthogonal in graph-node space; U
need not keep it so). Baselines: the true ICT model fitted to the landmarks (synthetic data); the mean
template has no expression part (AE = 0 by construction) and is not listed.
"""

from __future__ import annotations

from common import cli  # noqa: F401  (first: quiet TensorFlow start-up)

import collections
import json
import pathlib
from typing import Sequence

import numpy as np

from eval import errors
from eval import metrics
from eval import model_io
from eval import paper
from eval import records

CM_TO_MM = 10.0


def basis_overlap(export_path: str | pathlib.Path) -> dict:
  """Principal-angle cosines between the identity and expression vertex spaces of an export."""
  d = model_io.read_export(export_path)
  ident = d['identity_basis'].reshape(-1, d['identity_basis'].shape[-1])
  expr = d['expression_basis'].reshape(-1, d['expression_basis'].shape[-1])
  if ident.shape[1] == 0 or expr.shape[1] == 0:
    return {'max_cosine': float('nan'), 'mean_cosine': float('nan')}
  c = metrics.principal_angle_cosines(ident, expr)
  return {'max_cosine': float(c.max()), 'mean_cosine': float(c.mean()), 'num_angles': int(len(c))}


def evaluate(reconstructors: Sequence, frames: list, skipped: collections.Counter | None = None,
             exports: Sequence[str] = (), output: pathlib.Path | None = None) -> dict:
  if not frames:
    raise ValueError('eval.disentanglement: no neutral frames to evaluate.')
  images = np.stack([f.image for f in frames])
  lms = np.stack([f.landmarks for f in frames])
  methods = {}
  for rec in reconstructors:
    if getattr(rec, 'expression_basis', np.zeros((0, 0, 1))).shape[-1] == 0:
      continue  # no expression part: AE is 0 by construction
    recon = model_io.reconstruct_all(rec, images, lms)
    ae = metrics.expression_deformation_length(recon.expression_offsets * CM_TO_MM)
    methods[rec.name] = {'mean': float(ae.mean()), 'sd': float(ae.std()), 'n': int(len(ae))}
  overlap = {}
  for e in exports:
    if str(e).endswith('.npz'):
      overlap[pathlib.Path(e).stem] = basis_overlap(e)
  out = {'table': 'Disentanglement AE (Table 3)', 'unit': 'mm (mean per-vertex expression displacement)',
         'num_frames': len(frames), 'synthetic': all(f.dataset == 'synthetic' for f in frames),
         'methods': methods, 'basis_overlap': overlap, 'skipped': dict(skipped or {}),
         'paper': paper.TABLE3_AE}
  if output is not None:
    output.mkdir(parents=True, exist_ok=True)
    (output / 'disentanglement.json').write_text(json.dumps(out, indent=1))
    (output / 'disentanglement.md').write_text(markdown(out))
  return out


def markdown(out: dict) -> str:
  src = 'synthetic neutral records' if out['synthetic'] else 'neutral records'
  lines = [f'### Disentanglement: AE on {out["num_frames"]} neutral frames ({src})', '',
           '| method | AE (mm) | n |', '|---|---|---|']
  for name, m in out['methods'].items():
    lines.append(f"| {name} | {m['mean']:.4f} ± {m['sd']:.4f} | {m['n']} |")
  for name, v in out['paper'].items():
    lines.append(f'| {name} [paper, unit not stated] | {v:.4f} | 1864 |')
  if out['basis_overlap']:
    lines += ['', '| export | identity/expression principal-angle cosine: max | mean |', '|---|---|---|']
    for name, o in out['basis_overlap'].items():
      lines.append(f"| {name} | {o['max_cosine']:.4f} | {o['mean_cosine']:.4f} |")
  lines += ['', f"Skipped: {out['skipped'] or 'none'}.", '']
  return '\n'.join(lines)


@errors.friendly('eval.disentanglement')
def main(argv: Sequence[str]) -> None:
  from absl import flags  # pylint: disable=g-import-not-at-top
  del argv
  f = flags.FLAGS
  frames, skipped = records.read_frames(f.records, neutral_only=True, max_frames=f.max_frames)
  synthetic = bool(frames) and all(fr.dataset == 'synthetic' for fr in frames)
  recs = model_io.with_baselines(f.model, synthetic, f.baselines)
  out = evaluate(recs, frames, skipped, f.model, pathlib.Path(f.output) if f.output else None)
  print(markdown(out))


def define_flags() -> None:
  from absl import flags  # pylint: disable=g-import-not-at-top
  flags.DEFINE_list('model', [], 'Run folders or model.export .npz files (several: side by side).')
  flags.DEFINE_string('records', None, 'Glob(s) of TFRecords; only neutral records are used.')
  flags.DEFINE_integer('max_frames', 0, 'Evaluate at most this many frames (0: all).')
  flags.DEFINE_bool('baselines', True, 'Also evaluate the true ICT model on synthetic records.')
  flags.DEFINE_string('output', None, 'Folder for disentanglement.json and .md.')
  flags.mark_flag_as_required('records')


if __name__ == '__main__':
  define_flags()
  cli.run(main)
