# Top-level tasks. `make test` runs every test the project has; it installs
# the tools the tests need first (scripts/setup-tools.sh).
#
#   make install PREFIX=/usr/local   release build, installs the libraries,
#                                    header, pkg-config + CMake files, wd-signal
#   make install-test                installs into a temporary prefix and builds
#                                    and runs a consumer with pkg-config and CMake
#   make api-docs                    API reference (doxygen) in target/api-docs/
#   make vendor VENDOR=crates.tar.xz offline builds from vendored crates
#                                    (scripts/vendor.sh); make unvendor undoes it
#
# Every cargo build here is --locked: the committed lock files are used as
# they are, never rewritten.

CARGO ?= cargo
PREFIX ?= /usr/local
# A full test run builds once: incremental caches would only take disk
# (several GB). Set CARGO_INCREMENTAL=1 to keep them.
export CARGO_INCREMENTAL ?= 0
VENDOR ?=

.PHONY: fuzz-smoke sygnal-test demo test tools lint rust-test c-test examples header install install-test api-docs kotlin-test swift-test vendor unvendor docs-test

demo:
	$(CARGO) run --locked --example quickstart

test: tools lint rust-test fuzz-smoke c-test examples docs-test install-test kotlin-test swift-test sygnal-test

tools:
	./scripts/setup-tools.sh

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --locked --workspace --all-targets -- -D warnings

rust-test:
	CI=$${CI:-} $(CARGO) test --locked --workspace

c-test:
	$(MAKE) -C tests/c test

examples:
	$(MAKE) -C examples/c run
	$(MAKE) -C examples/cpp run

# Every C and C++ snippet of the README and docs/, compiled and run (C
# under valgrind) against a wd-signal (tests/docs/run-snippets.sh).
docs-test:
	$(CARGO) build --locked -p wilddog-video -p wd-signal
	./tests/docs/run-snippets.sh

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

# Swift wrapper (Swift package) against a real wd-signal: swift test plain,
# under --sanitize=address and --sanitize=thread, and the guide's example.
swift-test:
	CARGO="$(CARGO)" ./bindings/swift/run-tests.sh

# An invite pushed through a real Sygnal (PyPI matrix-sygnal) to a Web
# Push endpoint; says why and skips where Sygnal cannot be installed.
sygnal-test:
	./server/tests/sygnal-e2e.sh

# Every fuzz target for 15 s (cargo-fuzz, installed if missing); see
# docs/SECURITY.md. `scripts/fuzz.sh run TARGET 300` fuzzes one longer.
fuzz-smoke:
	./scripts/fuzz.sh smoke 15

# Offline builds (README, "Building offline"): unpack VENDOR (the crates
# archive, or an unpacked folder of it) under target/ and point this
# checkout's cargo at it; `make unvendor` goes back to the registry.
vendor:
	@test -n "$(VENDOR)" || { echo "usage: make vendor VENDOR=path/to/crates.tar.xz" >&2; exit 2; }
	./scripts/vendor.sh "$(VENDOR)"

unvendor:
	./scripts/vendor.sh --off
