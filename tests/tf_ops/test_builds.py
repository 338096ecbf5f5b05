"""The op's build paths: CUDA kernels compile with nvcc, Bazel's library matches the pip build, and
the loader explains what to run when no library exists."""

import os
import pathlib
import shutil
import subprocess
import sys
import textwrap

import pytest

from tf_ops import build as op_build

ROOT = pathlib.Path(__file__).resolve().parents[2]
BAZEL_LIBRARY = ROOT / 'bazel-bin' / 'tf_ops' / '_rasterizer_ops.so'


@pytest.mark.slow
@pytest.mark.skipif(op_build.find_nvcc() is None, reason='nvcc is not installed on this machine')
def test_cuda_kernels_compile_with_nvcc_and_export_the_launchers(tmp_path):
  objects = op_build.compile_cuda_objects(op_build.find_nvcc(), tmp_path)
  assert objects, 'no .cu sources found'
  symbols = subprocess.run(['nm', '-g', '--defined-only', *objects], capture_output=True, text=True,
                           check=True).stdout
  for launcher in ('c3dmm_rasterize_cuda', 'c3dmm_rasterize_grad_cuda', 'c3dmm_interpolate_cuda',
                   'c3dmm_interpolate_grad_cuda', 'c3dmm_rasterize_scratch_bytes'):
    assert f' T {launcher}' in symbols


@pytest.mark.skipif(op_build.find_nvcc() is None, reason='nvcc is not installed on this machine')
def test_pip_build_links_the_gpu_kernels_without_unresolved_cuda_symbols():
  library = ROOT / 'tf_ops' / '_rasterizer_ops.so'
  symbols = subprocess.run(['nm', '-D', str(library)], capture_output=True, text=True,
                           check=True).stdout
  assert ' T c3dmm_rasterize_cuda' in symbols  # built with the CUDA kernels
  undefined = [line for line in symbols.splitlines() if ' U ' in line and 'cuda' in line.lower()]
  assert not undefined, f'CUDA symbols left to the dynamic linker (static cudart not first?): {undefined}'


_COMPARE = textwrap.dedent('''
    import numpy as np, tensorflow as tf, tf_ops
    from tf_ops import _loader
    rng = np.random.default_rng(3)
    clip = np.concatenate([rng.uniform(-1, 1, (2, 50, 3)), rng.uniform(1, 2, (2, 50, 1))], -1)
    tris = rng.integers(0, 50, (80, 3)).astype(np.int32)
    out = tf_ops.rasterize(clip.astype(np.float32), tris, (24, 32))
    np.savez(OUT, ids=out.triangle_ids.numpy(), bary=out.barycentrics.numpy(),
             library=str([p for p in _loader.candidate_paths() if p.is_file()][0]))
''')


def _render_with(library: pathlib.Path, out: pathlib.Path) -> None:
  env = dict(os.environ, C3DMM_OP_LIBRARY=str(library), TF_CPP_MIN_LOG_LEVEL='2')
  subprocess.run([sys.executable, '-c', _COMPARE.replace('OUT', repr(str(out)))], env=env,
                 cwd=ROOT, check=True)


@pytest.mark.slow
@pytest.mark.skipif(not BAZEL_LIBRARY.exists(),
                    reason='no Bazel build: run `make bazel` (make test does) first')
def test_bazel_library_renders_exactly_like_the_pip_build(tmp_path):
  import numpy as np
  _render_with(BAZEL_LIBRARY, tmp_path / 'bazel.npz')
  _render_with(ROOT / 'tf_ops' / '_rasterizer_ops.so', tmp_path / 'pip.npz')
  bazel, pip = np.load(tmp_path / 'bazel.npz'), np.load(tmp_path / 'pip.npz')
  assert str(bazel['library']) == str(BAZEL_LIBRARY)
  assert (bazel['ids'] >= 0).any()
  np.testing.assert_array_equal(bazel['ids'], pip['ids'])
  np.testing.assert_allclose(bazel['bary'], pip['bary'], atol=1e-6)


def test_loader_says_how_to_build_when_no_library_exists(tmp_path):
  package = tmp_path / 'tf_ops'
  package.mkdir()
  for name in ('__init__.py', '_loader.py', 'rasterizer.py'):
    shutil.copy(ROOT / 'tf_ops' / name, package / name)
  code = ('import tf_ops, tensorflow as tf\n'
          'try:\n  tf_ops.rasterize(tf.zeros([3, 4]), tf.constant([[0, 1, 2]]), (4, 4))\n'
          'except ImportError as e:\n  print(e)\n')
  env = {k: v for k, v in os.environ.items() if k != 'C3DMM_OP_LIBRARY'}
  env['TF_CPP_MIN_LOG_LEVEL'] = '2'
  done = subprocess.run([sys.executable, '-c', code], cwd=tmp_path, env=env, capture_output=True,
                        text=True, check=True)
  assert 'pip install --no-build-isolation -e .' in done.stdout
  assert 'bazel build //tf_ops:rasterizer' in done.stdout


def test_flag_lists_have_one_owner():
  # --fmad=false (CPU/GPU bit-equality) and the ABI/Eigen defines are written in tf_ops/build.py or come
  # from tf.sysconfig; Bazel and the GPU check read them from there.
  owners = {}
  for path in [*(ROOT / 'tf_ops').rglob('*'), *(ROOT / 'scripts').glob('*'), ROOT / 'BUILD',
               ROOT / 'setup.py']:
    if path.is_file() and path.suffix in ('', '.py', '.sh', '.bzl', '.cc', '.h', '.cu'):
      text = path.read_text(errors='ignore')
      for flag in ('--fmad=false', '_GLIBCXX_USE_CXX11_ABI', 'EIGEN_MAX_ALIGN_BYTES', '-gencode'):
        if flag in text:
          owners.setdefault(flag, []).append(str(path.relative_to(ROOT)))
  assert owners.get('--fmad=false') == ['tf_ops/build.py'], owners
  assert owners.get('-gencode') == ['tf_ops/build.py'], owners
  assert '_GLIBCXX_USE_CXX11_ABI' not in owners and 'EIGEN_MAX_ALIGN_BYTES' not in owners, owners


def test_bazel_config_holds_build_py_sources_and_tf_sysconfig_defines():
  import tensorflow as tf
  config = op_build.bazel_config()
  namespace = {}
  exec(config, namespace)  # pylint: disable=exec-used  (Starlark lists are Python lists)
  assert namespace['RASTERIZER_SRCS'] == [f'cc/{n}' for n in op_build.OP_SOURCES + op_build.KERNEL_SOURCES]
  defines = [f for f in tf.sysconfig.get_compile_flags() if f.startswith('-D')]
  assert defines and namespace['RASTERIZER_COPTS'] == op_build.CXX_FLAGS + defines
  for name in namespace['RASTERIZER_SRCS']:
    assert (ROOT / 'tf_ops' / name).is_file()


def _setup_arguments(gpu: bool) -> dict:
  """The keyword arguments setup.py passes to setuptools.setup (nothing is built)."""
  import runpy
  from unittest import mock
  env = dict(os.environ, C3DMM_GPU='1' if gpu else '')
  with mock.patch.dict(os.environ, env), mock.patch('setuptools.setup') as fake_setup:
    runpy.run_path(str(ROOT / 'setup.py'), run_name='setup')
  return fake_setup.call_args.kwargs


def test_setup_requirements_are_the_pins_of_requirements_txt():
  pins = [line.strip() for line in (ROOT / 'requirements.txt').read_text().splitlines()
          if line.strip() and not line.startswith('#')]
  args = _setup_arguments(gpu=False)
  declared = args['install_requires'] + [r for extra in args['extras_require'].values() for r in extra]
  assert set(declared) <= set(pins)
  assert 'tensorflow-cpu==' in ' '.join(args['install_requires'])
  assert any(r.startswith('apache-beam==') for r in args['extras_require']['data'])
  assert not any('gpu_check/*' == p or p.endswith('.json') for p in args['package_data']['tf_ops'])
  tf_pin = next(r for r in args['install_requires'] if r.startswith('tensorflow-cpu=='))
  gpu_requires = _setup_arguments(gpu=True)['install_requires']
  assert tf_pin.replace('tensorflow-cpu', 'tensorflow[and-cuda]') in gpu_requires
  assert not any(r.startswith('tensorflow-cpu') for r in gpu_requires)
