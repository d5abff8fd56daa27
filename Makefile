# TransferKit — see README.md.
SWIFT ?= swift
TEST_FLAGS ?= -c release -Xswiftc -enable-testing
# Real weights the tests use, fetched into $TRANSFERKIT_CACHE (default ~/.cache/transferkit) by `transfer fetch`.
TEST_MODELS ?= efficientnet-lite0 minilm-l6
# Real datasets the tests use: bbc-news is downloaded into the same cache by `transfer datasets fetch`
# (fashion-mnist is the Debian package scripts/setup installs).
TEST_DATASETS ?= bbc-news

.PHONY: setup build test fetch demo bench clean

setup:
	@bash scripts/setup

build: setup
	$(SWIFT) build -c release

# Builds everything (tests included, release mode), fetches and verifies the real weights, runs the suite.
test: setup
	$(SWIFT) build --build-tests $(TEST_FLAGS)
	$$($(SWIFT) build $(TEST_FLAGS) --show-bin-path)/transfer fetch $(TEST_MODELS)
	$$($(SWIFT) build $(TEST_FLAGS) --show-bin-path)/transfer datasets fetch $(TEST_DATASETS)
	$(SWIFT) test $(TEST_FLAGS) --skip-build --no-parallel

fetch: setup
	$(SWIFT) build -c release --product transfer
	$$($(SWIFT) build -c release --show-bin-path)/transfer fetch $(TEST_MODELS)
	$$($(SWIFT) build -c release --show-bin-path)/transfer datasets fetch $(TEST_DATASETS)

# The main job on real weights and data: fine-tune EfficientNet-Lite0 on a Fashion-MNIST sample (see README).
demo: setup
	$(SWIFT) build -c release --product transfer
	$$($(SWIFT) build -c release --show-bin-path)/transfer demo $(DEMO_ARGS)

bench: setup
	$(SWIFT) build -c release --product transfer-bench
	$$($(SWIFT) build -c release --show-bin-path)/transfer-bench $(BENCH_ARGS)

clean:
	rm -rf .build
