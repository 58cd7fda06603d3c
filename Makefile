# `make demo` and `make test` each do the whole set-up on a fresh machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
export PIP_CONSTRAINT := $(CURDIR)/constraints.txt
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: setup data browser demo studio lint test bench clean

setup: $(STAMP) data

$(STAMP): pyproject.toml constraints.txt README.md  # README.md: the package's description
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -c constraints.txt torch==2.13.0
	$(BIN)/pip install -q -c constraints.txt -e '.[dev]'
	touch $@

data:
	@scripts/ensure-apt.sh dataset-fashion-mnist /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz \
		fonts-noto-color-emoji /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf

# Debian's chromium: tests/test_report.py opens the HTML report in it, and the studio's browser tests drive it
# through Playwright (never `playwright install`, which would download a browser)
browser:
	@scripts/ensure-apt.sh chromium /usr/bin/chromium

demo: setup
	$(BIN)/vaelab demo --out out/demo
	@echo "to try them in the browser: make studio (or $(BIN)/vaelab studio)"

# the browser studio on the shipped models and ./runs; Ctrl-C stops it
studio: setup
	$(BIN)/vaelab studio

# ruff: the lint rules and the formatting in pyproject.toml; `$(BIN)/ruff format src tests benchmarks` applies it
lint: setup
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

test: setup browser lint
	$(BIN)/python -m pytest -q

# Every figure in BENCHMARKS.md; the long ones (emoji, disentanglement) train models for several minutes.
bench: setup browser
	$(BIN)/pip install -q -c constraints.txt -e '.[bench]'
	$(BIN)/python benchmarks/train_throughput.py --attempts
	$(BIN)/python benchmarks/precision_quality.py --out out/bench/precision
	$(BIN)/python benchmarks/morph_latency.py
	$(BIN)/python benchmarks/morph_quality.py
	$(BIN)/python benchmarks/explore_speed.py
	OMP_NUM_THREADS=1 $(BIN)/python benchmarks/density_fit.py
	OMP_NUM_THREADS=1 $(BIN)/python benchmarks/sample_density.py
	$(BIN)/python benchmarks/peers.py
	$(BIN)/python benchmarks/emoji_arithmetic.py
	$(BIN)/python benchmarks/disentanglement.py
	$(BIN)/python benchmarks/studio_latency.py
	$(BIN)/python benchmarks/studio_load.py --memory

clean:
	rm -rf $(VENV) out .pytest_cache
