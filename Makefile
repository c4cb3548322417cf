# Kyzmat: `make run` starts the app with demo data; `make test` runs the whole suite.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
MO     := webapp/translations/ky/LC_MESSAGES/messages.mo webapp/translations/ru/LC_MESSAGES/messages.mo

.PHONY: install run test bench lint translations clean-db

install: $(STAMP) $(MO)

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

test: install
	$(PY) -m pytest

bench: install
	$(PY) bench/engine.py

lint: install
	$(VENV)/bin/ruff check engine webapp tests bench

# Re-extract interface strings after changing templates or views.
translations: install
	$(VENV)/bin/pybabel extract -F webapp/babel.cfg -k _ -k gettext -k ngettext:1,2 -o webapp/translations/messages.pot .
	$(VENV)/bin/pybabel update -i webapp/translations/messages.pot -d webapp/translations

clean-db:
	rm -f var/kyzmat.sqlite3 var/kyzmat.sqlite3-wal var/kyzmat.sqlite3-shm
