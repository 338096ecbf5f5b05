"""Op-level timings of a traced TensorFlow step, from a TensorFlow profiler trace.

``op_profile(step, warmup, repeats)`` runs a ``tf.function`` step under the profiler and returns the
median time of every op per step, the ops sorted into stages (the rasterizer op, the face model, the rest
of image formation, the loss) by op type and name scope: ``FaceModel`` ops live under ``face_model*/``,
``image_formation.render`` ops under ``render/`` (its normals' custom gradients under
``corner_values_grad/`` and ``triangle_sums_grad/``), and a caller's loss under ``loss/``.
Used by ``model.benchmark --profile``.
"""

from __future__ import annotations

import collections
import glob
import pathlib
import statistics
import tempfile
import typing

import tensorflow as tf

RASTERIZER_OPS = ('RasterizeTriangles', 'RasterizeTrianglesGrad', 'InterpolateAttributes',
                  'InterpolateAttributesGrad')
STAGES = ('rasterizer op', 'face model', 'image formation (rest)', 'loss', 'other')


# Prefixes of the kernels TensorFlow substitutes by CPU (oneDNN, on by default where the CPU has AVX-512, or
# with TF_ENABLE_ONEDNN_OPTS=1) and by graph optimisation: '_MklMatMul', '_MklNativeFusedMatMul' and
# '_FusedMatMul' are all one matrix product.
_KERNEL_PREFIXES = ('_MklNative', '_Mkl', '_')
# Op types that start with 'Fused' and are ops of their own, not a fused kernel of another op.
_FUSED_OPS = ('FusedBatchNorm', 'FusedResizeAndPadConv2D', 'FusedPadConv2D')


def op_family(op_type: str) -> str:
  """The op an op type implements, whichever kernel the CPU got: ``_MklMatMul`` -> ``MatMul``.

  Fused variants map to their main op (``_FusedMatMul`` -> ``MatMul``, ``_FusedConv2D`` -> ``Conv2D``);
  plain op types are returned unchanged. Compare families, never kernel names, in anything that must
  hold on every x86-64 CPU.
  """
  family = op_type
  for prefix in _KERNEL_PREFIXES:
    if family.startswith(prefix) and len(family) > len(prefix) and family[len(prefix)].isupper():
      family = family[len(prefix):]
      break
  if family.startswith('Fused') and len(family) > 5 and not family.startswith(_FUSED_OPS):
    family = family[len('Fused'):]
  return family


def stage(name: str, op_type: str) -> str:
  """The stage (one of ``STAGES``) of an op, from its type and its full name."""
  if op_family(op_type) in RASTERIZER_OPS:
    return 'rasterizer op'
  if 'face_model' in name:
    return 'face model'
  if 'render/' in name or name.startswith(('corner_values_grad', 'triangle_sums_grad')):
    return 'image formation (rest)'
  if 'loss/' in name:
    return 'loss'
  return 'other'


def _run(step: typing.Callable, times: int) -> None:
  for _ in range(times):
    for value in tf.nest.flatten(step()):
      if value is not None:
        tf.convert_to_tensor(value).numpy()  # wait for every output


def op_profile(step: typing.Callable, warmup: int, repeats: int, statistic: str = 'median') -> dict:
  """Op-level timings of a traced step.

  Args:
    step: a ``tf.function`` without arguments (its outputs are all fetched).
    warmup: untraced calls first (tracing, first-call allocations).
    repeats: calls under the profiler.
    statistic: 'median' or 'min' of each op's times over the calls ('min' estimates an op's time on
      an idle machine: on a shared one, other jobs stretch some runs of every op).

  Returns:
    dict with ``ops`` (per op: name, type, family (``op_family``), stage, ms = the statistic per step,
    sorted slowest first),
    ``stages`` (ms per stage) and ``total_ms`` (the sum over ops; with one inter-op thread the ops run
    one after another, so this is close to the step's time).
  """
  if statistic not in ('median', 'min'):
    raise ValueError(f"op_profile: statistic must be 'median' or 'min', got {statistic!r}")
  from tensorflow.tsl.profiler.protobuf import xplane_pb2  # pylint: disable=import-outside-toplevel
  _run(step, max(warmup, 1))
  with tempfile.TemporaryDirectory() as logdir:
    tf.profiler.experimental.start(logdir)
    _run(step, repeats)
    tf.profiler.experimental.stop()
    space = xplane_pb2.XSpace()
    space.ParseFromString(pathlib.Path(glob.glob(f'{logdir}/**/*.xplane.pb', recursive=True)[0])
                          .read_bytes())
  durations = collections.defaultdict(list)
  for plane in space.planes:
    if plane.name != '/host:CPU':
      continue
    for line in plane.lines:
      if not line.name.startswith('tf_Compute'):  # the executor's threads: one event per op run
        continue
      for event in line.events:
        label = plane.event_metadata[event.metadata_id].name  # 'op_name:OpType'
        if ':' not in label or label.startswith(('Threadpool', 'ExecutorState')):
          continue
        durations[label].append(event.duration_ps * 1e-9)
  ops = []
  for label, ms in durations.items():
    name, op_type = label.rsplit(':', 1)
    runs_per_step = max(1, round(len(ms) / repeats))
    ops.append(dict(name=name, type=op_type, family=op_family(op_type), stage=stage(name, op_type),
                    ms=(statistics.median(ms) if statistic == 'median' else min(ms)) * runs_per_step))
  ops.sort(key=lambda o: -o['ms'])
  stages = {s: sum(o['ms'] for o in ops if o['stage'] == s) for s in STAGES}
  return dict(ops=ops, stages=stages, total_ms=sum(stages.values()), statistic=statistic)


def print_profile(profile: dict, top: int) -> None:
  """Prints the ``top`` slowest ops and the stages of an ``op_profile`` result."""
  total = profile['total_ms']
  print(f'op profile (traced step, {profile["statistic"]} per op): {total:.2f} ms in ops')
  print(f'{"ms":>7} {"share":>6}  {"op type":<26} {"stage":<24} op')
  for o in profile['ops'][:top]:
    print(f'{o["ms"]:>7.3f} {100 * o["ms"] / total:>5.1f}%  {o["type"]:<26} {o["stage"]:<24} {o["name"]}')
  print('by stage:')
  for name, ms in profile['stages'].items():
    print(f'{ms:>7.3f} {100 * ms / total:>5.1f}%  {name}')
