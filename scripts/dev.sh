#!/usr/bin/env bash
# dev.sh starts a Vault dev server with the WireGuard plugin registered and
# enabled at wg/, an example CA, gateway and role, and leaves it running
# until Ctrl-C. Run `make build` first (make dev does).
#
#   VAULT_DEV_ADDR   listen address (default 127.0.0.1:8200)
#   VAULT_BIN        a vault binary to use instead of scripts/get-vault.sh
#
# Ctrl-C (or SIGTERM) stops Vault, which stops the plugin, and removes the
# server's directory.
set -euo pipefail
cd "$(dirname "$0")/.."

addr="${VAULT_DEV_ADDR:-127.0.0.1:8200}"
vault=${VAULT_BIN:-$(scripts/get-vault.sh)}
plugin=bin/vault-plugin-secrets-wireguard
[[ -x "${plugin}" ]] || { echo "dev: ${plugin} missing: run make build" >&2; exit 1; }
# The version the binary reports (the Makefile's VERSION, set at build time).
version=$("${plugin}" -version | cut -d" " -f2)

# Vault's dev mode registers every file of its plugin directory, so the
# plugin gets a directory of its own and the log stays beside it.
work=$(mktemp -d)
mkdir "${work}/plugins"
cp "${plugin}" "${work}/plugins/"
pid=
# stop_vault stops Vault with SIGTERM, so that it stops its plugin process
# (SIGKILL would leave it running), waiting up to 30 s.
stop_vault() {
  [[ -n "${pid}" ]] || return 0
  kill "${pid}" 2>/dev/null || return 0
  for _ in $(seq 300); do
    kill -0 "${pid}" 2>/dev/null || break
    sleep 0.1
  done
  kill -9 "${pid}" 2>/dev/null || true
  wait "${pid}" 2>/dev/null || true
}
trap 'stop_vault; rm -rf "${work}"' EXIT
trap 'exit 130' INT TERM

"${vault}" server -dev -dev-root-token-id=root -dev-listen-address="${addr}" \
  -dev-plugin-dir="${work}/plugins" >"${work}/vault.log" 2>&1 &
pid=$!

export VAULT_ADDR="http://${addr}" VAULT_TOKEN=root
for _ in $(seq 100); do
  "${vault}" status >/dev/null 2>&1 && break
  kill -0 "${pid}" 2>/dev/null || { cat "${work}/vault.log" >&2; exit 1; }
  sleep 0.2
done

sha=$(sha256sum "${plugin}" | cut -d' ' -f1)
"${vault}" plugin register -sha256="${sha}" -version="${version}" \
  -command=vault-plugin-secrets-wireguard secret vault-plugin-secrets-wireguard
"${vault}" secrets enable -path=wg -plugin-version="${version}" \
  -audit-non-hmac-response-keys=serial_number vault-plugin-secrets-wireguard
"${vault}" write -field=common_name wg/config/ca key_type=ed25519 common_name="Example WireGuard CA" >/dev/null
# A gateway key for the example (the raw X25519 public key, as wg pubkey prints it).
if command -v wg >/dev/null; then
  gwkey=$(wg genkey | wg pubkey)
else
  gwkey=$(openssl genpkey -algorithm X25519 | openssl pkey -pubout -outform DER | tail -c 32 | base64)
fi
"${vault}" write wg/gateways/gw1 endpoint=198.51.100.1:51820 public_key="${gwkey}" \
  address=10.77.0.1,fd77::1 address_pool=10.77.0.0/16,fd77::/64
"${vault}" write wg/roles/laptop gateway=gw1 ttl=8h max_ttl=24h

cat <<MSG

Vault ${version} plugin enabled at wg/ on ${VAULT_ADDR} (root token: root).
An example CA, gateway gw1 and role laptop are configured. Try:

  export VAULT_ADDR=${VAULT_ADDR} VAULT_TOKEN=root
  ${vault} write wg/issue/laptop public_key=\$(wg genkey | wg pubkey)
  ${vault} read wg/gateways/gw1/peers

Server log: ${work}/vault.log. Ctrl-C stops the server.
MSG
wait "${pid}"
