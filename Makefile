# Set-up is part of each target. `make demo` needs only the light environment (mmcv-lite, a few
# minutes); `make test` and the downstream transfer (mmdet/mmseg) need mmcv's compiled ops, built once
# (15-35 minutes on 2 cores) and cached in ~/.cache/mmhssl. Both live in .venv, one mmcv at a time.
VENV ?= .venv
PY := $(VENV)/bin/python
ifeq ($(FORCE_CUDA),1)
OPS_FLAVOUR := cuda-$(subst ;,_,$(subst $(eval) ,_,$(TORCH_CUDA_ARCH_LIST)))
else
OPS_FLAVOUR := cpu
endif
LITE_STAMP := $(VENV)/.mmhssl-env-lite-v2
OPS_STAMP := $(VENV)/.mmhssl-env-ops-$(OPS_FLAVOUR)-v2
ENV_INPUTS := tools/setup_env.sh requirements/constraints.txt setup.cfg
FMNIST := /usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: env env-downstream data data-check demo test test-quick lint benchmark-fmnist \
	benchmark-transfer clean

# FORCE_CUDA=1 asks for compiled CUDA ops: that is the downstream environment.
env: $(if $(filter 1,$(FORCE_CUDA)),$(OPS_STAMP),$(LITE_STAMP))

env-downstream: $(OPS_STAMP)

$(LITE_STAMP): $(ENV_INPUTS)
	VENV=$(VENV) bash tools/setup_env.sh
	touch $@

$(OPS_STAMP): $(ENV_INPUTS)
	rm -f $(VENV)/.mmhssl-env-ops-*
	VENV=$(VENV) MMHSSL_OPS=1 bash tools/setup_env.sh
	touch $@

# Fashion-MNIST (real labeled photos, MIT) from Debian's dataset-fashion-mnist package, for the
# evaluation tests and the benchmark. Installing it needs root (sudo when not root).
data: $(FMNIST)

$(FMNIST):
	$(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq dataset-fashion-mnist

# Tests never ask for a password: as root the data is installed, otherwise the command is named.
data-check:
	@test -f $(FMNIST) || [ "$$(id -u)" != 0 ] || $(MAKE) --no-print-directory data
	@test -f $(FMNIST) || { echo "Fashion-MNIST is missing: run 'make data' (apt-get install dataset-fashion-mnist, with sudo)." >&2; exit 1; }

demo: env
	$(PY) tools/demo.py

# OpenMMLab's lint set, configured in setup.cfg; `make test` runs it before the tests.
LINT := $(PY) -m flake8 mmhssl tools tests configs \
	&& $(PY) -m isort --check-only --diff mmhssl tools tests \
	&& $(PY) -m yapf --diff --recursive mmhssl tools tests

test: env-downstream data-check
	$(LINT)
	$(PY) -m pytest -q tests

# The fast subset for development: no slow training runs, no mmdet/mmseg.
test-quick: env data-check
	$(PY) -m pytest -q tests -m "not slow and not downstream"

lint: env
	$(LINT)

# iBOT vs HSSL-iBOT vs controls on Fashion-MNIST at CPU size (hours; resumable, results accumulate
# in docs/results/fashion_mnist.json; see docs/results/fashion_mnist.md).
benchmark-fmnist: env data-check
	$(PY) tools/benchmarks/fashion_mnist.py

# Random init vs the iBOT and HSSL-iBOT zoo weights, fine-tuned in mmpretrain, mmseg and mmdet on
# Fashion-MNIST (hours; resumable, results accumulate in docs/results/transfer.json; see
# docs/results/transfer.md).
benchmark-transfer: env-downstream data-check
	OMP_NUM_THREADS=1 $(PY) tools/benchmarks/transfer.py

clean:
	rm -rf work_dirs data/skimage_photos
