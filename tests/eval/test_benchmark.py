"""eval.benchmark runs every row on a tiny model and reports consistent ratios (no timing assertions)."""

from eval import benchmark


def test_benchmark_reports_every_row_with_ratios(tiny_model, photo):
  report = benchmark.run(tiny_model, photo, batch=2, repeats=1, min_face_size=100)
  names = [r['row'] for r in report['rows']]
  assert names == ['encoder', 'encoder+geometry', 'encoder+geometry+render', 'detect+crop+encoder+geometry']
  base = report['rows'][1]['images_per_s']
  for r in report['rows']:
    assert r['images_per_s'] > 0
    assert abs(r['ratio_to_encoder+geometry'] * base - r['images_per_s']) < 1e-6 * r['images_per_s']
  table = benchmark.markdown(report)
  assert all(f'| {n} |' in table for n in names) and 'shared' in table
