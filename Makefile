# TransferKit — see README.md.
SWIFT ?= swift
TEST_FLAGS ?= -c release -Xswiftc -enable-testing

.PHONY: setup build test bench clean

setup:
	@bash scripts/setup

build: setup
	$(SWIFT) build -c release

test: setup
	$(SWIFT) build --build-tests $(TEST_FLAGS)
	$(SWIFT) test $(TEST_FLAGS) --no-parallel

bench: setup
	$(SWIFT) build -c release --product transfer-bench
	$$($(SWIFT) build -c release --show-bin-path)/transfer-bench $(BENCH_ARGS)

clean:
	rm -rf .build
