# TransferKit — see README.md.
SWIFT ?= swift
TEST_FLAGS ?= -c release -Xswiftc -enable-testing
# Real weights the tests use, fetched into $TRANSFERKIT_CACHE (default ~/.cache/transferkit) by `transfer fetch`.
TEST_MODELS ?= efficientnet-lite0 minilm-l6

.PHONY: setup build test fetch bench clean

setup:
	@bash scripts/setup

build: setup
	$(SWIFT) build -c release

# Builds everything (tests included, release mode), fetches and verifies the real weights, runs the suite.
test: setup
	$(SWIFT) build --build-tests $(TEST_FLAGS)
	$$($(SWIFT) build $(TEST_FLAGS) --show-bin-path)/transfer fetch $(TEST_MODELS)
	$(SWIFT) test $(TEST_FLAGS) --skip-build --no-parallel

fetch: setup
	$(SWIFT) build -c release --product transfer
	$$($(SWIFT) build -c release --show-bin-path)/transfer fetch $(TEST_MODELS)

bench: setup
	$(SWIFT) build -c release --product transfer-bench
	$$($(SWIFT) build -c release --show-bin-path)/transfer-bench $(BENCH_ARGS)

clean:
	rm -rf .build
