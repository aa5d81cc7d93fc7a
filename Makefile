# MultiLoop: `make test` installs what is missing, builds, and runs every check;
# `make stress` builds release and runs the stress test (about a minute on 2 cores);
# `make asan` runs the suite under AddressSanitizer with leak detection (not part of `make test`);
# `make demo` builds release and shows threads handing work to a loop;
# `make scaling` runs the thread-scaling sweep against the peers and writes docs/benchmarks.md's
# tables and docs/scaling/*.png, then the echo benchmark; `make echo` runs the echo-server
# benchmark alone (docs/echo/*.png); `make bench-check` checks malloc counts against Thresholds/.
SHELL := /bin/bash
SWIFT ?= swift
TSAN_SCRATCH ?= .build-tsan
ASAN_SCRATCH ?= .build-asan
# Warnings fail the build here (the library itself carries no unsafeFlags).
STRICT := -Xswiftc -warnings-as-errors
# TSan: any report fails the run.
TSAN_ENV := TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1"
# ASan: any report fails the run; LeakSanitizer checks the test process at its exit, with the
# one suppression in .ci/lsan.supp (a false positive of the sanitizer runtime, explained there).
ASAN_ENV := ASAN_OPTIONS="detect_leaks=1:halt_on_error=1" \
	LSAN_OPTIONS="suppressions=$(CURDIR)/.ci/lsan.supp:print_suppressions=1"

.PHONY: all deps build test unit-tests tsan-tests asan model cli-tests scaling-smoke consumer demo stress bench bench-check \
	bench-thresholds scaling scaling-swift scaling-python scaling-report scaling-static mutants clean \
	module-graph module-graph-check echo echo-build echo-run echo-report echo-smoke echo-static echo-group

all: build

# Debian packages the build and the checks need: libatomic_ops headers and Spin.
deps:
	@missing=""; \
	[ -f /usr/include/atomic_ops.h ] || missing="$$missing libatomic-ops-dev"; \
	command -v spin >/dev/null 2>&1 || missing="$$missing spin"; \
	command -v gcc >/dev/null 2>&1 || missing="$$missing gcc"; \
	command -v python3 >/dev/null 2>&1 || missing="$$missing python3"; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

build: deps
	$(SWIFT) build $(STRICT)

# Every suite has a time limit; a hang that ignores cancellation (a blocked thread, a spin) is
# stopped at the run's deadline (seconds), which names the tests left running and fails
# (.ci/swift-test-deadline.py; docs/design.md, "Tests and hangs"). A whole run takes 20-50 s
# (debug) and 40-90 s (TSan) on 2 busy cores.
UNIT_TESTS_DEADLINE ?= 600
TSAN_TESTS_DEADLINE ?= 900
DEADLINE := python3 .ci/swift-test-deadline.py

unit-tests: deps
	$(SWIFT) build --build-tests $(STRICT)
	$(DEADLINE) $(UNIT_TESTS_DEADLINE) -- $(SWIFT) test --skip-build

# The whole suite again under ThreadSanitizer (a separate scratch path keeps both builds warm).
tsan-tests: deps
	$(SWIFT) build --build-tests --sanitize=thread --scratch-path $(TSAN_SCRATCH)
	$(TSAN_ENV) $(DEADLINE) $(TSAN_TESTS_DEADLINE) -- \
		$(SWIFT) test --skip-build --sanitize=thread --scratch-path $(TSAN_SCRATCH)

# The whole suite under AddressSanitizer, LeakSanitizer checking for leaks when it exits: any
# error or leak fails it (about 3 min on 2 cores from a cold build, 1 min warm). Not part of
# `make test`. Swift Testing only: XCTest's runner finds no tests here and leaks its own suite
# objects at exit, so it is not run, and a test file importing XCTest fails this target instead of
# being skipped. Linked with lld (gold warns about each of ASan's helper symbols). The
# interleaving checker's suite runs apart, with memory errors checked and leaks not: it starts
# and joins about 100,000 threads, after which the kernel reuses thread ids and ASan's thread
# registry loses live threads, whose stacks LeakSanitizer then does not scan (the false positive
# .ci/lsan-tid-reuse.c reproduces): Swift Testing's own task memory would be reported.
asan: deps
	@! grep -rl --include='*.swift' '^import XCTest' Tests || \
		{ echo "asan: the files above use XCTest, which this target does not run"; exit 1; }
	$(ASAN_ENV) $(SWIFT) test --sanitize=address --disable-xctest --scratch-path $(ASAN_SCRATCH) \
		-Xswiftc -use-ld=lld --skip InterleavingTests
	ASAN_OPTIONS=detect_leaks=0:halt_on_error=1 $(SWIFT) test --skip-build --sanitize=address --disable-xctest \
		--scratch-path $(ASAN_SCRATCH) -Xswiftc -use-ld=lld --filter InterleavingTests

# The Spin model of the inbox's push / sleep / wake / close protocol.
model: deps
	bash docs/model/check.sh

# The command line: usage errors exit 2, --help explains every scenario, a run exits 0 and its
# --json output parses; `examples` prints what the tutorial's Python prints (about 10 s).
cli-tests: build
	bash .ci/cli-tests.sh $$($(SWIFT) build --show-bin-path)/multiloop

# The scaling sweep, its Python peer and its report, at a hundredth of the work (nothing measured).
scaling-smoke: deps
	bash .ci/scaling-smoke.sh

# A package of its own (Tests/Consumer) that depends on MultiLoop as a user's would, through the
# product and the public API only: built from outside this package, then run.
CONSUMER_SCRATCH ?= .build-consumer
consumer: deps
	$(SWIFT) build --package-path Tests/Consumer --scratch-path $(CONSUMER_SCRATCH) -Xswiftc -warnings-as-errors
	$(CONSUMER_SCRATCH)/debug/Consumer

# The module graph in docs/design.md ("The layers"), drawn from Package.swift
# (`swift package dump-package`: no build), and the rule it is for: every Swift file imports only
# its target's dependencies, and the library's layers point only downward
# (_MultiLoopSystem < _MultiLoopInbox < _MultiLoopEventLoop < MultiLoop). `module-graph` rewrites
# the graph after a change to Package.swift; `module-graph-check` (about a second, the first step
# of `make test`) fails when the committed graph is stale, a file imports upward, or a link of
# design.md names a file or symbol that is gone.
module-graph:
	SWIFT=$(SWIFT) python3 .ci/module-graph.py --write docs/design.md

module-graph-check:
	SWIFT=$(SWIFT) python3 .ci/module-graph.py --check docs/design.md
	python3 .ci/module-graph.py --links docs/design.md

test: deps module-graph-check build unit-tests model cli-tests scaling-smoke consumer tsan-tests
	@echo "make test: all checks passed"

# Seeded bugs (Tests/Mutants/mutants.txt), one at a time, in a copy of the tree
# (.build-mutants): each must fail its tests by an assertion within seconds. Not part of `make
# test` (2-4 minutes on 2 cores, warm). `make mutants MUTANTS=id1,id2` runs a subset.
mutants: deps
	python3 .ci/mutants.py $(if $(MUTANTS),--only $(MUTANTS))

demo: deps
	$(SWIFT) run -c release multiloop demo

# The stress test with its defaults: every scenario, 60 s in all, on a group of one loop per
# usable CPU. Pass options with ARGS, e.g. `make stress ARGS="--duration 600"`.
stress: deps
	$(SWIFT) build -c release --product multiloop
	$$($(SWIFT) build -c release --show-bin-path)/multiloop stress $(ARGS)

# Benchmarks against SwiftNIO (its own package; first build takes a few minutes).
bench: deps
	cd Benchmarks && $(SWIFT) package --allow-writing-to-package-directory benchmark

# Malloc counts of the benchmarks against the committed Benchmarks/Thresholds/*.p90.json: fails
# when a count moves beyond its tolerance (0.05 per operation), up or down; times are never
# checked. After a change that is meant to move them, `make bench-thresholds` rewrites the files;
# commit them. Every benchmark is checked, the recycled-handle forms included (a producer gets
# back its own handles: LoopBenchmarks.swift, `mallocThresholds`).
BENCH_METRIC := --metric mallocCountTotal --no-progress
bench-check: deps
	cd Benchmarks && $(SWIFT) package benchmark thresholds check $(BENCH_METRIC)

bench-thresholds: deps
	cd Benchmarks && $(SWIFT) package --allow-writing-to-package-directory benchmark thresholds update $(BENCH_METRIC)

# The thread-scaling sweep (docs/benchmarks.md, "Thread scaling"): MultiLoop, SwiftNIO,
# Dispatch, Swift's global executor, a mutex+eventfd baseline and the raw eventfd floor, then
# CPython asyncio and uvloop (from PyPI, in .build-python/venv), then the tables and plots.
# Options: SCALING_ARGS for the Swift sweep (e.g. "--repeats 5"), PYTHON_SCALING_ARGS for the
# Python one, SCALING_TITLE for the machine's name in the docs.
SCALING_DIR := .build-scaling
SCALING_TITLE ?= $(shell nproc)-CPU machine
SCALING_BIN = $$(cd Benchmarks && $(SWIFT) build -c release --show-bin-path)/multiloop-scaling
scaling: scaling-swift scaling-python scaling-report echo

scaling-swift: deps
	mkdir -p $(SCALING_DIR)
	cd Benchmarks && $(SWIFT) build -c release --product multiloop-scaling
	$(SCALING_BIN) --csv $(SCALING_DIR)/swift.csv $(SCALING_ARGS)

scaling-python: deps
	mkdir -p $(SCALING_DIR)
	PY=$$(Benchmarks/python/ensure-python.sh --with uvloop) && \
		"$$PY" Benchmarks/python/asyncio_scaling.py --csv $(SCALING_DIR)/python.csv $(PYTHON_SCALING_ARGS)

# Tables into docs/benchmarks.md (between the scaling markers), plots and the merged CSV into
# docs/scaling/. SCALING_CSVS, SCALING_OUT and SCALING_SECTION publish another machine's run.
SCALING_CSVS ?= $(SCALING_DIR)/swift.csv $(SCALING_DIR)/python.csv
SCALING_OUT ?= docs/scaling
SCALING_SECTION ?= scaling
scaling-report:
	PY=$$(Benchmarks/python/ensure-python.sh) && \
		"$$PY" Benchmarks/python/report.py $(SCALING_CSVS) --out-dir $(SCALING_OUT) \
		--markdown docs/benchmarks.md --section $(SCALING_SECTION) --title "$(SCALING_TITLE)"

# The echo benchmark (docs/benchmarks.md, "Echo server"): every server (the C ceiling, MultiLoop's
# once it has them, SwiftNIO, uvloop and asyncio, streams and protocols) x 1/10/100 KiB messages x
# 1/10/50 connections against multiloop-echo-client, servers pinned to CPU 0 and the client to CPU 1,
# then the tables into docs/benchmarks.md (between the echo markers) and plots into docs/echo/.
# About 3 minutes on 2 CPUs with the defaults below. ECHO_ARGS replaces them (see
# `Benchmarks/python/echo_bench.py --help`: --servers, --sizes, --connections, --repeats,
# --server-cpus/--client-cpus/--client-threads for a bigger machine); ECHO_TITLE names the machine.
# The MultiLoop servers are built here as soon as Benchmarks/Package.swift declares their product,
# echo-multiloop; until then the driver skips them with a message.
ECHO_DIR := .build-echo
ECHO_ARGS ?= --duration 1 --warmup 0.5 --repeats 2
ECHO_TITLE ?= $(SCALING_TITLE)
ECHO_PRODUCTS := multiloop-echo-client echo-ceiling echo-nio \
	$(if $(shell grep -s '"echo-multiloop"' Benchmarks/Package.swift),echo-multiloop)
echo: echo-run echo-report

echo-build: deps
	cd Benchmarks && for product in $(ECHO_PRODUCTS); do \
		$(SWIFT) build -c release --product $$product || exit 1; done

echo-run: echo-build
	mkdir -p $(ECHO_DIR)
	PY=$$(Benchmarks/python/ensure-python.sh --with uvloop) && \
		"$$PY" Benchmarks/python/echo_bench.py --csv $(ECHO_DIR)/echo.csv $(ECHO_ARGS)

echo-report:
	PY=$$(Benchmarks/python/ensure-python.sh) && \
		"$$PY" Benchmarks/python/echo_report.py $(ECHO_DIR)/echo.csv --out-dir docs/echo \
		--markdown docs/benchmarks.md --title "$(ECHO_TITLE)"

# The echo benchmark at a glance, measuring nothing (about 30 s after the build): every server for
# 0.2 s at one point, and the report into a scratch file. Not part of `make test`.
echo-smoke: echo-build
	tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	PY=$$(Benchmarks/python/ensure-python.sh --with uvloop) && \
	"$$PY" Benchmarks/python/echo_bench.py --csv "$$tmp/echo.csv" --sizes 10240 --connections 10 \
		--duration 0.2 --warmup 0.1 --repeats 1 && \
	printf '# Smoke\n\n<!-- echo:begin -->\n<!-- echo:end -->\n' > "$$tmp/b.md" && \
	"$$PY" Benchmarks/python/echo_report.py "$$tmp/echo.csv" --out-dir "$$tmp/echo" \
		--markdown "$$tmp/b.md" --title smoke >/dev/null && \
	grep -q "generator's headroom" "$$tmp/b.md" && echo "echo-smoke: passed"

# The echo benchmark's group sweep (docs/benchmarks.md, "A group of loops"): MultiLoop's echo
# servers on 1, 2, 4, ... loops (up to half the CPUs; the client gets the other half), each
# against N x one loop. Meaningful only with more CPUs than this 2-CPU machine has: `make
# echo-static` puts the two binaries it needs, with Swift's runtime linked in and stripped, in
# $(ECHO_DIR)/bin, to copy there with Benchmarks/python/ (it needs only python3 and taskset):
#   python3 Benchmarks/python/echo_group.py --bin-dir .build-echo/bin --out OUT
echo-static: deps
	mkdir -p $(ECHO_DIR)/bin
	cd Benchmarks && for product in echo-multiloop multiloop-echo-client; do \
		$(SWIFT) build -c release --static-swift-stdlib --scratch-path ../$(ECHO_DIR)/static \
			--product $$product || exit 1; done
	for product in echo-multiloop multiloop-echo-client; do \
		cp $(ECHO_DIR)/static/release/$$product $(ECHO_DIR)/bin/ && strip $(ECHO_DIR)/bin/$$product || exit 1; done

echo-group: echo-build
	PY=$$(Benchmarks/python/ensure-python.sh) && \
		"$$PY" Benchmarks/python/echo_group.py --bin-dir Benchmarks/.build/release --out $(ECHO_DIR)/group

# The sweep as one self-contained binary (Swift's runtime linked in) to copy to a bigger machine:
# $(SCALING_DIR)/multiloop-scaling needs only glibc there. See docs/benchmarks.md.
scaling-static: deps
	mkdir -p $(SCALING_DIR)
	cd Benchmarks && $(SWIFT) build -c release --static-swift-stdlib --scratch-path ../$(SCALING_DIR)/static \
		--product multiloop-scaling
	cp $(SCALING_DIR)/static/release/multiloop-scaling $(SCALING_DIR)/multiloop-scaling

clean:
	rm -rf .build $(TSAN_SCRATCH) $(ASAN_SCRATCH) Benchmarks/.build $(SCALING_DIR) $(ECHO_DIR) .build-python .build-mutants $(CONSUMER_SCRATCH)
