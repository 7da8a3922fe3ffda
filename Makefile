# The targets a newcomer guesses. `make demo` runs hostnet on the example fleet; `make test` installs
# the real tools the tests need (Debian packages, pykickstart) and runs every test.

CARGO ?= cargo
HOSTNET := target/release/hostnet
OUT ?= out

.PHONY: all build test test-deps lint fmt bench demo install clean

all: build

build:
	$(CARGO) build --release --locked

test-deps:
	scripts/install-test-deps.sh

test: test-deps
	$(CARGO) test --locked

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --locked --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

bench:
	$(CARGO) bench --locked --bench pipeline

demo: build
	$(HOSTNET) --hosts hosts check
	$(HOSTNET) --hosts hosts render --all --out $(OUT)/render
	@echo "demo: rendered files for every host are in $(OUT)/render/<host>/"

install: build
	install -D -m 0755 $(HOSTNET) $(DESTDIR)/usr/local/bin/hostnet
	install -d $(DESTDIR)/usr/local/share/man/man1
	$(HOSTNET) man > $(DESTDIR)/usr/local/share/man/man1/hostnet.1
	install -d $(DESTDIR)/usr/local/share/bash-completion/completions
	$(HOSTNET) completions bash > $(DESTDIR)/usr/local/share/bash-completion/completions/hostnet

clean:
	$(CARGO) clean
	rm -rf $(OUT)
