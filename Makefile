# vault-plugin-secrets-wireguard

VERSION   ?= v0.1.0
GO        ?= go
LDFLAGS   := -s -w -X main.version=$(VERSION)

.PHONY: all build test test-unit fuzz lint vault dev clean

all: build

## build: the plugin and the daemons into bin/
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o bin/ ./cmd/...

## version: print the version (VERSION, the one place it is written; the binaries report it with -version)
.PHONY: version
version:
	@echo $(VERSION)

## vault: build (or find) the pinned Vault and print its path
vault:
	@scripts/get-vault.sh

## test: every test, the end-to-end ones against real Vault, WireGuard and kube-apiserver included
test:
	VAULT_BIN="$$(scripts/get-vault.sh)" KUBE_APISERVER_BIN="$$(scripts/kube-apiserver.sh)" \
		$(GO) test -count=1 -timeout 20m ./...

## test-unit: the tests that need neither Vault nor root (the engine, its packages and the daemons)
test-unit:
	$(GO) test -count=1 ./backend/... ./cmd/...

## fuzz: run every fuzz target of every package for FUZZTIME each (their seed corpora run in make test)
FUZZTIME ?= 30s
fuzz:
	@set -e; for pkg in $$($(GO) list -f '{{if or .TestGoFiles .XTestGoFiles}}{{.ImportPath}}{{end}}' ./...); do \
		targets=$$($(GO) test -list '^Fuzz' "$$pkg") || { echo "$$targets"; exit 1; }; \
		for target in $$(echo "$$targets" | grep '^Fuzz' || true); do \
			echo "fuzz: $$target in $$pkg"; \
			$(GO) test -run '^$$' -fuzz "^$$target\$$" -fuzztime $(FUZZTIME) "$$pkg"; \
		done; \
	done

## lint: gofmt, go vet, staticcheck (the pinned release, through the Go module proxy) and
## shellcheck on the shell scripts of scripts/ and .ci/; fails on any finding
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2
GOFMT       ?= $(shell $(GO) env GOROOT)/bin/gofmt
lint:
	@unformatted=$$($(GOFMT) -l .) && if [ -n "$$unformatted" ]; then \
		echo "gofmt: not formatted (run gofmt -w):"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...
	@command -v shellcheck >/dev/null || { echo "lint: shellcheck is missing (apt-get install shellcheck)"; exit 1; }
	shellcheck $$(find scripts .ci -type f -exec sh -c 'head -n1 "$$1" | grep -qE "^#!.*[/ ](ba)?sh$$"' _ {} \; -print | sort)

## dev: a Vault dev server with the plugin enabled at wg/, left running
dev: build
	scripts/dev.sh

clean:
	rm -rf bin/ results/

## bench: the performance table P1–P9 (README "Performance"): our engine beside Vault's pki
## engine and wg syncconf on one Vault dev server (P9: 200,000 live certificates on a
## 3-node raft cluster of its own); needs root (network namespaces, wireguard-go, wg).
## Takes minutes. BENCHFLAGS=-quick for a reduced run of every part (under 5 min),
## BENCHFLAGS=-profile for CPU profiles. Raw figures in results/bench-<time>/bench.json.
.PHONY: bench bench-gateway
BENCHFLAGS ?=
bench:
	$(GO) run ./test/bench $(BENCHFLAGS)

## bench-gateway: the gateway figures alone (P3 revocation to enforcement, P4 cold start)
bench-gateway:
	$(GO) run ./test/bench -only P3,P4 $(BENCHFLAGS)

## demo: the main job in one command (root): Vault, a gateway and a device in network
## namespaces with wireguard-go; the device pings through the tunnel, `vault lease revoke`
## cuts it off, the gateway's status shows it enforced. DEMO_NONINTERACTIVE=1 for no pauses.
.PHONY: demo kube-apiserver
demo:
	scripts/demo.sh

## kube-apiserver: build (or find) the pinned kube-apiserver for the Kubernetes tests and print its path
kube-apiserver:
	@scripts/kube-apiserver.sh
