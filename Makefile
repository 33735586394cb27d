# stagegate: the two commands of the quick start are `make run` and `make test`.
BUILD       ?= build
ASAN_BUILD  ?= build-asan
FUZZ_BUILD  ?= build-fuzz
JOBS        ?= $(shell nproc)
CONFIG      ?=
CMAKE_FLAGS ?=

BIN := $(BUILD)/orchestrator/app/stagegate

.PHONY: all deps build run test unit e2e asan fuzz bench clean

all: build

deps:
	@./deploy/install-deps.sh --with-npm

$(BUILD)/build.ninja:
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSG_WERROR=ON $(CMAKE_FLAGS)

build: deps $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS)

# Starts the service on the embedded default (127.0.0.1:8080, SQLite under ./.stagegate).
run: build
	$(BIN) serve $(if $(CONFIG),--config $(CONFIG),--pipelines examples/pipelines)

# Every test: unit tests, then the end-to-end tests against the built binary.
test: build
	cd $(BUILD) && ctest --output-on-failure -j 2 --timeout 600

unit: build
	cd $(BUILD) && ctest --output-on-failure -j 2 -L unit

e2e: build
	cd $(BUILD) && ctest --output-on-failure -L e2e

# The whole suite under AddressSanitizer and UndefinedBehaviorSanitizer.
asan: deps
	cmake -S . -B $(ASAN_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DSG_SANITIZE=ON -DSG_BUILD_BENCH=OFF
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --output-on-failure -j 2 --timeout 900

# libFuzzer targets for the parsers of untrusted input (clang). FUZZ_SECONDS per target.
FUZZ_SECONDS ?= 60
fuzz: deps
	CC=clang CXX=clang++ cmake -S . -B $(FUZZ_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DSG_FUZZ=ON \
	  -DSG_BUILD_TESTS=OFF -DSG_BUILD_BENCH=OFF
	cmake --build $(FUZZ_BUILD) -j $(JOBS) --target fuzz_targets
	./tests/fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_SECONDS)

bench: build
	./bench/run.sh $(BUILD)
	$(BUILD)/bench/sg_scheduler_bench
	./bench/dispatch_latency.py $(BIN)
	./bench/postback.py $(BIN)
	./bench/ml_bench.py $(BIN)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
