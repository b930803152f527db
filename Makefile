# liborm — the two commands (see README):
#   make demo   install missing Debian packages, build, run the demo on an embedded SQLite file
#   make test   install, build with sanitizers, start a throwaway PostgreSQL and Redis, run every suite
# and a few more: make build, make bench, make install-check, make tsan, make clean.

BUILD      ?= build
TEST_BUILD ?= build-test
TSAN_BUILD ?= build-tsan
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_GEN  := -DCMAKE_BUILD_TYPE=RelWithDebInfo

.PHONY: all deps build demo test test-only tsan bench install-check clean

all: build

deps:
	@scripts/install-deps.sh

build: deps
	cmake -S . -B $(BUILD) $(CMAKE_GEN) -DORM_BUILD_TESTS=OFF
	cmake --build $(BUILD) -j $(JOBS)

demo: build
	cd $(BUILD)/examples && ./orm-demo demo.db

# Tests: every suite in an ASan+UBSan build, the concurrent suites (label tsan) again in a
# ThreadSanitizer build, both against one throwaway PostgreSQL and one throwaway Redis; then the
# installed package.
test: deps
	cmake -S . -B $(TEST_BUILD) -DCMAKE_BUILD_TYPE=Debug -DORM_SANITIZE=ON -DORM_BUILD_BENCH=ON
	cmake --build $(TEST_BUILD) -j $(JOBS)
	cmake -S . -B $(TSAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DORM_TSAN=ON -DORM_BUILD_BENCH=OFF -DORM_BUILD_EXAMPLES=OFF
	cmake --build $(TSAN_BUILD) -j $(JOBS)
	scripts/with-postgres.sh scripts/with-redis.sh scripts/run-tests.sh $(TEST_BUILD) $(TSAN_BUILD) $(JOBS)
	scripts/install-check.sh

# The concurrent suites under ThreadSanitizer.
tsan: deps
	cmake -S . -B $(TSAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DORM_TSAN=ON -DORM_BUILD_BENCH=OFF -DORM_BUILD_EXAMPLES=OFF
	cmake --build $(TSAN_BUILD) -j $(JOBS)
	scripts/with-postgres.sh scripts/with-redis.sh ctest --test-dir $(TSAN_BUILD) --output-on-failure -L tsan

bench: build
	scripts/bench.sh $(BUILD)

install-check: build
	scripts/install-check.sh

clean:
	rm -rf $(BUILD) $(TEST_BUILD) $(TSAN_BUILD)
