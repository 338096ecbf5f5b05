"""Builds the op library in place: ``python -m tf_ops.build [--cuda=auto|on|off]``.

Compiles the framework-free C++ kernels and the TF glue with g++ and ``tf.sysconfig`` flags into
``tf_ops/_rasterizer_ops.so``. When ``nvcc`` exists (``--cuda=auto``) the CUDA kernels are compiled too
and the static CUDA runtime is linked BEFORE the TF link flags, so that CUDA's registration symbols do
not bind to the CUDA stub exported by the ``tensorflow`` wheel. Used by setup.py as well.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

PACKAGE_DIR = pathlib.Path(__file__).resolve().parent
SOURCE_DIR = PACKAGE_DIR / 'cc'
REPO_ROOT = PACKAGE_DIR.parent
OUTPUT = PACKAGE_DIR / '_rasterizer_ops.so'
CXX_FLAGS = ['-O3', '-fPIC', '-shared', '-Wno-deprecated-declarations', '-Wno-interference-size']
# sm_80 (A100) and sm_90 (H100/H200) machine code plus compute_90 PTX for newer GPUs.
# --fmad=false: no FMA contraction, so that coverage and depth round exactly as in the CPU kernel.
NVCC_FLAGS = ['-std=c++17', '-O3', '--fmad=false', '-Xcompiler', '-fPIC',
              '-gencode', 'arch=compute_80,code=sm_80', '-gencode', 'arch=compute_90,code=[sm_90,compute_90]']


def find_nvcc() -> str | None:
  for candidate in (os.environ.get('NVCC'), shutil.which('nvcc'), '/usr/local/cuda/bin/nvcc'):
    if candidate and os.path.isfile(candidate):
      return candidate
  return None


def cuda_root(nvcc: str) -> pathlib.Path:
  """The CUDA toolkit folder: $CUDA_HOME, else nvcc's (nvcc may be a wrapper script elsewhere)."""
  candidates = [os.environ.get('CUDA_HOME'), os.environ.get('CUDA_PATH'),
                pathlib.Path(nvcc).resolve().parent.parent, '/usr/local/cuda',
                *sorted(pathlib.Path('/usr/local').glob('cuda-*'), reverse=True)]
  for root in candidates:
    if root and (pathlib.Path(root) / 'include' / 'cuda_runtime.h').exists():
      return pathlib.Path(root)
  raise FileNotFoundError('CUDA toolkit not found: set CUDA_HOME')


def cuda_lib_dir(root: pathlib.Path) -> pathlib.Path:
  for sub in ('lib64', 'lib', 'targets/x86_64-linux/lib'):
    if (root / sub / 'libcudart_static.a').exists():
      return root / sub
  raise FileNotFoundError(f'libcudart_static.a not found under {root}')


def compile_cuda_objects(nvcc: str, out_dir: pathlib.Path) -> list[str]:
  """Compiles every tf_ops/cc/*.cu file to an object; returns their paths."""
  objects = []
  for source in sorted(SOURCE_DIR.glob('*.cu')):
    obj = out_dir / (source.stem + '.cu.o')
    cmd = [nvcc, *NVCC_FLAGS, '-I', str(REPO_ROOT), '-c', str(source), '-o', str(obj)]
    print('+', ' '.join(cmd), flush=True)
    subprocess.run(cmd, check=True)
    objects.append(str(obj))
  return objects


def build(cuda: str = 'auto', output: pathlib.Path = OUTPUT, verbose: bool = True) -> pathlib.Path:
  """Compiles the op library; returns its path.

  Args:
    cuda: 'auto' (CUDA kernels when nvcc exists), 'on' (fail without nvcc) or 'off'.
    output: path of the shared library to write.
    verbose: print the compiler commands.
  """
  import tensorflow as tf  # Imported late: `python -m tf_ops.build --help` should not need TF.
  nvcc = find_nvcc() if cuda != 'off' else None
  if cuda == 'on' and nvcc is None:
    raise RuntimeError('--cuda=on but nvcc was not found (set NVCC or put it on PATH)')
  sources = [str(p) for p in sorted(SOURCE_DIR.glob('*.cc'))]
  cxx = os.environ.get('CXX', 'g++')
  with tempfile.TemporaryDirectory() as tmp:
    tmp_dir = pathlib.Path(tmp)
    defines, cuda_objects, cuda_link = [], [], []
    if nvcc:
      cuda_objects = compile_cuda_objects(nvcc, tmp_dir)
      root = cuda_root(nvcc)
      defines = ['-DC3DMM_WITH_CUDA', f'-I{root / "include"}']
      cuda_link = [f'-L{cuda_lib_dir(root)}', '-l:libcudart_static.a', '-ldl', '-lrt', '-lpthread']
    tmp_output = tmp_dir / output.name
    cmd = [cxx, *CXX_FLAGS, *tf.sysconfig.get_compile_flags(), f'-I{REPO_ROOT}', *defines,
           *sources, *cuda_objects, '-o', str(tmp_output), *cuda_link, *tf.sysconfig.get_link_flags()]
    if verbose:
      print('+', ' '.join(cmd), flush=True)
    subprocess.run(cmd, check=True)
    # Atomic replace: a running process that loaded the old library keeps its mapping.
    shutil.copy(tmp_output, output.with_suffix('.so.tmp'))
    os.replace(output.with_suffix('.so.tmp'), output)
  if verbose:
    print(f'built {output} ({"with" if nvcc else "without"} CUDA kernels)')
  return output


def sources_digest() -> str:
  """Hash of all kernel sources (to tell whether a build is stale)."""
  digest = hashlib.sha256()
  for path in sorted(SOURCE_DIR.iterdir()):
    if path.suffix in ('.cc', '.h', '.cu'):
      digest.update(path.name.encode())
      digest.update(path.read_bytes())
  return digest.hexdigest()


def main(argv: list[str] | None = None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--cuda', choices=('auto', 'on', 'off'), default='auto',
                      help='compile the CUDA kernels: auto = when nvcc is found')
  parser.add_argument('--output', type=pathlib.Path, default=OUTPUT, help='library path to write')
  args = parser.parse_args(argv)
  build(args.cuda, args.output)


if __name__ == '__main__':
  main(sys.argv[1:])
