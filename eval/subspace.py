r"""Beyond the paper (synthetic world only): do the learned bases span the true ICT spaces?

  python -m eval.subspace --model=EXPORT.npz [--ict_identity_modes=40] [--output=DIR]

The synthetic faces are ICT neutral + identity modes + blendshapes, so the learned linear spaces can be
compared with the true ones directly, in vertex space over the template (the narrow ICT face area; all
vertices, 3 coordinates each):

* principal-angle cosines between span(U M_gexp) and span(ICT expression deltas), and between
  span(U M_gid_perp) and span(ICT identity modes) (1: a shared direction; the number of cosines above 0.9
  is the dimension recovered), plus the cross terms (learned identity vs true expression: leakage);
* for each ICT blendshape, the fraction of it inside the learned expression span (||P b|| / ||b||) and the
  learned mode with the largest |cosine| (which learned modes match which blendshapes).

Needs the export's topology to be the synthetic world's template (else: a clear error). A run folder is
accepted if it holds an export (``*.npz``).
"""

from __future__ import annotations

from common import cli  # noqa: F401  (first: quiet start-up)

import json
import pathlib
from typing import Sequence

import numpy as np

from eval import errors
from eval import metrics
from eval import model_io

THRESHOLD = 0.9


def find_export(path: str | pathlib.Path) -> pathlib.Path:
  """``path`` itself, or the export of a run folder (``export/<last stage>.npz``, else its newest .npz)."""
  path = pathlib.Path(path)
  if path.is_dir():
    # training writes export/<stage>.npz; the last stage wins
    for stage in ('combined', 'expression', 'identity', 'pose'):
      if (path / 'export' / f'{stage}.npz').is_file():
        return path / 'export' / f'{stage}.npz'
    found = sorted(path.rglob('*.npz'), key=lambda p: p.stat().st_mtime)
    if not found:
      raise FileNotFoundError(f'{path}: a run folder without a model export (*.npz); eval.subspace needs the '
                              'learned bases (python -m model.export or training writes one).')
    return found[-1]
  return path


def true_spaces(region: str, identity_modes: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
  """ICT identity [3N, K] and expression [3N, 53] deltas on the template (vertex-major rows), names."""
  from model import assets  # pylint: disable=g-import-not-at-top
  from model import template as template_lib  # pylint: disable=g-import-not-at-top
  t = template_lib.load_template(region)
  ident = t.map_ict(assets.load_identity_deltas(identity_modes))  # [K, N, 3]
  expr, names = assets.load_expression_deltas()
  expr = t.map_ict(expr)
  flat = lambda b: np.moveaxis(b, 0, -1).reshape(-1, b.shape[0]).astype(np.float64)
  return flat(ident), flat(expr), list(names)


def _summary(c: np.ndarray) -> dict:
  return {'cosines': [round(float(x), 5) for x in c], 'mean': float(c.mean()) if len(c) else float('nan'),
          f'count_above_{THRESHOLD}': int(np.sum(c > THRESHOLD)), 'dimension': int(len(c))}


def evaluate(export_path: str | pathlib.Path, identity_modes: int = 40, name: str | None = None) -> dict:
  path = find_export(export_path)
  d = model_io.read_export(path)
  region = d['config'].get('region', 'narrow')
  ict_id, ict_exp, names = true_spaces(region, identity_modes)
  n = len(d['mean_vertices'])
  if ict_id.shape[0] != 3 * n:
    raise ValueError(f'{path}: {n} vertices, the synthetic world\'s {region} template has '
                     f'{ict_id.shape[0] // 3}: '
                     'mismatched topology (eval.subspace compares vertex spaces on the same template).')
  l_id = d['identity_basis'].reshape(3 * n, -1).astype(np.float64)
  l_exp = d['expression_basis'].reshape(3 * n, -1).astype(np.float64)
  out = {'model': name or path.stem, 'export': str(path), 'ict_identity_modes': identity_modes,
         'learned_identity_dim': int(l_id.shape[1]), 'learned_expression_dim': int(l_exp.shape[1])}
  pairs = {'expression_vs_ict_expression': (l_exp, ict_exp), 'identity_vs_ict_identity': (l_id, ict_id),
           'identity_vs_ict_expression': (l_id, ict_exp), 'expression_vs_ict_identity': (l_exp, ict_id)}
  for key, (a, b) in pairs.items():
    out[key] = _summary(metrics.principal_angle_cosines(a, b)) if a.shape[1] else _summary(np.zeros(0))
  if l_exp.shape[1]:
    inside = metrics.projection_ratio(ict_exp, l_exp)
    idx, cos = metrics.best_matching_columns(ict_exp, l_exp)
    out['blendshapes'] = [{'name': nm, 'in_learned_span': float(r), 'best_mode': int(i), 'cosine': float(c)}
                          for nm, r, i, c in zip(names, inside, idx, cos)]
  return out


def markdown(results: list[dict]) -> str:
  lines = ['### Learned vs true ICT spaces (synthetic world, vertex space over the template)', '',
           f'| model | expr: mean cos | expr: # > {THRESHOLD} | id: mean cos | id: # > {THRESHOLD} | '
           'id vs true expr: max cos |', '|---|---|---|---|---|---|']
  k = f'count_above_{THRESHOLD}'
  for r in results:
    e, i = r['expression_vs_ict_expression'], r['identity_vs_ict_identity']
    x = r['identity_vs_ict_expression']
    lines.append(f"| {r['model']} | {e['mean']:.3f} | {e[k]}/{e['dimension']} | {i['mean']:.3f} | "
                 f"{i[k]}/{i['dimension']} (of {r['ict_identity_modes']} true) | "
                 f"{max(x['cosines'], default=float('nan')):.3f} |")
  for r in results:
    if 'blendshapes' in r:
      best = sorted(r['blendshapes'], key=lambda b: -b['in_learned_span'])
      lines += ['', f"{r['model']}: blendshapes best / worst inside the learned expression span "
                "(fraction; best-matching learned mode, |cos|):",
                ', '.join(f"{b['name']} {b['in_learned_span']:.2f} (mode {b['best_mode']}, {b['cosine']:.2f})"
                          for b in best[:5]) + ' ... ' +
                ', '.join(f"{b['name']} {b['in_learned_span']:.2f}" for b in best[-3:])]
  return '\n'.join(lines + [''])


@errors.friendly('eval.subspace')
def main(argv: Sequence[str]) -> None:
  from absl import flags  # pylint: disable=g-import-not-at-top
  del argv
  f = flags.FLAGS
  results = [evaluate(m, f.ict_identity_modes) for m in f.model]
  if f.output:
    out = pathlib.Path(f.output)
    out.mkdir(parents=True, exist_ok=True)
    (out / 'subspace.json').write_text(json.dumps(results, indent=1))
    (out / 'subspace.md').write_text(markdown(results))
  print(markdown(results))


def define_flags() -> None:
  from absl import flags  # pylint: disable=g-import-not-at-top
  flags.DEFINE_list('model', None, 'Model exports (.npz) or run folders holding one.')
  flags.DEFINE_integer('ict_identity_modes', 40, 'True identity space: the K leading ICT modes (the '
                       'synthetic world\'s identity_modes).')
  flags.DEFINE_string('output', None, 'Folder for subspace.json and subspace.md.')
  flags.mark_flag_as_required('model')


if __name__ == '__main__':
  define_flags()
  cli.run(main)
