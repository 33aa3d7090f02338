# Top-level tasks. `make test` runs every test the project has; it installs
# the tools the tests need first (scripts/setup-tools.sh).

CARGO ?= cargo

.PHONY: demo test tools lint rust-test c-test examples header

demo:
	$(CARGO) run --example quickstart

test: tools lint rust-test c-test examples

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
