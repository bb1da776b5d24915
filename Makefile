# vault-plugin-secrets-wireguard

VERSION   ?= v0.1.0
GO        ?= go
LDFLAGS   := -s -w -X main.version=$(VERSION)

.PHONY: all build test test-unit fuzz vault dev clean

all: build

## build: the plugin and the daemons into bin/
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o bin/ ./cmd/...

## vault: build (or find) the pinned Vault and print its path
vault:
	@scripts/get-vault.sh

## test: every test, the end-to-end ones against real Vault, WireGuard and kube-apiserver included
test:
	VAULT_BIN="$$(scripts/get-vault.sh)" KUBE_APISERVER_BIN="$$(scripts/kube-apiserver.sh)" \
		$(GO) test -count=1 -timeout 20m ./...

## test-unit: the tests that need neither Vault nor root
test-unit:
	$(GO) test -count=1 ./backend/...

## fuzz: run each fuzz target for FUZZTIME (the seed corpora run in make test)
FUZZTIME ?= 30s
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzParsePublic$$' -fuzztime $(FUZZTIME) ./backend/wgkey
	$(GO) test -run '^$$' -fuzz '^FuzzRender$$' -fuzztime $(FUZZTIME) ./backend/wgquick
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./backend/wgcert
	$(GO) test -run '^$$' -fuzz '^FuzzVerify$$' -fuzztime $(FUZZTIME) ./backend/wgcert
	$(GO) test -run '^$$' -fuzz '^FuzzRequests$$' -fuzztime $(FUZZTIME) ./backend
	$(GO) test -run '^$$' -fuzz '^FuzzFeed$$' -fuzztime $(FUZZTIME) ./cmd/wg-gateway/gateway

## dev: a Vault dev server with the plugin enabled at wg/, left running
dev: build
	scripts/dev.sh

clean:
	rm -rf bin/ results/

## bench: the performance table P1–P6 (README "Performance"): our engine beside Vault's pki
## engine and wg syncconf on one Vault dev server; needs root (network namespaces,
## wireguard-go, wg). Takes minutes. BENCHFLAGS="-n 2000 -rounds 3" for a shorter run,
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
