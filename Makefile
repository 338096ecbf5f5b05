# The two set-up commands of the README:
#   make demo   - installs everything, builds the op, runs the main job on the built-in data
#   make test   - installs everything, builds the op (pip and Bazel), runs the test suite
# Both are idempotent: the venv, packages and builds are redone only when their inputs change.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
RUN_DIR ?= runs/demo
OP_SOURCES := $(wildcard tf_ops/cc/*.cc tf_ops/cc/*.h tf_ops/cc/*.cu) tf_ops/build.py setup.py

.PHONY: demo test lint setup op bazel apt benchmark clean

# The main job: train the demo configuration through the three stages on the synthetic world, evaluate on
# held-out synthetic faces, reconstruct the shared photos (training.demo; a finished run is only evaluated),
# then the paper's tables on a fresh synthetic test split (eval.report -> RUN_DIR/report/report.md).
demo: setup
	$(PY) -m training.demo --run_dir=$(RUN_DIR)
	$(PY) -m eval.report --model=$(RUN_DIR) --output=$(RUN_DIR)/report

test: setup bazel lint
	$(PY) -m pytest -q

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
