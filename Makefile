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

## test: every test, the end-to-end ones against real Vault included
test:
	VAULT_BIN="$$(scripts/get-vault.sh)" $(GO) test -count=1 -timeout 20m ./...

## test-unit: the tests that need neither Vault nor root
test-unit:
	$(GO) test -count=1 ./backend/...

## fuzz: run each fuzz target for FUZZTIME (the seed corpora run in make test)
FUZZTIME ?= 30s
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzParsePublic$$' -fuzztime $(FUZZTIME) ./backend/wgkey
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./backend/wgcert
	$(GO) test -run '^$$' -fuzz '^FuzzVerify$$' -fuzztime $(FUZZTIME) ./backend/wgcert
	$(GO) test -run '^$$' -fuzz '^FuzzRequests$$' -fuzztime $(FUZZTIME) ./backend
	$(GO) test -run '^$$' -fuzz '^FuzzFeed$$' -fuzztime $(FUZZTIME) ./cmd/wg-gateway/gateway

## dev: a Vault dev server with the plugin enabled at wg/, left running
dev: build
	scripts/dev.sh

clean:
	rm -rf bin/ results/
