# Two commands, each working on a fresh machine with only Python 3.11 and make:
#   make demo   trains a tiny DeconvNet on embedded data, exports and verifies it
#   make test   runs the test suite (it also installs the browser tests' npm packages and, as root,
#               Debian's chromium)
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint clean web browser

# The web page's runtimes (LiteRT.js, ONNX Runtime Web), pinned by web/package-lock.json.
WEB_STAMP := web/node_modules/.installed
$(WEB_STAMP): web/package.json web/package-lock.json
	@command -v npm >/dev/null || { echo "the browser tests need Node.js and npm: run  apt-get install -y nodejs npm" >&2; exit 1; }
	npm ci --prefix web --no-audit --no-fund --loglevel=error
	touch $(WEB_STAMP)

# Debian's Chromium and its driver for the browser tests: installed where we may (root with apt), else
# the command to run.
browser:
	@if ! test -x /usr/bin/chromium || ! test -x /usr/bin/chromedriver; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing Debian's chromium and chromium-driver for the browser tests"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; \
	  else \
	    echo "the browser tests need Chromium: run  sudo apt-get install -y chromium chromium-driver" >&2; exit 1; \
	  fi; \
	fi

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

test: $(STAMP) $(WEB_STAMP) browser
	@status=0; \
	$(PYTEST) $(PART1) || status=1; \
	$(PYTEST) $(PART2) || status=1; \
	$(PYTEST) $(PART3) || status=1; \
	$(PYTEST) $(foreach f,$(PART1) $(PART2) $(PART3),--ignore=$(f)) || status=1; \
	exit $$status

# The segmentation and spatial-transformer pages with the committed tiny models, on 127.0.0.1:8000.
web: $(STAMP) $(WEB_STAMP)
	test -f saved_models/st_cnn_tiny.keras || $(BIN)/keras-segattn train st_cnn_tiny --epochs 8 --output saved_models/st_cnn_tiny.keras
	$(BIN)/keras-segattn web --model saved_models/deconvnet_tiny.keras --model saved_models/st_cnn_tiny.keras

lint: $(STAMP)
	$(BIN)/ruff check keras_segattn tests tools

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info web/node_modules web/models
