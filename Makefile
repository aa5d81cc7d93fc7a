# MultiLoop: `make test` installs what is missing, builds, and runs every check;
# `make stress` builds release and runs the stress test (about a minute on 2 cores);
# `make demo` builds release and shows threads handing work to a loop.
SHELL := /bin/bash
SWIFT ?= swift
TSAN_SCRATCH ?= .build-tsan
# Warnings fail the build here (the library itself carries no unsafeFlags).
STRICT := -Xswiftc -warnings-as-errors
# TSan: any report fails the run.
TSAN_ENV := TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1"

.PHONY: all deps build test unit-tests tsan-tests model cli-tests demo stress bench clean

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

unit-tests: deps
	$(SWIFT) build --build-tests $(STRICT)
	$(SWIFT) test --skip-build

# The whole suite again under ThreadSanitizer (a separate scratch path keeps both builds warm).
tsan-tests: deps
	$(TSAN_ENV) $(SWIFT) test --sanitize=thread --scratch-path $(TSAN_SCRATCH)

# The Spin model of the inbox's push / sleep / wake / close protocol.
model: deps
	bash docs/model/check.sh

# The command line: usage errors exit 2, --help explains every scenario, a run exits 0 and its
# --json output parses.
cli-tests: build
	bash .ci/cli-tests.sh $$($(SWIFT) build --show-bin-path)/multiloop

test: deps build unit-tests model cli-tests tsan-tests
	@echo "make test: all checks passed"

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

clean:
	rm -rf .build $(TSAN_SCRATCH) Benchmarks/.build
