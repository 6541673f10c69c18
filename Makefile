# Set-up is part of each target: the first run creates .venv (about 20 minutes on 2 cores, mostly
# compiling mmcv's ops; the compiled wheel is cached in ~/.cache/mmhssl), later runs reuse it.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.mmhssl-env-v1
FMNIST := /usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: env data demo test benchmark-fmnist clean

env: $(STAMP)

$(STAMP): tools/setup_env.sh requirements/constraints.txt setup.cfg
	VENV=$(VENV) bash tools/setup_env.sh

# Fashion-MNIST (real labeled photos, MIT) from Debian's dataset-fashion-mnist package, for the
# evaluation tests and benchmark.
data: $(FMNIST)

$(FMNIST):
	$(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq dataset-fashion-mnist

demo: env
	$(PY) tools/demo.py

test: env data
	$(PY) -m pytest -q tests

# HSSL-iBOT vs iBOT vs raw pixels on Fashion-MNIST (CPU size; see docs/results/fashion_mnist.md).
benchmark-fmnist: env data
	$(PY) tools/benchmarks/fashion_mnist.py --epochs 2 --seeds 0 1 --num-per-class 300 \
	    --test-num-per-class 200 --online-num-per-class 100 50 --batch-size 32 --num-workers 1

clean:
	rm -rf work_dirs data/skimage_photos
