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

.PHONY: all build setup test asan-test demo bench learning-table fuzz fuzz-setup clean

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

# libFuzzer targets, one per parser (tests/fuzz/fuzz_<parser>.cpp), outside the
# normal build: clang with ASan+UBSan, each linked with only the sources its
# parser needs (FUZZ_SRC_<parser>). Each runs for FUZZ_SECONDS, one after the
# other, on a working corpus build-fuzz/corpus/<parser>/ seeded from the
# committed tests/fuzz/corpus/<parser>/; crashes go to build-fuzz/artifacts/<parser>/.
# FUZZ_SECONDS=0 only builds; FUZZ_TARGETS="csv npy" picks a subset.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= fasta csv config trainer_state safetensors torch vcf npy vocab
FUZZ_DIR     := build-fuzz
FUZZ_FLAGS   := -std=c++20 -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
                -fno-sanitize-recover=undefined -I.
FUZZ_TENSOR  := engine/tensor.cpp engine/arena.cpp  # for readers that return tensors
FUZZ_SRC_fasta         := io/formats/fasta.cpp
FUZZ_SRC_csv           := io/data/dataset.cpp io/formats/fasta.cpp io/formats/json_read.cpp tokenizer/kmer.cpp tokenizer/vocab.cpp
FUZZ_SRC_config        := models/network/config.cpp io/formats/json_read.cpp io/formats/atomic_file.cpp
FUZZ_SRC_trainer_state := models/training/resume_state.cpp io/formats/json_read.cpp io/data/sampler.cpp io/formats/fasta.cpp engine/rng.cpp
FUZZ_SRC_safetensors   := io/formats/safetensors.cpp io/formats/json_read.cpp io/formats/atomic_file.cpp $(FUZZ_TENSOR)
FUZZ_SRC_torch         := io/formats/torch_checkpoint.cpp $(FUZZ_SRC_safetensors)
FUZZ_SRC_vcf           := io/data/vcf.cpp $(FUZZ_SRC_csv)
FUZZ_SRC_npy           := io/formats/npy.cpp io/formats/atomic_file.cpp $(FUZZ_TENSOR)
FUZZ_SRC_vocab         := tokenizer/vocab.cpp
fuzz_objects = $(patsubst %.cpp,$(FUZZ_DIR)/obj/%.o,$(1))

fuzz: $(addprefix $(FUZZ_DIR)/fuzz_,$(FUZZ_TARGETS))
	@if [[ "$(FUZZ_SECONDS)" != 0 ]]; then \
	  for t in $(FUZZ_TARGETS); do \
	    mkdir -p $(FUZZ_DIR)/corpus/$$t $(FUZZ_DIR)/artifacts/$$t; \
	    echo "fuzz_$$t: $(FUZZ_SECONDS) s"; \
	    $(FUZZ_DIR)/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=2048 \
	      -print_final_stats=1 -artifact_prefix=$(FUZZ_DIR)/artifacts/$$t/ \
	      $(FUZZ_DIR)/corpus/$$t tests/fuzz/corpus/$$t || exit 1; \
	  done; fi

fuzz-setup:
	@bash tools/setup-deps.sh $(FUZZ_PACKAGES) zlib1g-dev nlohmann-json3-dev

$(FUZZ_DIR)/obj/%.o: %.cpp | fuzz-setup
	@mkdir -p $(@D)
	clang++ $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c $< -o $@

-include $(wildcard $(FUZZ_DIR)/obj/*/*.d $(FUZZ_DIR)/obj/*/*/*.d)
.PRECIOUS: $(FUZZ_DIR)/obj/%.o

.SECONDEXPANSION:
$(FUZZ_DIR)/fuzz_%: $(FUZZ_DIR)/obj/tests/fuzz/fuzz_%.o $$(call fuzz_objects,$$(FUZZ_SRC_$$*))
	clang++ $(FUZZ_FLAGS) -fsanitize=fuzzer $^ -lz -o $@

clean:
	rm -rf $(BUILD_DIR) build-asan build-fuzz
