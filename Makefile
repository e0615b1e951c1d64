# Two commands do everything on a fresh Debian machine with Python >= 3.11:
#   make demo   set up .venv, build the demo case and open it (or render it to demo-output/ without a display)
#   make test   set up .venv with test tools, install the headless-GUI system packages (as root), run the suite
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
# Debian packages that Qt's xcb platform plugin and VTK's OpenGL need under Xvfb (../shared/ENVIRONMENT.md).
SYSTEM_PACKAGES := xvfb xauth libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-randr0 libxcb-render-util0 \
	libxcb-shape0 libxcb-xinerama0 libxcb-xkb1 libxkbcommon-x11-0 libxcb-cursor0 libegl1 libgl1 \
	libxcb-xfixes0 libxcb-shm0 libxcb-sync1 libdbus-1-3 libfontconfig1
PYTEST_ARGS ?=

.PHONY: demo test lint bench system-deps clean

$(VENV)/.python-ok:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "SurgiTwin needs Python >= 3.11; set PYTHON=python3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	@touch $@

$(VENV)/.installed: $(VENV)/.python-ok pyproject.toml
	$(PIP) install --quiet -e .
	@touch $@

$(VENV)/.test-installed: $(VENV)/.installed pyproject.toml
	$(PIP) install --quiet -e '.[test]'
	@touch $@

system-deps:
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		missing=$$(for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
		if [ -n "$$missing" ]; then \
			echo "installing system packages: $$missing"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
		fi; \
	elif ! command -v Xvfb >/dev/null; then \
		echo "note: Xvfb is missing and this is not root; GUI tests need: sudo apt-get install $(SYSTEM_PACKAGES)"; \
	fi

demo: $(VENV)/.installed
	@if [ -n "$$DISPLAY$$WAYLAND_DISPLAY" ]; then \
		$(VENV)/bin/surgitwin demo; \
	else \
		$(VENV)/bin/surgitwin demo --offscreen demo-output; \
	fi

test: $(VENV)/.test-installed system-deps
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports
	$(PY) -m pytest $(PYTEST_ARGS)

bench: $(VENV)/.test-installed
	$(PY) -m benchmarks

clean:
	rm -rf $(VENV) demo-output .pytest_cache .ruff_cache
