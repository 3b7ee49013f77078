# Everything runs inside the uv-managed .venv built from the committed uv.lock.
# If uv is not on PATH it is bootstrapped into .tools/ with pip (nothing global).
SHELL := /bin/bash
UV := $(or $(shell command -v uv 2>/dev/null),$(CURDIR)/.tools/bin/uv)
RUN := $(UV) run --frozen
export PYTHONPATH := $(CURDIR)
export AIRFLOW_HOME ?= $(CURDIR)/.airflow
export AIRFLOW__CORE__DAGS_FOLDER := $(CURDIR)/dags
export AIRFLOW__CORE__LOAD_EXAMPLES := False
export ARCHIVE_URL ?= file://$(CURDIR)/archive

.PHONY: env demo test browser s3rver serve standalone soak bench bench-commit check format lock airflow bench-quality bench-crawl bench-archive bench-reprocess bench-linking bench-years clean

$(CURDIR)/.tools/bin/uv:
	python3 -m venv .tools && .tools/bin/python -m pip install -q --upgrade pip uv

.venv/.synced: pyproject.toml uv.lock tests/pywb/uv.lock | $(UV)
	$(UV) sync --frozen --compile-bytecode  # imports in every crawl and worker process read .pyc, even under PYTHONDONTWRITEBYTECODE
	$(UV) sync --frozen --compile-bytecode --project tests/pywb  # pywb (the export test's replay engine) in its own environment
	touch $@

env: .venv/.synced

demo: env  ## replay every fixture site, run each source's DAG once into ./archive, print a summary
	$(RUN) python infra/demo.py

test: env browser s3rver  ## the whole test suite (starts its own fixture web server and S3 servers on 127.0.0.1)
	$(RUN) pytest

s3rver: tests/s3rver/node_modules/.installed  ## the fake S3 server (npm) the store probe must refuse

tests/s3rver/node_modules/.installed: tests/s3rver/package.json tests/s3rver/package-lock.json
	@if command -v npm >/dev/null; then npm ci --prefix tests/s3rver --no-audit --no-fund --silent && touch $@; \
	 else echo "npm missing: the s3rver tests will be skipped (a failure under CI)" >&2; [ -z "$$CI" ]; fi

browser:  ## Debian's chromium for the browser tests (Playwright drives it; no browser build is downloaded)
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || \
	  { export DEBIAN_FRONTEND=noninteractive; SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	    $$SUDO apt-get install -y -q chromium || { $$SUDO apt-get update -q && $$SUDO apt-get install -y -q chromium; }; } || \
	  { echo "chromium could not be installed: the browser tests will be skipped (a failure under CI)" >&2; [ -z "$$CI" ]; }

serve: env  ## the reading room on http://127.0.0.1:8000/ over $$ARCHIVE_URL (default ./archive; `make demo` fills it)
	$(RUN) archive serve --archive $(ARCHIVE_URL)

soak: env  ## the write-once soak test for SOAK_SECONDS (default 300): random S3 faults, killed and concurrent runs
	NEWSARCHIVE_SOAK_SECONDS=$(or $(SOAK_SECONDS),300) $(RUN) pytest -s tests/test_soak.py

standalone: env  ## a lone copy of the tracked files (nothing beside it) collects every test and passes the gold acceptance
	bash .ci/standalone

check: env  ## lint, format and types: exactly what CI runs besides the tests
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	$(RUN) mypy

bench-quality: env  ## extraction on real pages per collection and half (dev/eval) beside bare trafilatura, what each generic rule is worth, speed, and the fixture pages; RATCHET=1 raises the gate's floors
	$(RUN) python -m tests.bench.quality --json .work/bench-quality.json $(if $(RATCHET),--ratchet)

bench: env  ## every stage beside its bare library in one run: prints ratios, writes tests/bench/results.json and the README's performance table
	$(RUN) python -m tests.bench.all

bench-crawl: env  ## sitemap parsing and pruning, then crawls of 3,000 and 10,000 pages beside a bare Scrapy spider (rate and peak RSS)
	$(RUN) python -m tests.bench.discovery --json .work/bench-discovery.json
	$(RUN) python -m tests.bench.crawl --json .work/bench-crawl.json

bench-reprocess: env  ## re-extraction of an archive of the real pages on every core, beside a bare warcio + trafilatura Pool
	$(RUN) python -m tests.bench.reprocess --json .work/bench-reprocess.json

bench-linking: env  ## syndication linking: incremental throughput with 1,000,000 signatures indexed beside bare datasketch, and precision/recall on a labelled set
	$(RUN) python -m tests.bench.linking --json .work/bench-linking.json

bench-commit: env  ## what a write-once commit costs as a source's manifest log grows, beside bare pyarrow reads
	$(RUN) python -m tests.bench.commit --json .work/bench-commit.json

bench-years: env  ## one run of one source on an empty archive and on archives 1, 2 and 5 years old (built once on SeaweedFS in .work/bench-years, ~1 h): per-step wall time, S3 requests by verb, bytes read, peak RSS; AGES=0,5 for fewer
	$(RUN) python -m tests.bench.years --ages $(or $(AGES),0,1,2,5)

bench-archive: env  ## search/get/export figures on a synthetic archive of ROWS manifest rows (default 1,000,000; kept in .work/)
	$(RUN) python -m tests.bench.archive --rows $(or $(ROWS),1000000) --json .work/bench-archive.json

format: env
	$(RUN) ruff format .
	$(RUN) ruff check --fix .

lock: | $(UV)
	$(UV) lock

airflow: env  ## Airflow on 127.0.0.1:8080 (SQLite, LocalExecutor sized for the machine); REPLAY=1: every crawl replayed to the local fixture sites; Ctrl-C stops it all
	$(RUN) python -m infra.airflow_local $(if $(REPLAY),--replay)

clean:
	rm -rf .airflow archive .pytest_cache .mypy_cache .ruff_cache
