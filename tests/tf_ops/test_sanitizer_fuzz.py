"""The CPU kernels under AddressSanitizer + UndefinedBehaviorSanitizer: a short run of the fuzz harness.

tf_ops/sanitizer/run.sh builds tf_ops/sanitizer/fuzz_kernels.cc (the rasterizer) and fuzz_fused_kernels.cc
(vertex shading, basis product, masked squared error) with the kernels and runs both (10,000 cases by
default; here a few hundred). Each case runs with flush-to-zero on and off; the rasterizer's baseline and
AVX2 paths are compared bit for bit, the fused kernels' outputs across work splits; any sanitizer report
or failed check is a non-zero exit.
"""

from __future__ import annotations

import os
import pathlib
import subprocess

import pytest

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_sanitized_kernels_survive_randomised_and_malformed_inputs(tmp_path):
  env = dict(os.environ, C3DMM_SANITIZER_BUILD=str(tmp_path))
  done = subprocess.run(['bash', str(REPO_ROOT / 'tf_ops' / 'sanitizer' / 'run.sh'), '400', '2'],
                        env=env, capture_output=True, text=True, timeout=600)
  assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
  assert '400 cases' in done.stdout and '400 fused-kernel cases' in done.stdout
  assert done.stdout.count('failures: 0') == 2
