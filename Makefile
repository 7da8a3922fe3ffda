# The targets a newcomer guesses. `make demo` runs hostnet on the example fleet; `make test` installs
# the real tools the tests need (Debian packages, pykickstart) and runs every test.

CARGO ?= cargo
HOSTNET := target/release/hostnet
OUT ?= out

.PHONY: all build test test-deps lint fmt bench fuzz demo install clean

all: build

build:
	$(CARGO) build --release --locked

test-deps:
	scripts/install-test-deps.sh

test: test-deps
	$(CARGO) test --locked --lib --bins --tests

# The fuzz targets (tests/fuzz.rs) for longer than `make test`'s bounded run; a failure is kept in
# tests/fuzz.proptest-regressions, to commit with its fix.
FUZZ_CASES ?= 20000
fuzz: test-deps
	HOSTNET_FUZZ_CASES=$(FUZZ_CASES) $(CARGO) test --locked --test fuzz

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --locked --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

bench:
	scripts/install-test-deps.sh --bench
	$(CARGO) bench --locked --bench pipeline

# The demo writes into a directory of its own, signed with a throwaway key made once: never into
# out/, where real builds (signed with the real key) live. Real builds pass --key or
# HOSTNET_SIGNING_KEY.
DEMO_OUT ?= demo
DEMO_KEY := $(DEMO_OUT)/demo-key/hostnet-demo-signing-key.asc
# Reproducible: the last commit's time, as a CI pipeline would use.
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 1700000000)
export SOURCE_DATE_EPOCH

# The demo runs the dev-profile binary (dependencies optimised, see Cargo.toml), the build `make
# test` reuses: a first `make demo` then `make test` compiles the dependency tree once, not twice.
DEMO_HOSTNET := target/debug/hostnet

demo:
	$(CARGO) build --locked
	$(DEMO_HOSTNET) --hosts hosts check
	$(DEMO_HOSTNET) --hosts hosts render --all --out $(DEMO_OUT)/render
	@test -f $(DEMO_KEY) || $(DEMO_HOSTNET) keygen --uid "hostnet demo (throwaway) <demo@example.com>" --bits 2048 \
		--secret-key $(DEMO_KEY) --public-key $(DEMO_OUT)/demo-key/RPM-GPG-KEY-hostnet-demo
	$(DEMO_HOSTNET) --hosts hosts build --key $(DEMO_KEY) --out $(DEMO_OUT)
	@echo "demo: rendered files in $(DEMO_OUT)/render/<host>/, signed packages and repodata in $(DEMO_OUT)/repo/,"
	@echo "      kickstarts in $(DEMO_OUT)/kickstart/, PXE entries in $(DEMO_OUT)/pxe/ (signed with a throwaway key)"
	@echo "      the binary: $(DEMO_HOSTNET) (make install puts a release build in /usr/local/bin)"

install: build
	install -D -m 0755 $(HOSTNET) $(DESTDIR)/usr/local/bin/hostnet
	$(HOSTNET) man --out-dir $(DESTDIR)/usr/local/share/man/man1
	install -d $(DESTDIR)/usr/local/share/bash-completion/completions
	$(HOSTNET) completions bash > $(DESTDIR)/usr/local/share/bash-completion/completions/hostnet

clean:
	$(CARGO) clean
	rm -rf $(OUT) $(DEMO_OUT)
