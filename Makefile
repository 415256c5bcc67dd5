# dnabert-cpu front door. Every target installs missing Debian packages first
# (tools/setup-deps.sh), then configures and builds with CMake.
SHELL := /bin/bash
BUILD_DIR  ?= build
BUILD_TYPE ?= Release
JOBS       ?= $(shell nproc)
# ocl-icd-opencl-dev: Debian's oneDNN is built with the OpenCL GPU runtime, so its
# CMake config (dnnl-config.cmake) requires OpenCL; libdnnl-dev only recommends it.
DEBIAN_PACKAGES := g++ cmake make libdnnl-dev ocl-icd-opencl-dev libxsimd-dev \
                   doctest-dev zlib1g-dev libcli11-dev nlohmann-json3-dev qemu-user \
                   libopenmpi-dev openmpi-bin
FUZZ_PACKAGES   := clang libclang-rt-14-dev
# make bench: PyTorch in its tuned profile (bench/torch_env.sh), run side by side with ours.
BENCH_PACKAGES  := python3-torch libopenblas0-openmp libtcmalloc-minimal4

.PHONY: all build setup test asan-test demo bench learning-table fuzz clean

all: build

setup:
	@bash tools/setup-deps.sh $(DEBIAN_PACKAGES)

# The stamp is the generated Makefile, which CMake writes only when configuring
# succeeded (a failed configure leaves a CMakeCache.txt behind).
$(BUILD_DIR)/Makefile: | setup
	cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE)

build: setup $(BUILD_DIR)/Makefile
	cmake --build $(BUILD_DIR) -j $(JOBS)

test: build
	cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS)

asan-test: setup
	cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DDNABERT_SANITIZE=ON
	cmake --build build-asan -j $(JOBS)
	cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	  ctest --output-on-failure -j $(JOBS)

demo: build
	bash tools/demo.sh $(BUILD_DIR)

bench: build
	@bash tools/setup-deps.sh $(BENCH_PACKAGES)
	bash bench/run.sh $(BUILD_DIR)

# bench/LEARNING.md: GUE fine-tuning under --protocol gue from a pretrained model vs random init
# (scripts/learning_table.sh; resumes, skipping the runs whose results are in bench/learning/).
# LEARNING_ARGS passes its options, e.g. LEARNING_ARGS="--pretrain-log DIR/log.jsonl --jobs 2".
LEARNING_ARGS ?=
learning-table: build
	bash scripts/learning_table.sh $(LEARNING_ARGS)

# libFuzzer target for the FASTA/FASTQ parser, outside the normal build: only
# the parser's own sources, clang with ASan+UBSan. FUZZ_SECONDS=0 just builds.
FUZZ_SECONDS ?= 60
fuzz:
	@bash tools/setup-deps.sh $(FUZZ_PACKAGES) zlib1g-dev
	mkdir -p build-fuzz/corpus
	clang++ -std=c++20 -O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined \
	  -fno-sanitize-recover=undefined -I. io/fasta.cpp tests/fuzz/fuzz_fasta.cpp -lz -o build-fuzz/fuzz_fasta
	if [[ "$(FUZZ_SECONDS)" != 0 ]]; then \
	  ./build-fuzz/fuzz_fasta -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=2048 \
	    -artifact_prefix=build-fuzz/ build-fuzz/corpus tests/fuzz/corpus; fi

clean:
	rm -rf $(BUILD_DIR) build-asan build-fuzz
