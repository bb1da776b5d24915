#!/usr/bin/env bash
# gateway.sh (docker-compose service "gateway"): a userspace WireGuard
# interface wg0 with the gateway's tunnel address, kept by wg-gateway.
set -euo pipefail
wireguard-go wg0
ip addr add 10.77.0.1/24 dev wg0
ip link set wg0 up
# The dev Vault makes a new CA each time it starts: forget the CA pinned by an
# earlier run (a real gateway keeps /var/lib/wg-gateway).
rm -rf /var/lib/wg-gateway
exec wg-gateway -gateway gw1 -interface wg0 -private-key-file /shared/gateway.key -listen-port 51820 \
  -role-id-file /shared/gateway-gw1.role-id -secret-id-file /shared/gateway-gw1.secret-id \
  -metrics-addr 0.0.0.0:9586 -instance-id "$(hostname)"
