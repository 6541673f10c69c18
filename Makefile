# Set-up is part of each target: the first run creates .venv (about 20 minutes on 2 cores, mostly
# compiling mmcv's ops; the compiled wheel is cached in ~/.cache/mmhssl), later runs reuse it.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.mmhssl-env-v1

.PHONY: env demo test clean

env: $(STAMP)

$(STAMP): tools/setup_env.sh requirements/constraints.txt setup.cfg
	VENV=$(VENV) bash tools/setup_env.sh

demo: env
	$(PY) tools/demo.py

test: env
	$(PY) -m pytest -q tests

clean:
	rm -rf work_dirs data/skimage_photos
