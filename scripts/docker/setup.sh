#!/usr/bin/env bash
# setup.sh (docker-compose service "setup", run once): registers and enables
# the plugin in the dev Vault, configures a CA, gateway gw1 and role laptop,
# and writes AppRole credentials for the gateway and the device to /shared.
set -euo pipefail
export VAULT_ADDR=${VAULT_ADDR:-http://vault:8200} VAULT_TOKEN=${VAULT_TOKEN:-root}
version=${PLUGIN_VERSION:-$(vault-plugin-secrets-wireguard -version | cut -d" " -f2)}

until vault status >/dev/null 2>&1; do sleep 0.5; done

if ! vault secrets list | grep -q '^wg/'; then
  sha=$(sha256sum /usr/local/bin/vault-plugin-secrets-wireguard | cut -d' ' -f1)
  vault plugin register -sha256="${sha}" -version="${version}" \
    -command=vault-plugin-secrets-wireguard secret vault-plugin-secrets-wireguard
  vault secrets enable -path=wg -plugin-version="${version}" \
    -audit-non-hmac-response-keys=serial_number vault-plugin-secrets-wireguard
  vault write wg/config/ca key_type=ed25519 common_name="Compose WireGuard CA" >/dev/null
  vault auth enable approle
fi

[[ -s /shared/gateway.key ]] || (umask 077 && wg genkey >/shared/gateway.key)
vault write wg/gateways/gw1 endpoint=gateway:51820 public_key="$(wg pubkey </shared/gateway.key)" \
  address=10.77.0.1 address_pool=10.77.0.0/24
accessor=$(vault read -field=accessor sys/auth/approle)
vault write wg/roles/laptop gateway=gw1 ttl=1h \
  common_name_template="{{identity.entity.aliases.${accessor}.metadata.role_name}}"

vault policy write gateway-gw1 /etc/wg-demo/policies/gateway-gw1.hcl
vault policy write device-laptop /etc/wg-demo/policies/device-laptop.hcl
vault write auth/approle/role/gateway-gw1 token_policies=gateway-gw1 token_ttl=1h
vault write auth/approle/role/laptop token_policies=device-laptop token_ttl=2h
umask 077
for role in gateway-gw1 laptop; do
  vault read -field=role_id "auth/approle/role/${role}/role-id" >"/shared/${role}.role-id"
  vault write -f -field=secret_id "auth/approle/role/${role}/secret-id" >"/shared/${role}.secret-id"
done
echo "setup: Vault configured; credentials in /shared"
