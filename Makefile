# DORA: the two commands a newcomer needs are `make chat` and `make test` (see README).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip
# Where pip finds torch's CPU wheels, if not on the default index (e.g. PyTorch's CPU wheel index).
TORCH_INDEX_URL ?=
TORCH_INDEX := $(if $(TORCH_INDEX_URL),--index-url $(TORCH_INDEX_URL),)
export ORT_DISABLE_TELEMETRY := 1
export ANONYMIZED_TELEMETRY := False
export HF_HUB_OFFLINE := 1

.PHONY: setup system-deps models chat test lint bench eval clean

# Debian packages the project needs: espeak-ng and opus-tools make the voice notes the bot tests
# send (faster-whisper itself decodes audio with the ffmpeg libraries bundled in PyAV).
SYSTEM_PACKAGES := espeak-ng opus-tools ffmpeg
system-deps:
	@missing=""; for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get install -y -q $$missing >/dev/null || { $$SUDO apt-get update -q >/dev/null && $$SUDO apt-get install -y -q $$missing >/dev/null; } \
			|| echo "warning: could not install$$missing; the voice tests will be skipped (with the reason)"; \
	fi

$(BIN)/python:
	$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "DORA needs Python 3.11, got " + sys.version' 
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

# llama.cpp is compiled for the instruction sets this machine has and every VM allows (AVX2, and
# AVX-512 where the CPU has it), not -march=native: native turns on AMX on recent Xeons, which faults
# in VMs that don't enable it (ldtilecfg: general protection fault on the first prompt). The wheel is
# kept per flags in LLAMA_WHEELS, so only the first setup on a machine compiles it (6-13 minutes on
# two cores); a machine with other CPU features gets flags of its own, so its own wheel.
LLAMA_VERSION := 0.3.36
X86_AVX2 := -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON
X86_AVX512 := -DGGML_AVX512=ON -DGGML_AVX512_VBMI=ON -DGGML_AVX512_VNNI=ON -DGGML_AVX512_BF16=ON
HAS_AVX512 := $(shell grep -m1 -o -w -E 'avx512(f|cd|dq|bw|vl|vbmi|_vnni|_bf16)' /proc/cpuinfo 2>/dev/null | sort -u | wc -l)
LLAMA_CMAKE_ARGS ?= $(if $(filter x86_64,$(shell uname -m)),$(X86_AVX2) $(if $(filter 8,$(HAS_AVX512)),$(X86_AVX512),),)
LLAMA_WHEELS ?= $(HOME)/.cache/dora/wheels/llama-cpp-python-$(LLAMA_VERSION)-$(shell printf '%s' '$(LLAMA_CMAKE_ARGS)' | sha256sum | cut -c1-12)

# torch first, pinned, so nothing later can pull a CUDA build; then the project and its test tools.
# bench/ and testkit/ are not in the wheel (the product only), but this checkout's `dora eval|bench|demo`
# and its tests import them: a .pth file puts the checkout on the venv's path, so they import from any
# directory, the `dora` script's too (its sys.path[0] is .venv/bin, not the checkout).
$(VENV)/.installed: $(BIN)/python pyproject.toml constraints.txt Makefile
	$(PIP) install --quiet "torch==2.13.0" $(TORCH_INDEX)
	@ls $(LLAMA_WHEELS)/llama_cpp_python-$(LLAMA_VERSION)-*.whl >/dev/null 2>&1 || { \
		echo "compiling llama-cpp-python $(LLAMA_VERSION) ($(LLAMA_CMAKE_ARGS)): 6-13 minutes the first time"; \
		CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(PIP) wheel --quiet --no-deps --no-cache-dir \
			--no-binary llama-cpp-python -w $(LLAMA_WHEELS) "llama-cpp-python==$(LLAMA_VERSION)"; }
	$(PIP) install --quiet --no-deps --no-index --force-reinstall --find-links $(LLAMA_WHEELS) \
		"llama-cpp-python==$(LLAMA_VERSION)"
	$(PIP) install --quiet -c constraints.txt --find-links $(LLAMA_WHEELS) -e ".[dev,st]"
	$(BIN)/python -c 'import pathlib, sys, sysconfig; \
		pathlib.Path(sysconfig.get_path("purelib"), "dora-checkout.pth").write_text(sys.argv[1] + "\n")' "$(CURDIR)"
	touch $@

setup: system-deps $(VENV)/.installed

# The train extra (trl, peft, datasets, accelerate, natasha) for `dora train` and its tests: `make test`
# installs it, `make setup` / `make chat` do not (operators who train: `pip install -e '.[train]'`).
# Same constraints, so torch stays the pinned CPU build installed above.
$(VENV)/.train-installed: $(VENV)/.installed
	$(PIP) install --quiet -c constraints.txt --find-links $(LLAMA_WHEELS) -e ".[dev,st,train]"
	touch $@

models: setup
	$(BIN)/dora models fetch

# The main job: the terminal chat on the embedded defaults (local GGUF, embedded Chroma, SQLite).
chat: models
	$(BIN)/dora chat

# The import floors first (seconds; contracts in pyproject.toml), then the suite.
test: setup $(VENV)/.train-installed
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -q

lint: setup
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

eval: setup
	$(BIN)/dora eval memory tests/fixtures/ru_probes.json
	$(BIN)/dora eval locomo ../shared/locomo10.json

bench: setup
	$(BIN)/dora bench memory

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
