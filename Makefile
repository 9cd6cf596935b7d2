# fedpress — two commands do everything on a fresh Debian 12 machine:
#   make demo   install what is missing, build, run a real federated job
#   make test   install what is missing, build, run every test
BUILD      ?= build
BUILD_TYPE ?= Release
JOBS       ?= $(shell nproc)
CMAKE_ARGS ?=

.PHONY: all deps configure build web test demo bench clean

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

demo: build
	@bash deploy/demo.sh $(BUILD)/bin

bench: build
	@$(BUILD)/bin/fedpress-compression-bench

clean:
	rm -rf $(BUILD) web/dist
