"""eval.checks: the demo's learning checks read the report's sections and apply the targets."""

import copy

from eval import checks

BASE, TRUE = 'mean template', 'ICT model (true)'


def _sections(gap=(0.3, 0.1, 0.5), upper=0.6, inside=12, ae=0.3):
  return {
      'synthetic/bu3dfe': {'methods': {m: {'overall': {'mean': v}} for m, v in
                                       (('run', 4.0), (BASE, 4.9), (TRUE, 2.5))},
                           'gap_closed': {'run': dict(zip(('fraction', 'ci_low', 'ci_high'), gap))}},
      'synthetic/lips': {'methods': {'run': {'upper': {'mean': upper}, 'lower': {'mean': 0.7}},
                                     BASE: {'upper': {'mean': 0.58}, 'lower': {'mean': 0.63}},
                                     TRUE: {'upper': {'mean': 0.93}, 'lower': {'mean': 0.95}}}},
      'synthetic/subspace': {'models': [{'model': 'run', 'blendshapes': [
          {'in_learned_span': 0.95 if i < inside else 0.5} for i in range(53)]}]},
      'synthetic/disentanglement': {'methods': {'run': {'mean': ae}, TRUE: {'mean': 0.72}}},
  }


def test_a_model_meeting_every_target_passes_and_each_miss_fails_its_own_row():
  good = checks.learning_checks(_sections(), 'run')
  assert good['passed'] and all(r['passed'] for r in good['rows'])
  assert 'PASS' in checks.markdown(good) and 'FAIL' not in checks.markdown(good)
  misses = {'share of the gap closed (95% interval)': dict(gap=(0.3, -0.01, 0.6)),
            'upper lip IoU': dict(upper=0.5),
            'ICT blendshapes in the learned span (> 0.9)': dict(inside=9),
            'AE on neutral faces (mm)': dict(ae=0.8)}
  for row, change in misses.items():
    out = checks.learning_checks(_sections(**change), 'run')
    failed = [r['check'] for r in out['rows'] if not r['passed']]
    assert failed == [row] and not out['passed'], (row, failed)
  assert not checks.learning_checks(_sections(gap=(0.2, 0.1, 0.3)), 'run')['passed']


def test_a_missing_section_fails_its_checks_instead_of_passing():
  sections = copy.deepcopy(_sections())
  del sections['synthetic/subspace'], sections['synthetic/lips']
  out = checks.learning_checks(sections, 'run')
  failed = {r['check'] for r in out['rows'] if not r['passed']}
  assert failed == {'upper lip IoU', 'lower lip IoU', 'ICT blendshapes in the learned span (> 0.9)'}
  assert 'n/a' in checks.markdown(out)
