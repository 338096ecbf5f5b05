r"""Writes the shipped model's ``MODEL_CARD.md`` from what the release run measured
(scripts/train_release.sh).

  python scripts/model_card.py --run_dir=runs/reference --package=model/pretrained

Reads ``<package>/manifest.json`` and ``config.json`` (model.pretrained), ``<run_dir>/demo/results.json``
(training.demo: timings, held-out check), ``<run_dir>/report/report.md`` (eval.report, synthetic split) and
``<run_dir>/landmarks300w/landmarks.md`` (eval.landmarks on the 300-W photos); every number in the card comes
from those files.
"""

import datetime
import json
import pathlib
import sys

from absl import app
from absl import flags

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from common import machine  # noqa: E402  pylint: disable=g-import-not-at-top

FLAGS = flags.FLAGS
flags.DEFINE_string('run_dir', 'runs/reference', 'The release run folder.')
flags.DEFINE_string('package', 'model/pretrained', 'The packaged model folder (the card is written there).')


def _read(path: pathlib.Path, what: str) -> str:
  if not path.exists():
    return f'*Not measured: {path} is missing ({what} did not run).*\n'
  return path.read_text().strip() + '\n'


def _jitter(path: pathlib.Path) -> str:
  """The jitter table (mean |second difference| per frame) of ``eval.reconstruct``'s summary.json."""
  if not path.exists():
    return f'*Not measured: {path} is missing (eval.reconstruct did not run).*\n'
  summary = json.loads(path.read_text())
  lines = ['Mean absolute second difference between consecutive frames, raw (the encoder) / One-Euro '
           'smoothed (what `eval.reconstruct` writes); angles in radians, translation in cm, expression '
           'coefficients unitless.', '',
           '| clip | frames | angles | translation | expression |', '|---|---|---|---|---|']
  for name, entry in sorted(summary.get('files', {}).items()):
    j = entry.get('jitter')
    if not j:
      lines.append(f'| {pathlib.Path(name).name} | 0 | - | - | - |')
      continue
    cell = lambda k: f'{j[k]["raw"]:.4f} / {j[k]["smoothed"]:.4f}'  # noqa: E731
    lines.append(f'| {pathlib.Path(name).name} | {entry["frames_reconstructed"]} | {cell("angles")} | '
                 f'{cell("translation")} | {cell("delta")} |')
  return '\n'.join(lines) + '\n'


def main(argv):
  del argv
  run, pkg = pathlib.Path(FLAGS.run_dir), pathlib.Path(FLAGS.package)
  manifest = json.loads((pkg / 'manifest.json').read_text())
  cfg = json.loads((pkg / 'config.json').read_text())
  m = cfg['model']
  results_path = run / 'demo' / 'results.json'
  results = json.loads(results_path.read_text()) if results_path.exists() else {}
  stages = ', '.join(f'{s["name"]} {s["steps"]} steps (batch {s.get("batch_size") or cfg["batch_size"]}, '
                     f'lr {s["learning_rate"]:g})' for s in cfg['stages'])
  timing = results.get('stages', {})
  seconds = sum(v['seconds'] for v in timing.values()) if timing else None
  info = machine.describe()
  host = f'{info["cpu"]}, {info["cores"]} cores'
  lines = [
      '# Model card: the pretrained complete3dmm model',
      '',
      'The model that `eval.reconstruct`, `eval.transfer` and `training.main --stage=personalize` use when '
      'no `--model` is given (`model.pretrained`). Made by `bash scripts/train_release.sh` on '
      f'{datetime.date.today().isoformat()} ({host}; no GPU).',
      '',
      '## What it is',
      '',
      f'- Configuration `{cfg["name"]}`, hash `{manifest["config_hash"]}` (`config.json` beside this card; '
      f'training seed {cfg["seed"]}): the small CPU encoder with the landmark branch (the 68 detected '
      f'landmarks are an input beside the {m["image_size"]} px crop), the paper\'s face model '
      f'({m["num_identity"]} identity, {m["num_expression"]} expression, {m["num_albedo"]} albedo '
      f'components on the ICT template\'s deformation graph of {m["num_nodes"]} nodes).',
      f'- Schedule: {stages}.' + (f' Training took {seconds / 60:.0f} min.' if seconds else ''),
      f'- Files: `weights.npz` ({manifest["weights_bytes"] / 1e6:.2f} MB, {manifest["parameters"]:,} '
      f'parameters, float16), sha256 `{manifest["weights_sha256"]}`; `config.json` sha256 '
      f'`{manifest["config_sha256"]}`. float16 rounding moves reconstructed vertices by '
      f'{manifest["float16_vertex_rounding_mm"]:.4f} mm on average (measured at packaging).',
      f'- Source: {manifest["source_run"]}, checkpoint {manifest["source_checkpoint"]}.',
      '',
      '## Training data and licences',
      '',
      '- **Only the built-in synthetic world** (`data.synthetic_stream`): faces generated from the ICT Face '
      'Model Light (MIT licence, USC ICT), rendered by the project\'s rasterizer, with their exact 68 '
      'landmarks. No real footage or photo was used to train these weights, so they carry no research-only '
      'restriction from training data.',
      '- At run time the input crops and the encoder\'s landmark input come from dlib\'s 68-point predictor, '
      'trained on iBUG 300-W, whose licence **excludes commercial use**: a commercial user must replace the '
      'detector. This is a research model.',
      '- Not yet done (issue 22, item 1): training on the real clips of `../shared/media/real_clips/` '
      '(research and test use only). Weights trained on them would be research-use only as well.',
      '',
      '## Measured: held-out synthetic faces (eval.report, seed-1 split, never seen in training)',
      '',
      _read(run / 'report' / 'report.md', 'eval.report'),
      '## Measured: 300-W photos with hand-made 68-point annotations (eval.landmarks)',
      '',
      _read(run / 'landmarks300w' / 'landmarks.md', 'eval.landmarks'),
      '## Measured: real clips and photo pairs (eval.report, real tables)',
      '',
      'Lip IoU on two real clips held out of all training (16 frames each, `voxceleb2_input_00002.mp4` and '
      '`retalking_face1.mp4` of `../shared/media/real_clips/`; masks from the MediaPipe face mesh as in '
      '`data.prepare`), and the verification EMD of the identity renders on the 300 same / different pairs '
      'of `../shared/media/pairs/` (none of its 9 people was seen in training), next to the input '
      'photos\' EMD.',
      '',
      _read(run / 'report_real' / 'report.md', 'eval.report on the real data'),
      '## Measured: pose and expression jitter on the held-out clips (eval.reconstruct)',
      '',
      _jitter(run / 'heldout_reconstruct' / 'summary.json'),
      '## Not measured yet',
      '',
      '- The photometric error inside the face mask on the held-out clips (issue 22, item 3).',
      '',
  ]
  (pkg / 'MODEL_CARD.md').write_text('\n'.join(lines))
  print(f'wrote {pkg / "MODEL_CARD.md"}')


if __name__ == '__main__':
  app.run(main)
