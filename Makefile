# fedpress — two commands do everything on a fresh Debian 12 machine:
#   make demo   install what is missing, build, run a real federated job
#   make test   install what is missing, build, run every test: the regular
#               build's ctest, then bounded fuzz runs (build-fuzz, clang), then
#               the whole suite again under ASan+UBSan (build-asan)
BUILD      ?= build
BUILD_TYPE ?= Release
JOBS       ?= $(shell nproc)
CMAKE_ARGS ?=
FUZZ_BUILD   ?= build-fuzz
SAN_BUILD    ?= build-asan
FUZZ_SECONDS ?= 60
# Second and third builds reuse earlier compilations when ccache is there.
CCACHE := $(shell command -v ccache >/dev/null 2>&1 && echo -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)

.PHONY: all deps configure build web test test-fuzz test-asan demo bench clean

all: build

deps:
	@bash deploy/install-deps.sh

configure: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DFEDPRESS_WERROR=ON $(CMAKE_ARGS) >/dev/null
	@echo "configured $(BUILD) ($(BUILD_TYPE))"

build: configure web
	@cmake --build $(BUILD) -j$(JOBS)

# The dashboard front end (npm, pinned by web/package-lock.json), and the
# browser test's playwright-core (tests/e2e/package-lock.json) so `make test`
# runs e2e_dashboard.
web: deps
	@if [ -f web/package.json ]; then \
	  cd web && { [ -d node_modules ] && [ node_modules/.package-lock.json -nt package-lock.json ] || npm ci --no-audit --no-fund; } && npm run build; \
	fi
	@if [ -f tests/e2e/package.json ]; then \
	  cd tests/e2e && { [ -d node_modules ] && [ node_modules/.package-lock.json -nt package-lock.json ] || npm ci --no-audit --no-fund; }; \
	fi

test: build
	@cd $(BUILD) && ctest --output-on-failure --timeout 1200
	@$(MAKE) --no-print-directory test-fuzz
	@$(MAKE) --no-print-directory test-asan

# libFuzzer targets (tests/fuzz, clang, ASan+UBSan), each run FUZZ_SECONDS
# from its committed seed corpus; any crash, leak, timeout or OOM fails.
test-fuzz: deps
	@cmake -S . -B $(FUZZ_BUILD) -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE=-O1 \
	  -DCMAKE_CXX_COMPILER=clang++ -DFEDPRESS_FUZZ=ON \
	  -DFEDPRESS_FUZZ_SECONDS=$(FUZZ_SECONDS) -DFEDPRESS_BUILD_CLIENT=OFF -DFEDPRESS_BUILD_TESTS=OFF \
	  -DFEDPRESS_BUILD_BENCH=OFF -DFEDPRESS_WERROR=OFF $(CCACHE) >/dev/null
	@cmake --build $(FUZZ_BUILD) -j$(JOBS) --target fuzz
	@cd $(FUZZ_BUILD) && ctest -L fuzz --output-on-failure -j$(JOBS)

# The whole unit and integration suite built with ASan+UBSan (the browser
# test excepted); sanitizer reports of any process fail it (tests/sanitizer/run.sh).
test-asan: web
	@cmake -S . -B $(SAN_BUILD) -DCMAKE_BUILD_TYPE=Release -DFEDPRESS_SANITIZE=ON -DFEDPRESS_WERROR=ON \
	  -DFEDPRESS_BUILD_BENCH=OFF $(CCACHE) >/dev/null
	@cmake --build $(SAN_BUILD) -j$(JOBS)
	@bash tests/sanitizer/run.sh $(SAN_BUILD)

demo: build
	@bash deploy/demo.sh $(BUILD)/bin

bench: build
	@$(BUILD)/bin/fedpress-compression-bench

clean:
	rm -rf $(BUILD) $(FUZZ_BUILD) $(SAN_BUILD) web/dist
