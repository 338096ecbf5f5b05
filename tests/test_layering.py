"""The one direction of imports (DESIGN.md): common <- tf_ops <- model <- training, eval; data may use model
and tf_ops; nothing imports training or eval. Checked by parsing every module's imports (also the lazy ones
inside functions)."""

import ast
import pathlib

import pytest

from common import paths

PACKAGES = ('common', 'tf_ops', 'model', 'data', 'training', 'eval')
ALLOWED = {
    'common': {'common'},
    'tf_ops': {'common', 'tf_ops'},
    'model': {'common', 'tf_ops', 'model'},
    'data': {'common', 'tf_ops', 'model', 'data'},
    'training': {'common', 'tf_ops', 'model', 'data', 'training'},
    'eval': {'common', 'tf_ops', 'model', 'data', 'eval'},
}


def imported_packages(source: str) -> set[str]:
  """Top-level project packages imported anywhere in ``source`` (absolute imports)."""
  found = set()
  for node in ast.walk(ast.parse(source)):
    if isinstance(node, ast.Import):
      names = [alias.name for alias in node.names]
    elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
      names = [node.module]
    else:
      continue
    found.update(n.split('.')[0] for n in names if n.split('.')[0] in PACKAGES)
  return found


def layering_violations(root: pathlib.Path) -> list[str]:
  """Returns 'module imports package' lines for every import against ``ALLOWED`` under ``root``."""
  violations = []
  for package, allowed in ALLOWED.items():
    for path in sorted((root / package).rglob('*.py')):
      for imported in sorted(imported_packages(path.read_text()) - allowed):
        violations.append(f'{path.relative_to(root)} imports {imported}')
  return violations


def test_no_module_imports_a_higher_layer():
  assert layering_violations(paths.REPO_ROOT) == []


@pytest.mark.parametrize('package, source, bad', [
    ('model', 'import training.losses\n', 'training'),
    ('tf_ops', 'def f():\n  from model import camera\n', 'model'),
    ('data', 'from eval import metrics\n', 'eval'),
    ('common', 'import tf_ops\n', 'tf_ops'),
])
def test_the_check_catches_upward_imports_also_lazy_ones(tmp_path, package, source, bad):
  (tmp_path / package).mkdir()
  (tmp_path / package / 'mod.py').write_text(source)
  assert layering_violations(tmp_path) == [f'{package}/mod.py imports {bad}']


def test_allowed_imports_pass_the_check(tmp_path):
  (tmp_path / 'eval').mkdir()
  source = 'from model import face_model\nimport data.schema\nimport numpy\n'
  (tmp_path / 'eval' / 'mod.py').write_text(source)
  assert layering_violations(tmp_path) == []
