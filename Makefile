# Two commands, each working on a fresh machine with only Python 3.11 and make:
#   make demo   trains a tiny DeconvNet on embedded data, exports and verifies it
#   make test   runs the test suite
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint clean

$(STAMP): setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/keras-segattn demo

# The suite runs in four parts, each in a fresh pair of worker processes: TensorFlow
# keeps memory of every model it has traced or XLA-compiled (measured: ~150 MB per
# Inception-v4 tiny fit, ~370 MB with XLA, after clear_session, gc and malloc_trim),
# and one pair of workers running everything grew past this 23 GB machine's memory.
# The last part is everything the first three do not name (and the doctests).
PYTEST := $(BIN)/python -m pytest -q -n 2 --dist loadgroup
PART1 := tests/test_export_matrix.py
PART2 := tests/test_models_sweep.py
PART3 := tests/test_precision_xla.py tests/test_backbones.py

test: $(STAMP)
	@status=0; \
	$(PYTEST) $(PART1) || status=1; \
	$(PYTEST) $(PART2) || status=1; \
	$(PYTEST) $(PART3) || status=1; \
	$(PYTEST) $(foreach f,$(PART1) $(PART2) $(PART3),--ignore=$(f)) || status=1; \
	exit $$status

lint: $(STAMP)
	$(BIN)/ruff check keras_segattn tests tools

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
