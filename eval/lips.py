r"""Table 2: lip segmentation IoU (upper lip, lower lip) of the reconstructions against ground-truth masks.

  python -m eval.lips --model=RUN_OR_EXPORT --records='.../train/video-*.tfrecord' [--output=DIR]

Frames come from prepared records (``data.prepare`` for real images: the lip masks of its independent
MediaPipe/dlib source; ``data.synthetic``: exact rendered masks). Each frame is reconstructed, its upper
and lower lip regions are rendered in the predicted pose (the network's own render for a run folder; for an
export, the model fitted to the frame's landmarks and rasterized), and compared with the frame's masks:
IoU = |P and G| / |P or G| per frame and lip, averaged over frames. A frame where both masks of a lip are
empty has no IoU and is a counted skip for that lip. Baselines: the mean template with a fitted pose, and
on synthetic records the true ICT model fitted to the landmarks. The paper's Table 2 (real images) is
printed beside.
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

LIPS = ('upper', 'lower')


def evaluate(reconstructors: Sequence, frames: list, skipped: collections.Counter | None = None,
             output: pathlib.Path | None = None) -> dict:
  """IoU table of every reconstructor on ``frames`` (``records.EvalFrame``)."""
  skipped = collections.Counter(skipped or {})
  if not frames:
    raise ValueError('eval.lips: no frames to evaluate.')
  images = np.stack([f.image for f in frames])
  lms = np.stack([f.landmarks for f in frames])
  gt = np.stack([np.stack([f.lip_mask == 1, f.lip_mask == 2], -1) for f in frames])  # [B, S, S, 2]
  methods = {}
  for rec in reconstructors:
    rec_images, rec_lms, rec_gt = images, lms, gt
    if hasattr(rec, 'detect'):  # a detected-landmarks row: the frames the detector finds a face in
      rec_lms, found = rec.detect(images)
      if np.any(~found):
        skipped[f'{rec.name}: no face detected'] += int(np.sum(~found))
      rec_images, rec_lms, rec_gt = images[found], rec_lms[found], gt[found]
      if not found.any():
        methods[rec.name] = {lip: {'mean': float('nan'), 'sd': float('nan'), 'n': 0} for lip in LIPS}
        continue
    recon = model_io.reconstruct_all(rec, rec_images, rec_lms)
    pred = model_io.lip_masks(recon, rec.topology)
    gt_rec = rec_gt
    if pred.shape != gt_rec.shape:
      raise ValueError(f'{rec.name}: renders of {pred.shape[1:3]} for frames of {gt.shape[1:3]}.')
    per = {lip: [metrics.mask_iou(pred[i, ..., k], gt_rec[i, ..., k]) for i in range(len(gt_rec))]
           for k, lip in enumerate(LIPS)}
    row = {}
    for lip, values in per.items():
      v = np.asarray(values)
      ok = ~np.isnan(v)
      if np.any(~ok):
        skipped[f'{rec.name}: {lip} lip absent in both masks'] += int(np.sum(~ok))
      row[lip] = {'mean': float(v[ok].mean()) if ok.any() else float('nan'),
                  'sd': float(v[ok].std()) if ok.any() else float('nan'), 'n': int(ok.sum())}
    methods[rec.name] = row
  out = {'table': 'Lip IoU (Table 2)', 'unit': 'IoU', 'num_frames': len(frames),
         'synthetic': all(f.dataset == 'synthetic' for f in frames), 'methods': methods,
         'skipped': dict(skipped), 'paper': {k: {'upper': v[0], 'lower': v[1]}
                                              for k, v in paper.TABLE2_LIP_IOU.items()}}
  if output is not None:
    output.mkdir(parents=True, exist_ok=True)
    (output / 'lips.json').write_text(json.dumps(out, indent=1))
    (output / 'lips.md').write_text(markdown(out))
  return out


def markdown(out: dict) -> str:
  src = 'synthetic records' if out['synthetic'] else 'prepared records'
  lines = [f'### Lip IoU ({src}, {out["num_frames"]} frames)', '', '| method | upper lip | lower lip | n |',
           '|---|---|---|---|']
  for name, m in out['methods'].items():
    lines.append(f"| {name} | {m['upper']['mean']:.3f} ± {m['upper']['sd']:.3f} | "
                 f"{m['lower']['mean']:.3f} ± {m['lower']['sd']:.3f} | {m['upper']['n']} |")
  for name, v in out['paper'].items():
    lines.append(f"| {name} [paper, real images] | {v['upper']:.2f} | {v['lower']:.2f} | |")
  lines += ['', f"Skipped: {out['skipped'] or 'none'}.", '']
  return '\n'.join(lines)


@errors.friendly('eval.lips')
def main(argv: Sequence[str]) -> None:
  from absl import flags  # pylint: disable=g-import-not-at-top
  del argv
  f = flags.FLAGS
  frames, skipped = records.read_frames(f.records, max_frames=f.max_frames)
  synthetic = bool(frames) and all(fr.dataset == 'synthetic' for fr in frames)
  recs = model_io.with_baselines(f.model, synthetic, f.baselines)
  print(markdown(evaluate(recs, frames, skipped, pathlib.Path(f.output) if f.output else None)))


def define_flags() -> None:
  from absl import flags  # pylint: disable=g-import-not-at-top
  flags.DEFINE_list('model', [], 'Run folders or model.export .npz files (several: side by side).')
  flags.DEFINE_string('records', None, 'Glob(s) of prepared / synthetic TFRecords (comma-separated).')
  flags.DEFINE_integer('max_frames', 0, 'Evaluate at most this many frames (0: all).')
  flags.DEFINE_bool('baselines', True, 'Also evaluate the mean template (and the true ICT model on '
                    'synthetic records).')
  flags.DEFINE_string('output', None, 'Folder for lips.json and lips.md.')
  flags.mark_flag_as_required('records')


if __name__ == '__main__':
  define_flags()
  cli.run(main)
