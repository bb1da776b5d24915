#!/usr/bin/env bash
# get-vault.sh prints the path of a Vault binary, building the pinned release
# from the Go module proxy when none is cached or on PATH.
#
#   VAULT_VERSION  the release to build (default 1.21.0: v1.21.4 does not build this way, its
#                  in-tree sdk matching no published sdk tag; 1.21.0 does)
#   WG_CACHE_DIR   where builds are cached (default ~/.cache/vault-plugin-secrets-wireguard)
#
# A vault already on PATH is used when it is at least the pinned minor version.
set -euo pipefail

version="${VAULT_VERSION:-1.21.0}"
cache="${WG_CACHE_DIR:-${HOME}/.cache/vault-plugin-secrets-wireguard}"
out="${cache}/vault-${version}/vault"

log() { printf 'get-vault: %s\n' "$*" >&2; }

if [[ -x "${out}" ]]; then
  echo "${out}"
  exit 0
fi

if command -v vault >/dev/null 2>&1; then
  have=$(vault version | sed -n 's/^Vault v\([0-9]*\.[0-9]*\).*/\1/p')
  want="${version%.*}"
  if [[ -n "${have}" ]] && [[ "$(printf '%s\n%s\n' "${want}" "${have}" | sort -V | head -1)" == "${want}" ]]; then
    command -v vault
    exit 0
  fi
fi

log "building Vault v${version} from the Go module proxy (about 5 minutes the first time)"
work=$(mktemp -d)
trap 'rm -rf "${work}"' EXIT
cat >"${work}/go.mod" <<MOD
module vaultbuild

go 1.25

require github.com/hashicorp/vault v${version}

replace github.com/99designs/keyring => github.com/Jeffail/keyring v1.2.3

replace github.com/ma314smith/signedxml v1.1.1 => github.com/moov-io/signedxml v1.1.1
MOD
cat >"${work}/main.go" <<'GO'
// Command vault is HashiCorp Vault built from its published module.
package main

import (
	"os"

	"github.com/hashicorp/vault/command"
)

func main() {
	os.Exit(command.Run(os.Args[1:]))
}
GO
(
  cd "${work}"
  GOFLAGS=-mod=mod go mod tidy -e >&2
  mkdir -p "$(dirname "${out}")"
  go build -trimpath -o "${out}.tmp" . >&2
)
mv "${out}.tmp" "${out}"
log "built ${out}"
echo "${out}"
