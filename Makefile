# weft: see README.md. Targets that build namespaces (test's integration part,
# demo, bench) need root.

GO        ?= go
BIN       := bin
GOLANGCI  := github.com/golangci/golangci-lint/v2/cmd/golangci-lint@v2.15.0
# As root the integration tests must run: a missing tool fails them instead of
# skipping them.
ROOT_ENV  := $(if $(filter 0,$(shell id -u)),WEFT_REQUIRE_ROOT_TESTS=1,)
PREFIX    ?= /usr/local

.PHONY: all build test unit race lint bench bench-quick demo install deps fmt-check vet clean

all: build

build:
	$(GO) build -o $(BIN)/ ./cmd/weftd ./cmd/weft ./cmd/weft-cni

deps:
	@if [ "$$(id -u)" = 0 ]; then ./.ci/deps; else echo "deps: not root; skipping package installs"; fi

# test: formatting, vet, unit tests and (as root) the integration tests.
test: deps fmt-check vet
	$(ROOT_ENV) $(GO) test -count=1 -timeout 20m ./...
	@echo "== the integration tests again, on the portable TAP path (water)"
	WEFT_E2E_WEFTD_ARGS="--tap-driver water" $(ROOT_ENV) $(GO) test -count=1 -timeout 20m ./internal/e2e/

# unit: the tests that need no root, quickly.
unit:
	$(GO) test -short ./...

race: deps
	$(ROOT_ENV) $(GO) test -count=1 -race -timeout 20m ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

lint:
	$(GO) run $(GOLANGCI) run ./...

# bench: Go micro-benchmarks of the per-packet path, then (as root) the
# harness against kernel VXLAN (full run, under ten minutes; BENCH_ARGS=-quick
# for about a minute).
bench: deps build
	$(GO) test -run '^$$' -bench . -benchmem ./encap ./fdb ./vtep ./crypto
	$(GO) run ./bench -bin $(BIN) $(BENCH_ARGS)

# bench-quick: the harness in quick mode; CI runs it and prints its figures
# (never asserted).
bench-quick: deps build
	$(GO) run ./bench -bin $(BIN) -quick

demo: deps build
	$(GO) run ./internal/demo -bin $(BIN)

# install: the binaries, the systemd unit, and the config file unless one is
# there already. DESTDIR stages it all under another root. The unit goes to
# $(PREFIX)/lib/systemd/system, which systemd searches (/usr/local/lib/... for
# an administrator's install, /usr/lib/... with PREFIX=/usr as a package's);
# its ExecStart follows PREFIX and SYSCONFDIR. /etc/netns is where weftd
# writes the containers' resolv.conf files (the unit lets it write there).
SYSCONFDIR ?= /etc
UNITDIR    ?= $(PREFIX)/lib/systemd/system
# CNIDIR is where runtimes look for CNI plugins (Debian's podman and
# containerd: /usr/lib/cni; the upstream default: /opt/cni/bin).
CNIDIR     ?= /opt/cni/bin

install: build
	install -D -m 0755 $(BIN)/weftd $(DESTDIR)$(PREFIX)/bin/weftd
	install -D -m 0755 $(BIN)/weft $(DESTDIR)$(PREFIX)/bin/weft
	install -D -m 0755 $(BIN)/weft-cni $(DESTDIR)$(CNIDIR)/weft
	install -d -m 0755 $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSCONFDIR)/weft $(DESTDIR)/etc/netns
	sed -e 's|/usr/local/bin/weftd|$(PREFIX)/bin/weftd|' \
	    -e 's|/etc/weft/weftd.yaml|$(SYSCONFDIR)/weft/weftd.yaml|' \
	    dist/weftd.service > $(DESTDIR)$(UNITDIR)/weftd.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/weftd.service
	@if [ -e $(DESTDIR)$(SYSCONFDIR)/weft/weftd.yaml ]; then \
	  echo "install: keeping $(DESTDIR)$(SYSCONFDIR)/weft/weftd.yaml (the new defaults are in dist/weftd.yaml)"; \
	else \
	  install -m 0644 dist/weftd.yaml $(DESTDIR)$(SYSCONFDIR)/weft/weftd.yaml; \
	fi

clean:
	rm -rf $(BIN)
