# README's two commands: `make run` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
HOST ?= 127.0.0.1:8000
DEMO_MEMBERS ?= 200

.PHONY: run setup test test-browser lint bench clean messages

run: setup  ## set everything up and serve the admin at http://$(HOST)/admin/
	@echo "Admin: http://$(HOST)/admin/"
	$(PY) manage.py runserver $(HOST)

setup: $(STAMP) .env
	$(PY) manage.py migrate --noinput
	$(PY) manage.py setup_schedule
	$(PY) manage.py seed_demo --print-logins --members $(DEMO_MEMBERS)

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet ".[dev]"
	rm -rf build *.egg-info $(VENV)/.installed-*
	touch $@

# Local development settings; real environment variables always win over this file.
.env:
	printf 'DEBUG=true\n' > .env

# Tests needing Chromium, a Redis worker or PostgreSQL are deselected where those are missing, and the
# closing lines say which and how to run them (tests/availability.py); BROWSER_TESTS=required fails instead.
test: $(STAMP) .env  ## the whole suite (PYTEST_ARGS to narrow it)
	$(PY) -m pytest $(PYTEST_ARGS)

test-browser: $(STAMP) .env  ## the browser tests only (headless Chromium; screenshots in .browser-screenshots/)
	BROWSER_TESTS=required $(PY) -m pytest -m browser $(PYTEST_ARGS)

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) manage.py makemigrations --check --dry-run

# Benchmarks of bench/README.md on PostgreSQL (databases bench and bench_1k, created when missing).
# Not part of `make test`; 20 to 30 minutes on two cores, most of it seeding 100k and loading 1M members.
BENCH_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/bench
BENCH_SMALL_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/bench_1k

bench: $(STAMP)
	DATABASE_URL=$(BENCH_DATABASE_URL) $(PY) bench/seed_rate.py --members 100000
	DATABASE_URL=$(BENCH_DATABASE_URL) $(PY) bench/blind_index.py --members 100000
	DATABASE_URL=$(BENCH_DATABASE_URL) $(PY) bench/blind_index.py --members 1000000
	$(PY) bench/changelist.py --small $(BENCH_SMALL_DATABASE_URL) --large $(BENCH_DATABASE_URL)

clean:
	rm -rf $(VENV) db.sqlite3 media .pytest_cache

# Issue 16: refresh the zh-Hans catalogues (GNU gettext needed here, not on a clone: the compiled .mo
# files are committed). Each app's catalogue from inside the app; the project one (templates/, config/)
# from a folder that links only those two, since --ignore would also skip templates/accounts/.
messages:
	for app in accounts consents requests_desk retention; do (cd $$app && ../$(PY) ../manage.py makemessages -l zh_Hans); done
	rm -rf .messages-tmp && mkdir .messages-tmp && ln -s ../templates ../config .messages-tmp/
	cd .messages-tmp && ../$(PY) ../manage.py makemessages -l zh_Hans --symlinks
	rm -rf .messages-tmp
	$(PY) manage.py compilemessages -l zh_Hans --ignore .venv
