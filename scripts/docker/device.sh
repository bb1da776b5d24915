#!/usr/bin/env bash
# device.sh (docker-compose service "device"): a userspace WireGuard
# interface wg0 that wg-device configures and keeps rotating. Try:
#   docker compose exec device ping 10.77.0.1
set -euo pipefail
wireguard-go wg0
exec wg-device run -role laptop -interface wg0 \
  -role-id-file /shared/laptop.role-id -secret-id-file /shared/laptop.secret-id
