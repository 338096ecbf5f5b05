"""Learning checks on the synthetic split: does a trained model beat the mean template where it must?

``eval.report`` runs them for the first model it is given (``make demo``: the demo's run) and puts the
table first in ``report.md`` (``report.json``: ``checks``). The thresholds are the demo's targets:

* geometry (Table 1 on the BU-3DFE-layout synthetic split): the model closes at least
  ``TARGETS.gap_closed`` of the gap from the mean template (fitted pose) to the true ICT model fitted to the
  landmarks, with a 95% paired bootstrap interval above 0 (``eval.bu3dfe.gap_table``);
* lips (Table 2): IoU at least the mean template's, for both lips;
* expressions (``eval.subspace``): at least ``TARGETS.blendshapes_in_span`` of the 53 ICT blendshapes lie
  inside the learned expression span (``||P b|| / ||b|| > 0.9``);
* disentanglement (Table 3): AE on neutral faces below the true model's (fitted to the landmarks).
"""

from __future__ import annotations

import dataclasses
import math

from eval import bu3dfe


@dataclasses.dataclass(frozen=True)
class Targets:
  gap_closed: float = 0.25
  blendshapes_in_span: int = 10


TARGETS = Targets()


def _method(section: dict | None, name: str):
  return None if not section else section.get('methods', {}).get(name)


def learning_checks(sections: dict, model: str, targets: Targets = TARGETS) -> dict:
  """The checks of ``model`` (its row name) from ``eval.report``'s synthetic sections.

  Returns:
    {'model', 'rows': [{'check', 'model', 'mean template', 'true model', 'target', 'passed'}], 'passed'}
    (a check whose section is missing or failed does not pass).
  """
  nan = float('nan')
  rows = []

  def row(check, value, base, true, target, passed):
    rows.append({'check': check, 'model': value, 'mean template': base, 'true model': true, 'target': target,
                 'passed': bool(passed)})

  geo = sections.get('synthetic/bu3dfe') or {}
  overall = lambda n: (_method(geo, n) or {}).get('overall', {}).get('mean', nan)
  gap = (geo.get('gap_closed') or {}).get(model)
  row('geometry, BU-layout (mm)', overall(model), overall(bu3dfe.GAP_BASELINE), overall(bu3dfe.GAP_REFERENCE),
      '-', not math.isnan(overall(model)))
  row('share of the gap closed (95% interval)',
      (gap['fraction'], gap['ci_low'], gap['ci_high']) if gap else None, 0.0, 1.0,
      f">= {targets.gap_closed:.0%}, interval > 0",
      bool(gap) and gap['fraction'] >= targets.gap_closed and gap['ci_low'] > 0)
  lips = sections.get('synthetic/lips') or {}
  for lip in ('upper', 'lower'):
    iou = lambda n: (_method(lips, n) or {}).get(lip, {}).get('mean', nan)  # pylint: disable=cell-var-from-loop
    row(f'{lip} lip IoU', iou(model), iou(bu3dfe.GAP_BASELINE), iou(bu3dfe.GAP_REFERENCE), '>= mean template',
        iou(model) >= iou(bu3dfe.GAP_BASELINE))
  sub = [m for m in (sections.get('synthetic/subspace') or {}).get('models', []) if m.get('model') == model]
  inside = sum(b['in_learned_span'] > 0.9 for b in sub[0].get('blendshapes', [])) if sub else None
  row('ICT blendshapes in the learned span (> 0.9)', inside, '-', 53, f'>= {targets.blendshapes_in_span}',
      inside is not None and inside >= targets.blendshapes_in_span)
  dis = sections.get('synthetic/disentanglement') or {}
  ae = lambda n: (_method(dis, n) or {}).get('mean', nan)
  row('AE on neutral faces (mm)', ae(model), '-', ae(bu3dfe.GAP_REFERENCE), '< true model',
      ae(model) < ae(bu3dfe.GAP_REFERENCE))
  return {'model': model, 'rows': rows, 'passed': all(r['passed'] for r in rows)}


def _cell(v) -> str:
  if v is None:
    return 'n/a'
  if isinstance(v, tuple):
    return f'{v[0]:.0%} [{v[1]:.0%}, {v[2]:.0%}]'
  if isinstance(v, float):
    return 'n/a' if math.isnan(v) else (f'{v:.0%}' if v in (0.0, 1.0) else f'{v:.3g}')
  return str(v)


def markdown(checks: dict) -> str:
  lines = [f"### Learning checks: {checks['model']} (synthetic split)", '',
           '| check | model | mean template | true ICT model | target | |', '|---|---|---|---|---|---|']
  for r in checks['rows']:
    lines.append(f"| {r['check']} | {_cell(r['model'])} | {_cell(r['mean template'])} | "
                 f"{_cell(r['true model'])} | {r['target']} | {'PASS' if r['passed'] else 'FAIL'} |")
  lines += ['', f"All checks {'passed' if checks['passed'] else 'NOT passed'}.", '']
  return '\n'.join(lines)
