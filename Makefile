# Lanner — the two commands README.md names, and their parts.
#   make demo   collector + sensor + event generator on this machine, alerts printed (root)
#   make test   every test, end-to-end ones included (root)
SHELL := /bin/bash
SWIFT ?= swift

.PHONY: all deps sensor build debug demo test fuzz clean

all: build

deps:
	@bash scripts/install-deps.sh

sensor: deps
	@$(MAKE) --no-print-directory -C sensor all

# Release binaries, with the eBPF object next to them.
build: sensor
	$(SWIFT) build -c release
	@cp sensor/build/lanner.bpf.o "$$($(SWIFT) build -c release --show-bin-path)/lanner.bpf.o"

debug: sensor
	$(SWIFT) build
	@cp sensor/build/lanner.bpf.o "$$($(SWIFT) build --show-bin-path)/lanner.bpf.o"

demo: build
	@bash scripts/demo.sh "$$($(SWIFT) build -c release --show-bin-path)"

# The end-to-end tests run the release binaries (a debug collector cannot keep up with a busy test machine).
test: build debug
	@$(MAKE) --no-print-directory -C sensor check test-tools
	$(SWIFT) build --build-tests
	LANNER_BIN_DIR="$$($(SWIFT) build -c release --show-bin-path)" $(SWIFT) test
	@bash Fuzz/run.sh $(FUZZ_SECONDS)

# libFuzzer on the condition parser and the rule loader (Fuzz/); a crash fails and leaves the input in
# Fuzz/FailCases/. `make fuzz FUZZ_SECONDS=600` for a longer run.
FUZZ_SECONDS ?= 20
fuzz:
	@bash Fuzz/run.sh $(FUZZ_SECONDS)

clean:
	$(MAKE) -C sensor clean 2>/dev/null || rm -rf sensor/build
	rm -rf .build state Fuzz/.build
