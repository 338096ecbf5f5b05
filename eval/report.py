r"""All tables for one or several models side by side: ``report.md``, ``report.json`` and figures.

  python -m eval.report --model=runs/demo,runs/no_lseg/model.npz --output=reports/demo \
      [--seed=1 --num_test_subjects=8 ...]                         # a fresh synthetic split
      [--bu3dfe=ROOT] [--lfw_pairs=pairs.txt --lfw_images=ROOT]    # real data when available
      [--records='prepared/*.tfrecord'] [--neutral_records='emotionet/*.tfrecord']
      [--pairs_csv=../shared/media/pairs/pairs.csv] [--nosynthetic_tables]

Synthetic split: ``data.synthetic`` with the seed and ranges given by the flags (cached by configuration,
so anyone can regenerate exactly this split or make a fresh one with another seed). On it: Table 1
(``eval.bu3dfe``, vertex protocol), Table 2 (``eval.lips`` on the rendered clips), Table 3
(``eval.disentanglement`` on the neutral split), the verification EMD (``eval.lfw`` synthetic pairs) and
``eval.subspace``. Each real dataset given adds its table. Every table lists the models, the baselines of
the same run and the paper's numbers. A section that fails is reported in ``report.md`` with its error and
makes the exit status 1; the others still run.
"""

from __future__ import annotations

from common import cli  # noqa: F401  (first: quiet TensorFlow start-up)

import datetime
import json
import pathlib
import platform
import time
import traceback
from typing import Sequence

import numpy as np

from eval import bu3dfe
from eval import checks as learning_checks
from eval import disentanglement
from eval import errors
from eval import lfw
from eval import lips
from eval import model_io
from eval import records
from eval import subspace


def synthetic_split(seed: int, num_identities: int, num_neutral: int, num_test_subjects: int,
                    test_expressions: Sequence[str], identity_modes: int, yaw_deg: float, pitch_deg: float,
                    roll_deg: float, root: str | None = None):
  """The synthetic dataset for these flags (generated on first use, cached by configuration)."""
  from data import synthetic  # pylint: disable=g-import-not-at-top
  cfg = synthetic.SyntheticConfig(num_identities=num_identities, num_neutral=num_neutral,
                                  num_test_subjects=num_test_subjects,
                                  test_expressions=tuple(test_expressions),
                                  identity_modes=identity_modes, yaw_deg=yaw_deg, pitch_deg=pitch_deg,
                                  roll_deg=roll_deg, seed=seed)
  return synthetic.ensure_synthetic_dataset(cfg, root)


def run(models: Sequence[str], output: pathlib.Path, split, bu3dfe_root: str | None = None,
        lfw_pairs: str | None = None, lfw_images: str | None = None, real_records: str | None = None,
        neutral_records: str | None = None, ict_identity_modes: int = 40, pairs_csv: str | None = None,
        synthetic_tables: bool = True) -> dict:
  """Runs every section; returns the report dict (also written to ``output``).

  ``pairs_csv``: a same / different photo pairs table (``eval.lfw.csv_pair_inputs``) for the verification
  EMD on real photos. ``synthetic_tables``: False skips the synthetic split's tables (real data only).
  """
  output.mkdir(parents=True, exist_ok=True)
  sections, errors, md = {}, {}, []
  recs_synth = model_io.with_baselines(models, synthetic=True, ict_identity_modes=ict_identity_modes)
  recs_real = [r for r in recs_synth if r.name != 'ICT model (true)']
  # Table 1 and 2 also with dlib's detections as the encoders' landmark input (what a user has).
  recs_detected = recs_synth + model_io.with_detected_landmarks(recs_synth)

  def section(key, fn):
    t0 = time.time()
    try:
      out, text = fn()
      out['seconds'] = round(time.time() - t0, 1)
      sections[key] = out
      md.append(text)
    except Exception as e:  # pylint: disable=broad-except  (reported, and the exit status says so)
      errors[key] = f'{type(e).__name__}: {e}'
      md.append(f'### {key}: FAILED\n\n```\n{traceback.format_exc(limit=3)}```\n')

  def synth_bu3dfe():
    data = bu3dfe.load_inputs(split.test_bu3dfe, split.test_groundtruth)
    out = bu3dfe.evaluate(recs_detected, data, output=output / 'synthetic')
    return out, bu3dfe.markdown(out)

  def synth_lips():
    frames, skipped = records.read_frames(split.train_video)
    out = lips.evaluate(recs_detected, frames, skipped, output / 'synthetic')
    return out, lips.markdown(out)

  def synth_dis():
    frames, skipped = records.read_frames(split.train_neutral, neutral_only=True)
    out = disentanglement.evaluate(recs_synth, frames, skipped, models, output / 'synthetic')
    return out, disentanglement.markdown(out)

  def synth_lfw():
    frames, skipped = records.read_frames(split.train_video + ',' + split.train_neutral)
    images, lms = np.stack([f.image for f in frames]), np.stack([f.landmarks for f in frames])
    out = lfw.evaluate(recs_real, images, lms,
                       lfw.synthetic_pairs(frames), skipped, True, output / 'synthetic')
    return out, lfw.markdown(out)

  def synth_subspace():
    res, skipped = [], []
    for m in models:
      try:
        subspace.find_export(m)
      except FileNotFoundError as e:
        skipped.append(str(e))
        continue
      p = pathlib.Path(m)
      res.append(subspace.evaluate(m, ict_identity_modes, name=p.name if p.is_dir() else p.stem))
    text = subspace.markdown(res) if res else '### Learned vs true ICT spaces\n'
    return {'models': res, 'skipped': skipped}, text + ''.join(f'\nSkipped: {s}\n' for s in skipped)

  if synthetic_tables:
    section('synthetic/bu3dfe', synth_bu3dfe)
    section('synthetic/lips', synth_lips)
    section('synthetic/disentanglement', synth_dis)
    section('synthetic/lfw', synth_lfw)
    if models:
      section('synthetic/subspace', synth_subspace)
  if bu3dfe_root:
    def real_bu3dfe():
      data = bu3dfe.load_inputs(bu3dfe_root)
      recs = model_io.with_baselines(models, data.synthetic, ict_identity_modes=data.identity_modes)
      out = bu3dfe.evaluate(recs, data, output=output / 'real')
      return out, bu3dfe.markdown(out)
    section('real/bu3dfe', real_bu3dfe)
  if real_records:
    def real_lips():
      frames, skipped = records.read_frames(real_records)
      out = lips.evaluate(recs_real, frames, skipped, output / 'real')
      return out, lips.markdown(out)
    section('real/lips', real_lips)
  if neutral_records:
    def real_dis():
      frames, skipped = records.read_frames(neutral_records, neutral_only=True)
      out = disentanglement.evaluate(recs_real, frames, skipped, models, output / 'real')
      return out, disentanglement.markdown(out)
    section('real/disentanglement', real_dis)
  if lfw_pairs and lfw_images:
    def real_lfw():
      imgs, lms, pairs, skipped = lfw.lfw_inputs(lfw_pairs, lfw_images)
      images = np.stack(imgs) if imgs else np.zeros((0, 1, 1, 3), np.uint8)
      out = lfw.evaluate(recs_real, images, lms, pairs, skipped, False, output / 'real')
      return out, lfw.markdown(out)
    section('real/lfw', real_lfw)
  if pairs_csv:
    def real_pairs():
      images, lms, pairs, skipped = lfw.csv_pair_inputs(pairs_csv)
      out = lfw.evaluate(recs_real, images, lms, pairs, skipped, False, output / 'real_pairs')
      out['source'] = f'photo pairs {pairs_csv}'
      return out, lfw.markdown(out)
    section('real/pairs', real_pairs)
  header = ['# Evaluation report', '',
            f'Models: {", ".join(models) if models else "(none: baselines only)"}. '
            f'Synthetic split: {split.root} (config {json.dumps(_cfg(split))}).',
            f'Generated {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M UTC} on '
            f'{platform.machine()} / Python {platform.python_version()}. '
            'Baselines: mean template with fitted '
            'pose; true ICT model fitted to landmarks (synthetic). Paper numbers are on real data (BU-3DFE, '
            'LFW, EmotioNet) and are shown for context, not as a like-for-like comparison.', '']
  if errors:
    header += ['**Failed sections:** ' + '; '.join(f'{k}: {v}' for k, v in errors.items()), '']
  checks = None
  if models and synthetic_tables:
    first = pathlib.Path(models[0])
    checks = learning_checks.learning_checks(sections, first.name if first.is_dir() else first.stem)
    header.append(learning_checks.markdown(checks))
  report = {'models': list(models), 'synthetic_root': str(split.root), 'synthetic_config': _cfg(split),
            'sections': sections, 'errors': errors, 'checks': checks}
  (output / 'report.json').write_text(json.dumps(report, indent=1, default=str))
  (output / 'report.md').write_text('\n'.join(header + md))
  return report


def _cfg(split) -> dict:
  """The configuration the split was generated with (its config.json), else the requested one."""
  import dataclasses  # pylint: disable=g-import-not-at-top
  written = pathlib.Path(split.root) / 'config.json'
  if written.is_file():
    return json.loads(written.read_text())
  return {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(split.config).items()}


@errors.friendly('eval.report')
def main(argv: Sequence[str]) -> None:
  from absl import flags  # pylint: disable=g-import-not-at-top
  del argv
  f = flags.FLAGS
  split = synthetic_split(f.seed, f.num_identities, f.num_neutral, f.num_test_subjects, f.test_expressions,
                          f.identity_modes, f.yaw_deg, f.pitch_deg, f.roll_deg, f.synthetic_root)
  report = run(f.model, pathlib.Path(f.output), split, f.bu3dfe, f.lfw_pairs, f.lfw_images, f.records,
               f.neutral_records, f.identity_modes, f.pairs_csv, f.synthetic_tables)
  print((pathlib.Path(f.output) / 'report.md').read_text())
  if report['errors'] or (f.strict_checks and report['checks'] and not report['checks']['passed']):
    raise SystemExit(1)


def define_flags() -> None:
  from absl import flags  # pylint: disable=g-import-not-at-top
  flags.DEFINE_list('model', [], 'Run folders or model.export .npz files, side by side.')
  flags.DEFINE_string('output', None, 'Report folder (report.md, report.json, figures).')
  flags.DEFINE_integer('seed', 1, 'Synthetic split seed (training data uses 0 by default: keep them apart).')
  flags.DEFINE_integer('num_identities', 8, 'Synthetic clips (Table 2 and the verification pairs).')
  flags.DEFINE_integer('num_neutral', 16, 'Synthetic neutral images (Table 3).')
  flags.DEFINE_integer('num_test_subjects', 6, 'Synthetic BU-3DFE-layout subjects (Table 1).')
  flags.DEFINE_list('test_expressions', ['NE00', 'HA04', 'SU04', 'AN04', 'DI04', 'FE04', 'SA04'],
                    'BU-3DFE expression codes per test subject.')
  flags.DEFINE_integer('identity_modes', 40, 'ICT identity modes of the synthetic world.')
  flags.DEFINE_float('yaw_deg', 30.0, 'Synthetic pose range (clips).')
  flags.DEFINE_float('pitch_deg', 15.0, 'Synthetic pose range (clips).')
  flags.DEFINE_float('roll_deg', 10.0, 'Synthetic pose range (clips).')
  flags.DEFINE_string('synthetic_root', None, 'Where to write / find the split (default: the cache).')
  flags.DEFINE_string('bu3dfe', None, 'Real BU-3DFE root (Table 1 on scans).')
  flags.DEFINE_string('lfw_pairs', None, 'LFW pairs.txt.')
  flags.DEFINE_string('lfw_images', None, 'LFW image root.')
  flags.DEFINE_string('pairs_csv', None, 'Same / different photo pairs table file_x,file_y,Decision (e.g. '
                      '../shared/media/pairs/pairs.csv): verification EMD on real photos.')
  flags.DEFINE_bool('synthetic_tables', True, "The synthetic split's tables (False: only the real data "
                    'given).')
  flags.DEFINE_string('records', None, 'Prepared real records with lip masks (Table 2).')
  flags.DEFINE_string('neutral_records', None, 'Prepared neutral records, e.g. EmotioNet (Table 3).')
  flags.DEFINE_bool('strict_checks', False, "Exit with status 1 when the first model fails a learning check "
                    '(eval.checks).')
  flags.mark_flag_as_required('output')


if __name__ == '__main__':
  define_flags()
  cli.run(main)
