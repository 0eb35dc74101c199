# The two commands of the README: `make demo` and `make test`. Both set up
# everything they need on a fresh machine first (a virtual environment in .venv).

VENV ?= .venv
PYTHON := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
# The CPU build of PyTorch; install it before anything that depends on torch,
# or pip pulls the CUDA build (several GB).
TORCH_SPEC ?= torch==2.13.0
export HF_HUB_OFFLINE := 1

.PHONY: install demo test audit system-packages build-packages

install: build-packages $(INSTALLED)

# FFmpeg, and its libraries' headers that vpdq (vPDQ, the video hash) builds against.
build-packages:
	@command -v ffmpeg >/dev/null && pkg-config --exists libavformat libavcodec libswscale libavdevice libavfilter libswresample libavutil 2>/dev/null || \
		(apt-get update -qq && apt-get install -y -qq ffmpeg pkg-config libavformat-dev libavcodec-dev \
			libavdevice-dev libavfilter-dev libswscale-dev libswresample-dev libavutil-dev)

# pip's own progress bars show on a terminal; each step says what it is first.
$(INSTALLED): pyproject.toml
	test -x $(PYTHON) || python3 -m venv $(VENV)
	@echo "== installing pip, then torch (CPU build), then monitor with its dependencies (a few minutes)"
	$(PYTHON) -m pip install --quiet --upgrade pip
	$(PYTHON) -m pip install --progress-bar on "$(TORCH_SPEC)"
	# pdqhash's published wheel was built against numpy 1 and fails to import under numpy 2.
	$(PYTHON) -m pip install --progress-bar on --no-binary pdqhash -e ".[dev,finetune]"
	@echo "== installed into $(VENV)"
	touch $@

demo: install
	$(VENV)/bin/monitor demo $(ARGS)

# Debian's Chromium for the browser tests, and docker-compose (1.29, the Compose
# Specification without an engine) to validate docker-compose.yml.
system-packages:
	@command -v chromium >/dev/null && command -v docker-compose >/dev/null || \
		(apt-get update -qq && apt-get install -y -qq chromium docker-compose)

test: install system-packages
	$(VENV)/bin/ruff check monitor workers web cli config tests bench
	$(VENV)/bin/lint-imports
	$(PYTHON) -m pytest $(ARGS)

# Known vulnerabilities of the installed dependencies (pip-audit, PyPI's advisory data).
# Report only: the advisory service may be out of reach (it is on the CI machines).
audit: install
	-$(VENV)/bin/pip-audit --progress-spinner off --skip-editable
