# The two set-up commands of the README:
#   make demo   - installs everything, builds the op, runs the main job on the built-in data
#   make test   - installs everything, builds the op (pip and Bazel), runs the test suite
# Both are idempotent: the venv, packages and builds are redone only when their inputs change.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
RUN_DIR ?= runs/demo
OP_SOURCES := $(wildcard tf_ops/cc/*.cc tf_ops/cc/*.h tf_ops/cc/*.cu) tf_ops/build.py setup.py

.PHONY: demo test test-cpu-kernels lint setup op bazel apt benchmark clean

# The main job: train the demo configuration through the three stages on the synthetic world, evaluate on
# held-out synthetic faces, reconstruct the shared photos (training.demo; a finished run is only evaluated),
# then the paper's tables on a fresh synthetic test split (eval.report -> RUN_DIR/report/report.md).
demo: setup
	$(PY) -m training.demo --run_dir=$(RUN_DIR)
	$(PY) -m eval.report --model=$(RUN_DIR) --output=$(RUN_DIR)/report

test: setup bazel lint
	$(PY) -m pytest -q

# The tests that look at TensorFlow's CPU kernels (op profiles, fused ops against TF formulations, float
# tolerances, the AVX2 dispatch, the machine's description) once with oneDNN on and once off: TensorFlow
# turns oneDNN on by itself on AVX-512 CPUs, so CI on either CPU kind covers both paths (.ci/run; ~50 s).
# The CLIs' quiet start-up is checked under both settings inside the main suite (tests/common/test_cli.py).
CPU_KERNEL_TESTS := tests/model/test_profiling.py tests/model/test_formulations.py \
  tests/tf_ops/test_fused_ops.py tests/tf_ops/test_cpu_paths.py tests/common/test_machine.py
test-cpu-kernels: setup
	TF_ENABLE_ONEDNN_OPTS=1 $(PY) -m pytest -q -p no:cacheprovider $(CPU_KERNEL_TESTS)
	TF_ENABLE_ONEDNN_OPTS=0 $(PY) -m pytest -q -p no:cacheprovider $(CPU_KERNEL_TESTS)

# ruff (ruff.toml: pyflakes + pycodestyle errors, two-space indents, 110 columns).
lint: $(VENV)/.requirements
	$(VENV)/bin/ruff check .

setup: $(VENV)/.requirements op

# Debian packages: Bazel (offline bazel-bootstrap) for the second build path. Needs root or sudo.
apt:
	@command -v bazel >/dev/null || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq bazel-bootstrap; }

$(VENV)/.requirements: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip setuptools wheel
	$(PY) -m pip install -q -r requirements.txt
	touch $@

op: tf_ops/_rasterizer_ops.so

tf_ops/_rasterizer_ops.so: $(VENV)/.requirements $(OP_SOURCES)
	$(PY) -m pip install -q --no-build-isolation --no-deps -e .

bazel: apt $(VENV)/.requirements
	PYTHON=$(PY) scripts/bazel_build.sh

benchmark: setup
	$(PY) -m tf_ops.benchmark --output=$(RUN_DIR)/tf_ops_benchmark.json

clean:
	rm -rf build *.egg-info tf_ops/_rasterizer_ops.so tf_ops/_numpy_kernels*.so bazel-*
