"""pip install: builds the rasterizer op with tf.sysconfig flags (and the CUDA kernels when nvcc exists).

Use ``pip install --no-build-isolation -e .`` (or without -e): the op must be compiled against the
TensorFlow installed in the target environment, so the build needs to import it.
"""

import pathlib

from setuptools import Extension, find_packages, setup
from setuptools.command.build_ext import build_ext


class BuildRasterizerOp(build_ext):
  """Delegates the op build to tf_ops/build.py (the same code `python -m tf_ops.build` runs)."""

  def get_ext_filename(self, fullname):
    # The loader looks for the plain name, not the CPython-tagged extension name.
    return str(pathlib.Path(*fullname.split('.')).with_suffix('.so'))

  def build_extension(self, ext):
    import sys
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
    from tf_ops import build as op_build  # pylint: disable=import-outside-toplevel
    output = pathlib.Path(self.get_ext_fullpath(ext.name)).resolve()
    output.parent.mkdir(parents=True, exist_ok=True)
    op_build.build(cuda='auto', output=output)


setup(
    name='complete3dmm',
    version='0.1.0',
    description='Learning complete 3D morphable face models from images and videos (CVPR 2021), '
                'in TensorFlow with a C++/CUDA differentiable rasterizer.',
    packages=find_packages(include=['common', 'common.*', 'tf_ops', 'tf_ops.*', 'model', 'model.*',
                                    'training', 'training.*', 'data', 'data.*', 'eval', 'eval.*']),
    package_data={'tf_ops': ['cc/*.h', 'cc/*.cc', 'cc/*.cu', 'gpu_check/*'],
                  'model': ['ict_face/*'], 'data': ['mediapipe/*']},
    ext_modules=[Extension('tf_ops._rasterizer_ops', sources=[])],
    cmdclass={'build_ext': BuildRasterizerOp},
    python_requires='>=3.10',
    install_requires=['tensorflow>=2.16', 'numpy', 'scipy', 'pillow', 'absl-py', 'tqdm'],
)
