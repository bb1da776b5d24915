#!/usr/bin/env bash
# kube-apiserver.sh prints the path of a kube-apiserver binary, building the
# pinned release from the Go module proxy when none is cached.
#
#   KUBE_VERSION   the release to build (default 1.34.2, a release known to build this way)
#   WG_CACHE_DIR   where builds are cached (default ~/.cache/vault-plugin-secrets-wireguard)
#
# k8s.io/kubernetes is not meant to be imported: its go.mod replaces every
# k8s.io/X staging module with ./staging/src/k8s.io/X. The build module below
# maps each of those replaces to the published k8s.io/X v0.<minor>.<patch>,
# read from the release's own go.mod so that the list never goes stale.
# About 3 minutes the first time.
set -euo pipefail

version="${KUBE_VERSION:-1.34.2}"
cache="${WG_CACHE_DIR:-${HOME}/.cache/vault-plugin-secrets-wireguard}"
out="${cache}/kube-apiserver-v${version}/kube-apiserver"
staging="v0.${version#*.}" # 1.34.2 -> v0.34.2

log() { printf 'kube-apiserver: %s\n' "$*" >&2; }

if [[ -x "${out}" ]]; then
  echo "${out}"
  exit 0
fi

log "building kube-apiserver v${version} from the Go module proxy (about 3 minutes the first time)"
work=$(mktemp -d)
trap 'rm -rf "${work}"' EXIT

# The release's go.mod, for its list of staging modules.
gomod=$(cd "${work}" && GOFLAGS=-mod=mod go mod download -json "k8s.io/kubernetes@v${version}" |
  sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')
[[ -r "${gomod}" ]] || { log "cannot read the go.mod of k8s.io/kubernetes v${version}"; exit 1; }
replaces=$(sed -n 's#^[[:space:]]*\(k8s\.io/[^[:space:]]*\) => \./staging/src/k8s\.io/.*#replace \1 => \1 '"${staging}"'#p' "${gomod}")
[[ -n "${replaces}" ]] || { log "no staging replaces found in ${gomod}"; exit 1; }

cat >"${work}/go.mod" <<MOD
module kubeapiserverbuild

go 1.25

require k8s.io/kubernetes v${version}

${replaces}
MOD
cat >"${work}/main.go" <<'GO'
// Command kube-apiserver is the Kubernetes API server built from its published module.
package main

import (
	"os"

	"k8s.io/component-base/cli"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
)

func main() {
	os.Exit(cli.Run(app.NewAPIServerCommand()))
}
GO
(
  cd "${work}"
  GOFLAGS=-mod=mod go mod tidy -e >&2
  mkdir -p "$(dirname "${out}")"
  CGO_ENABLED=0 go build -trimpath -o "${out}.tmp" . >&2
)
mv "${out}.tmp" "${out}"
log "built ${out}"
echo "${out}"
