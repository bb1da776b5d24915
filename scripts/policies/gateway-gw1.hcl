# Policy of the wg-gateway daemon for gateway gw1: read its own peer feed and
# report its own status, nothing else. Copy it per gateway, replacing gw1
# (and wg, if the engine is mounted elsewhere). The CA (wg/ca/pem) needs no
# token; renewing its own token is in Vault's default policy.
path "wg/gateways/gw1/peers" {
  capabilities = ["read"]
}

path "wg/gateways/gw1/status" {
  capabilities = ["update"]
}
