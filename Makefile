# Top-level tasks. `make test` runs every test the project has; it installs
# the tools the tests need first (scripts/setup-tools.sh).
#
#   make install PREFIX=/usr/local   release build, installs the libraries,
#                                    header, pkg-config + CMake files, wd-signal
#   make install-test                installs into a temporary prefix and builds
#                                    and runs a consumer with pkg-config and CMake
#   make api-docs                    API reference (doxygen) in target/api-docs/

CARGO ?= cargo
PREFIX ?= /usr/local

.PHONY: fuzz-smoke demo test tools lint rust-test c-test examples header install install-test api-docs kotlin-test

demo:
	$(CARGO) run --example quickstart

test: tools lint rust-test fuzz-smoke c-test examples install-test kotlin-test

tools:
	./scripts/setup-tools.sh

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

rust-test:
	CI=$${CI:-} $(CARGO) test --workspace

c-test:
	$(MAKE) -C tests/c test

examples:
	$(MAKE) -C examples/c run
	$(MAKE) -C examples/cpp run

header:
	cbindgen --config cbindgen.toml --crate wilddog-video --output include/wilddog_video.h

install:
	CARGO="$(CARGO)" ./scripts/install.sh "$(PREFIX)"

install-test:
	./scripts/install-test.sh

api-docs:
	./scripts/api-docs.sh

# Kotlin wrapper (JNI) on the JVM against a real wd-signal; needs npm and Java 17.
kotlin-test:
	CARGO="$(CARGO)" ./bindings/kotlin/run-tests.sh

# Every fuzz target for 15 s (cargo-fuzz, installed if missing); see
# docs/SECURITY.md. `scripts/fuzz.sh run TARGET 300` fuzzes one longer.
fuzz-smoke:
	./scripts/fuzz.sh smoke 15
