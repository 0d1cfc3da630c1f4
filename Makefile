# A thin facade over Meson. `make` builds, `make check` runs every test, `make demo` brings the
# system up on loopback, `make install PREFIX=/some/dir` installs the programs.
BUILD     ?= build
ASAN      ?= build-asan
FUZZ      ?= build-fuzz
PREFIX    ?= /usr/local
PYTHON    ?= /usr/bin/python3
PYTEST    ?= $(PYTHON) -m pytest
FUZZ_SECONDS ?= 20

.PHONY: all deps build check unit integration asan check-asan fuzz fuzz-run lint format format-check \
        demo install deb bench bench-failover bench-sites bench-steady bench-backup bench-pooler \
        bench-reads clean faults soak monitoring-rules monitoring-check

all: build

deps:
	@bash scripts/deps.sh

$(BUILD)/build.ninja:
	meson setup $(BUILD) --buildtype=debugoptimized

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD)

unit: build
	meson test -C $(BUILD) --print-errorlogs

integration: build
	TANDEM_BUILD=$(abspath $(BUILD)) $(PYTEST) -q tests/integration

check: unit integration

$(ASAN)/build.ninja:
	meson setup $(ASAN) --buildtype=debug -Db_sanitize=address,undefined -Db_lundef=false

asan: deps $(ASAN)/build.ninja
	ninja -C $(ASAN)

check-asan: asan
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	  meson test -C $(ASAN) --print-errorlogs
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	  TANDEM_BUILD=$(abspath $(ASAN)) $(PYTEST) -q tests/integration

$(FUZZ)/build.ninja:
	CC=clang-14 meson setup $(FUZZ) --buildtype=debug -Dfuzz=true -Dtests=false \
	  -Db_sanitize=address,undefined -Db_lundef=false

fuzz: deps $(FUZZ)/build.ninja
	ninja -C $(FUZZ)

# Runs every fuzzer for FUZZ_SECONDS each, from the checked-in seed corpus.
fuzz-run: fuzz
	bash fuzz/run.sh $(FUZZ) $(FUZZ_SECONDS)

lint:
	cppcheck --quiet --enable=warning,portability,performance --std=c11 --error-exitcode=1 \
	  --inline-suppr -D_GNU_SOURCE -I src/lib -I src/hellod -I src/patroni -I src/backup -I src/tandemd/core \
	  -I src/tandemd/agent -I src/tandemd/dcs -I src/tandemd/pg -I src/tandemd/rest \
	  --suppress=missingIncludeSystem src

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

format-check:
	clang-format --dry-run --Werror $$(git ls-files '*.c' '*.h')

# The demo's Prometheus evaluates the alert rules written for the demo's timing (tandem's
# defaults: ttl 4, loop_wait 1) and its 5 s scrape.
demo: build
	$(PYTHON) monitoring/gen_rules.py --ttl 4 --loop-wait 1 --scrape-interval 5 \
	  --out $(BUILD)/monitoring-demo/rules
	TANDEM_MONITORING_DIR=$(abspath $(BUILD))/monitoring-demo \
	  $(BUILD)/src/tandemctl/tandemctl demo $(DEMO_ARGS)

# Alert rules for a cluster's timing (docs/monitoring.md#alerts), the dashboard, and the
# Kubernetes PrometheusRule made from the rules; the checked-in files are the defaults:
# make monitoring-rules TTL=30 LOOP_WAIT=10 SCRAPE_INTERVAL=15
TTL ?= 30
LOOP_WAIT ?= 10
SCRAPE_INTERVAL ?= 15
monitoring-rules:
	$(PYTHON) monitoring/gen_rules.py --ttl $(TTL) --loop-wait $(LOOP_WAIT) \
	  --scrape-interval $(SCRAPE_INTERVAL)
	$(PYTHON) monitoring/gen_dashboard.py
	$(PYTHON) deploy/kubernetes/gen-prometheusrule.py

# promtool check/test rules, every alert tested firing and not, the dashboard's PromQL parses.
monitoring-check: deps
	$(PYTHON) monitoring/check.py

install: build
	meson configure -Dprefix=$(abspath $(PREFIX)) $(BUILD)
	ninja -C $(BUILD)
	meson install -C $(BUILD) --no-rebuild --quiet

# The Debian package into dist/ (dpkg-buildpackage, debhelper, lintian; docs/deploy.md).
deb:
	bash scripts/deb.sh

bench: build
	bash bench/hellod.sh $(abspath $(BUILD))

# Failover benchmark against Patroni (about 16 minutes): make bench-failover BENCH_ARGS=--quick
bench-failover: build
	TANDEM_BUILD=$(abspath $(BUILD)) bash bench/failover.sh $(BENCH_ARGS)

# Backup and restore with pgBackRest against pg_basebackup, on a 2 GB database (about 10 minutes).
bench-backup: build
	/usr/bin/python3 bench/backup.py $(BENCH_ARGS)

# No fault for STEADY_SECONDS (default 10 minutes) with writes: no failover should happen.
STEADY_SECONDS ?= 600
# Two sites (root: network namespaces, as the fault suite): planned site switchover, disaster
# promotion and failback of a 2 GB database (about 6 minutes of the whole), three runs each;
# bench/README.md.
bench-sites: build
	TANDEM_BUILD=$(abspath $(BUILD)) $(PYTHON) bench/sites.py $(BENCH_ARGS)

# PgBouncer over a planned switchover, paused by tandemd and not (about 4 minutes); docs/pooler.md.
bench-pooler: build
	TANDEM_BUILD=$(abspath $(BUILD)) $(PYTHON) bench/pooler.py $(BENCH_ARGS)

# Local reads against reads through the primary behind a delayed link, and token reads with and
# without replica lag (about 3 minutes); docs/active-active.md.
bench-reads: build
	TANDEM_BUILD=$(abspath $(BUILD)) $(PYTHON) bench/reads.py $(BENCH_ARGS)

bench-steady: build
	TANDEM_BUILD=$(abspath $(BUILD)) bash bench/failover.sh --steady $(STEADY_SECONDS) $(BENCH_ARGS)

# Fault injection with a history checker (root: network namespaces). See docs/faults.md.
SEED     ?= 1
DURATION ?= 600
faults: build
	$(PYTHON) -m pytest -q -p no:cacheprovider tests/faults/test_sites_checker.py \
	  tests/faults/test_picture.py
	TANDEM_BUILD=$(abspath $(BUILD)) $(PYTHON) tests/faults/run.py quick $(FAULTS_ARGS)
	TANDEM_BUILD=$(abspath $(BUILD)) $(PYTHON) tests/faults/run.py quick --backup \
	  --only repo_unreachable,backup_kill_runner $(FAULTS_BACKUP_ARGS)
	TANDEM_BUILD=$(abspath $(BUILD)) $(PYTHON) tests/faults/run.py quick --stretched \
	  $(FAULTS_STRETCHED_ARGS)

soak: build
	TANDEM_BUILD=$(abspath $(BUILD)) $(PYTHON) tests/faults/run.py soak --seed $(SEED) \
	  --duration $(DURATION) $(FAULTS_ARGS)

clean:
	rm -rf $(BUILD) $(ASAN) $(FUZZ)
