# TransferKit — see README.md.
SWIFT ?= swift
TEST_FLAGS ?= -c release -Xswiftc -enable-testing
# Real weights the tests use, fetched into $TRANSFERKIT_CACHE (default ~/.cache/transferkit) by `transfer fetch`.
TEST_MODELS ?= efficientnet-lite0 minilm-l6 mobilenet-v2
# Real datasets the tests use: bbc-news is downloaded into the same cache by `transfer datasets fetch`
# (fashion-mnist is the Debian package scripts/setup installs); digits and mnist-5k are the domain-adaptation pair.
TEST_DATASETS ?= bbc-news digits mnist-5k deepforest

# The peers `make bench` measures beside TransferKit (benchmarks/peers.py): a Python with torch (and optionally
# onnxruntime, openvino). Default: the venv `make peers-setup` creates; none → TransferKit's figures only.
PEER_PYTHON ?= $(firstword $(wildcard .venv-peers/bin/python))
BENCH_THREADS ?= $(shell nproc)
BENCH_SCRATCH ?= .build

# Inputs of the property-based tests (command-line options, bundle manifests): `make test` runs a bounded count,
# `make fuzz` FUZZ_COUNT of each.
FUZZ_COUNT ?= 100000

.PHONY: setup build test fuzz fetch demo bench peers-setup clean adapt-bench mpi-proof serve-bench distill-bench dense-bench

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

# The property-based test of option parsing alone (Tests/TransferCLITests/OptionFuzzTests.swift), FUZZ_COUNT inputs
# (about 1 in 100 also run as a real `transfer` process).
fuzz: setup
	$(SWIFT) build --build-tests $(TEST_FLAGS)
	FUZZ_COUNT=$(FUZZ_COUNT) TRANSFERKIT_FUZZ_COUNT=$(FUZZ_COUNT) $(SWIFT) test $(TEST_FLAGS) --skip-build --filter "OptionFuzzTests|ManifestPropertyTests"

fetch: setup
	$(SWIFT) build -c release --product transfer
	$$($(SWIFT) build -c release --show-bin-path)/transfer fetch $(TEST_MODELS)
	$$($(SWIFT) build -c release --show-bin-path)/transfer datasets fetch $(TEST_DATASETS)

# The main job on real weights and data: fine-tune EfficientNet-Lite0 on a Fashion-MNIST sample (see README).
demo: setup
	$(SWIFT) build -c release --product transfer
	$$($(SWIFT) build -c release --show-bin-path)/transfer demo $(DEMO_ARGS)

# TransferKit's kernels against raw OpenBLAS/oneDNN, its whole models against the peers (same machine, same thread
# count, one invocation); writes benchmarks/RESULTS.md.
bench: fetch
	$(SWIFT) build -c release --product transfer-bench
	@mkdir -p $(BENCH_SCRATCH)
	@peers=""; \
	if [ -n "$(PEER_PYTHON)" ] && "$(PEER_PYTHON)" -c "import torch" 2>/dev/null; then \
		"$(PEER_PYTHON)" benchmarks/peers.py --threads $(BENCH_THREADS) --json $(BENCH_SCRATCH)/peers.json && peers="--peers $(BENCH_SCRATCH)/peers.json"; \
	else \
		echo "make bench: no peer Python with torch (run 'make peers-setup', ~3 GB, or set PEER_PYTHON); TransferKit only"; \
	fi; \
	$$($(SWIFT) build -c release --show-bin-path)/transfer-bench --threads $(BENCH_THREADS) $$peers --results benchmarks/RESULTS.md $(BENCH_ARGS)
	TRANSFER=$$($(SWIFT) build -c release --show-bin-path)/transfer bash scripts/serve-bench

# `transfer serve` under wrk on loopback: requests/s and p50/p99 with and without micro-batching (benchmarks/serving.md).
serve-bench: fetch
	TRANSFER=$$($(SWIFT) build -c release --show-bin-path)/transfer bash scripts/serve-bench

# Domain adaptation on real pairs (digits ↔ MNIST, BBC articles → leads): every method against source-only and a
# target-trained oracle, 3 seeds; writes docs/adapt-bench.md (see docs/domain-adaptation.md).
adapt-bench: fetch
	$$($(SWIFT) build -c release --show-bin-path)/transfer datasets fetch bbc-news-leads
	TRANSFER=$$($(SWIFT) build -c release --show-bin-path)/transfer bash scripts/adapt-bench

# Knowledge distillation on Fashion-MNIST (Lite2 teacher → MobileNetV2 / Lite0) and BBC News (MiniLM-L6 → 3 layers):
# each student alone vs distilled, with and without unlabelled data; writes docs/distillation-bench.md.
distill-bench: fetch
	$$($(SWIFT) build -c release --show-bin-path)/transfer fetch efficientnet-lite2 minilm-l3
	TRANSFER=$$($(SWIFT) build -c release --show-bin-path)/transfer bash scripts/distill-bench

# Dense prediction on real images: segmentation (composite set with exact masks; U-Net vs FPN, frozen vs
# fine-tuned encoder) and tree detection on DeepForest's aerial photographs; see docs/dense.md.
dense-bench: fetch
	$(SWIFT) build -c release --product transfer-bench
	TRANSFER=$$($(SWIFT) build -c release --show-bin-path)/transfer bash scripts/dense-bench

# A venv with the peers for `make bench` (PyTorch from PyPI pulls CUDA wheels, ~3 GB; never needed by the tests).
peers-setup:
	@python3 -c "import ensurepip" 2>/dev/null || apt-get install -y python3-venv
	python3 -m venv .venv-peers
	.venv-peers/bin/pip install --quiet torch torchvision transformers safetensors onnx onnxruntime openvino

clean:
	rm -rf .build

# Data-parallel training over MPI against one process (docs/distributed.md): weights, accuracy, throughput.
mpi-proof: setup
	$(SWIFT) build -c release --product transfer
	$$($(SWIFT) build -c release --show-bin-path)/transfer fetch efficientnet-lite0
	TRANSFER=$$($(SWIFT) build -c release --show-bin-path)/transfer bash scripts/mpi-proof.sh $(MPI_PROOF_ARGS)

# Few-shot proof figures (docs/few-shot.md): BBC News learning curves by examples per class and Fashion-MNIST
# novel-class episodes before and after episodic training. Long on 2 CPU cores; not part of `make test`.
FEWSHOT_OUT ?= .build/fewshot
.PHONY: fewshot-proof
fewshot-proof: fetch
	@mkdir -p $(FEWSHOT_OUT)
	$$($(SWIFT) build -c release --show-bin-path)/transfer fewshot curve --data $${TRANSFERKIT_CACHE:-$$HOME/.cache/transferkit}/datasets/bbc-news \
		--max-tokens 128 --shots 1,2,4,8,16 --seeds 10 --methods prototypes logistic zeroshot --json > $(FEWSHOT_OUT)/bbc-frozen.json
	$$($(SWIFT) build -c release --show-bin-path)/transfer fewshot curve --data $${TRANSFERKIT_CACHE:-$$HOME/.cache/transferkit}/datasets/bbc-news \
		--max-tokens 64 --shots 1,2,4,8,16 --seeds 3 --test-per-class 30 --methods prototypes logistic zeroshot setfit \
		--iterations 5 --max-pairs 96 --json > $(FEWSHOT_OUT)/bbc-setfit.json
	$$($(SWIFT) build -c release --show-bin-path)/transfer fewshot curve --data $${TRANSFERKIT_CACHE:-$$HOME/.cache/transferkit}/datasets/bbc-news \
		--max-tokens 64 --shots 1,2,4,8,16 --seeds 2 --test-per-class 30 --methods finetune --json > $(FEWSHOT_OUT)/bbc-finetune.json
	$$($(SWIFT) build -c release --show-bin-path)/transfer fewshot curve --data $${TRANSFERKIT_CACHE:-$$HOME/.cache/transferkit}/datasets/bbc-news \
		--max-tokens 64 --shots 1 --seeds 10 --test-per-class 30 --methods setfit setfit-templates --iterations 5 --max-pairs 96 \
		--json > $(FEWSHOT_OUT)/bbc-templates.json
	for bn in running batch; do $$($(SWIFT) build -c release --show-bin-path)/transfer fewshot meta --image-size 32 --base-per-class 100 \
		--novel-per-class 60 --train-episodes 60 --train-queries 5 --lr 3e-4 --episodes 600 --batch-norm $$bn --json \
		> $(FEWSHOT_OUT)/fashion-meta-$$bn.json || exit 1; done
	$$($(SWIFT) build -c release --show-bin-path)/transfer fewshot meta --method reptile --image-size 32 --base-per-class 100 \
		--novel-per-class 60 --train-episodes 60 --train-queries 5 --inner-steps 3 --lr 1e-4 --episodes 600 --json \
		> $(FEWSHOT_OUT)/fashion-reptile.json
