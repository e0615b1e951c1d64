# Two commands do everything on a fresh Debian machine with Python >= 3.11:
#   make demo   set up .venv, build the demo case and open it (or render it to demo-output/ without a display)
#   make test   set up .venv with test tools, install the headless-GUI system packages (as root), run the suite
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
# Debian packages that Qt's xcb platform plugin and VTK's OpenGL need under Xvfb (../shared/ENVIRONMENT.md), and the
# DICOM peers the tests drive (dcmtk's dcmdump, dicom3tools' dciodvfy, plastimatch, Orthanc).
SYSTEM_PACKAGES := xvfb xauth libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-randr0 libxcb-render-util0 \
	libxcb-shape0 libxcb-xinerama0 libxcb-xkb1 libxkbcommon-x11-0 libxcb-cursor0 libegl1 libgl1 \
	libxcb-xfixes0 libxcb-shm0 libxcb-sync1 libdbus-1-3 libfontconfig1 \
	dcmtk dicom3tools plastimatch orthanc orthanc-dicomweb
PYTEST_ARGS ?=

.PHONY: demo test lint bench system-deps vr-runtimes clean
# Monado (OpenXR runtime with a simulated headset; in-process, and as a service that a test can kill) and
# OpenComposite (OpenVR over OpenXR) for the VR tests, built once per machine by their scripts (cached; as root the
# shared scripts apt-get their own build packages).
VR_TOOLS ?= ../shared/tools

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

vr-runtimes: $(VENV)/.python-ok
	@if [ -x $(VR_TOOLS)/openvr-opencomposite/build.sh ]; then \
		echo "VR test runtimes (Monado in-process and as a service, OpenComposite, our OpenXR loss layer): building or reusing the cache"; \
		{ $(VR_TOOLS)/openvr-opencomposite/build.sh && VR_TOOLS=$(abspath $(VR_TOOLS)) bash tests/vr/build_monado_service.sh \
			&& bash rendering/vr/xr_loss_layer/build.sh; } \
			>$(VENV)/vr-runtimes.log 2>&1 || { tail -n 5 $(VENV)/vr-runtimes.log; \
			if [ "$$CI" = true ]; then exit 1; fi; echo "note: VR runtimes not built; their tests will skip"; }; \
	else \
		echo "note: $(VR_TOOLS)/openvr-opencomposite missing; VR runtime tests will skip"; \
	fi

test: $(VENV)/.test-installed system-deps vr-runtimes
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports
	@# One X server for the whole run, outliving Python: a Qt/VTK window some test leaves alive then closes its
	@# connection at exit instead of losing its server first (pytest-xvfb stops Xvfb before Python exits, and Xlib
	@# ends a process whose server has gone with status 1). Same screen as pytest-xvfb's default.
	@if command -v xvfb-run >/dev/null; then \
		echo "xvfb-run -a $(PY) -m pytest -p no:xvfb $(PYTEST_ARGS)"; \
		xvfb-run -a -s "-screen 0 800x600x16 -nolisten tcp" $(PY) -m pytest -p no:xvfb $(PYTEST_ARGS); \
	else \
		$(PY) -m pytest $(PYTEST_ARGS); \
	fi

bench: $(VENV)/.test-installed
	$(PY) -m benchmarks

clean:
	rm -rf $(VENV) demo-output .pytest_cache .ruff_cache
