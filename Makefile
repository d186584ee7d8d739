# `make run`: create .venv, install, run the default suite.  `make test`: the tests.
# On a Jetson (/etc/nv_tegra_release) the venv sees JetPack's own torch and TensorRT
# (--system-site-packages) and pip leaves torch alone instead of fetching PyPI's CPU wheel.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
JETSON := $(wildcard /etc/nv_tegra_release)

ifeq ($(JETSON),)
VENV_FLAGS :=
INSTALL := $(PY) -m pip install -q -e '.[test]'
else
VENV_FLAGS := --system-site-packages
INSTALL := $(PY) -m pip install -q --no-deps -e . && $(PY) -m pip install -q onnx onnxscript onnxruntime numpy matplotlib jinja2 tqdm opencv-python-headless scikit-image torchmetrics pycocotools pytest pytest-xdist
endif

.PHONY: install run test report clean

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV_FLAGS) $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(INSTALL)
	touch $@

install: $(VENV)/.installed

run: install
	$(VENV)/bin/edgebench run $(ARGS)

# the tests in TEST_WORKERS processes (pytest-xdist), each taking whole files (their fixtures and
# servers stay in one process); TEST_WORKERS=0 runs them in this one. Those marked `alone` measure
# the whole machine's CPU load, which the other process would be: they run after, by themselves
# (pytest's exit 5, nothing selected, is no failure).
TEST_WORKERS ?= 2
test: install
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile -m "not alone" $(PYTEST_ARGS)
	$(PY) -m pytest -q -m alone $(PYTEST_ARGS) || test $$? -eq 5

report: install
	$(VENV)/bin/edgebench report

clean:
	rm -rf $(VENV) results .pytest_cache
