# Kyzmat: `make run` starts the app with demo data; `make test` runs the whole suite.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
MO     := webapp/translations/ky/LC_MESSAGES/messages.mo webapp/translations/ru/LC_MESSAGES/messages.mo
VENDOR := webapp/static/vendor/bpmn-js/bpmn-modeler.production.min.js

.PHONY: install browser run test bench lint translations clean-db

install: $(STAMP) $(MO) $(VENDOR)

# bpmn-js (diagram viewer and modeler) from npm, served from our own static folder: no CDN.
$(VENDOR): webapp/assets/package-lock.json
	cd webapp/assets && npm ci --no-audit --no-fund --loglevel=error
	rm -rf webapp/static/vendor/bpmn-js && mkdir -p webapp/static/vendor/bpmn-js
	cp -r webapp/assets/node_modules/bpmn-js/dist/assets webapp/static/vendor/bpmn-js/
	cp webapp/assets/node_modules/bpmn-js/dist/bpmn-navigated-viewer.production.min.js \
	   webapp/assets/node_modules/bpmn-js/dist/bpmn-modeler.production.min.js webapp/static/vendor/bpmn-js/
	touch $@

# Browser tests drive Debian's Chromium; install it when it is missing (CI machines start without it).
browser:
	@command -v chromium >/dev/null || (apt-get install -y -q chromium >/dev/null || \
	  (apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null))

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	rm -f $(VENV)/.installed-*
	touch $@

webapp/translations/%/LC_MESSAGES/messages.mo: webapp/translations/%/LC_MESSAGES/messages.po $(STAMP)
	$(VENV)/bin/pybabel compile -d webapp/translations -l $* -i $<

run: install
	$(VENV)/bin/kyzmat init
	$(VENV)/bin/kyzmat demo
	$(VENV)/bin/kyzmat run

test: install browser
	$(PY) -m pytest

bench: install
	$(PY) bench/engine.py
	$(PY) bench/timers.py

lint: install
	$(VENV)/bin/ruff check engine webapp tests bench

# Re-extract interface strings after changing templates or views.
translations: install
	$(VENV)/bin/pybabel extract -F webapp/babel.cfg -k _ -k gettext -k ngettext:1,2 -o webapp/translations/messages.pot .
	$(VENV)/bin/pybabel update -i webapp/translations/messages.pot -d webapp/translations

clean-db:
	rm -f var/kyzmat.sqlite3 var/kyzmat.sqlite3-wal var/kyzmat.sqlite3-shm
