#!/usr/bin/env bash
# demo.sh shows the project's main job on one machine: a device gets onto a
# WireGuard gateway with a certificate from Vault, and revoking the
# certificate's lease cuts it off. The device's role lets it reach one server
# behind the gateway and not another: the gateway enforces the rules signed
# into the certificate with nftables.
#
# It gets Vault (scripts/get-vault.sh), builds everything (make build),
# starts a Vault dev server with the plugin, and puts a gateway, a device and
# two servers (one namespace) in network namespaces of their own, the first two each with a userspace WireGuard
# interface (wireguard-go). wg-gateway and wg-device log in with AppRole.
# Everything is removed on exit, Ctrl-C included; it can run again at once.
#
# Needs root, Go, and Debian's iproute2, wireguard-go, wireguard-tools,
# iputils-ping (installed with apt-get when missing).
#
#   DEMO_NONINTERACTIVE=1  (or -y) no pauses; every step is still checked,
#                          and the first failure exits non-zero (CI runs this)
#   DEMO_VAULT_PORT        Vault's port (default 8200)
#   DEMO_SKIP_BUILD=1      use bin/ as it is
#   VAULT_BIN              a vault binary to use instead of scripts/get-vault.sh
set -euo pipefail
cd "$(dirname "$0")/.."

interactive=1
[[ "${DEMO_NONINTERACTIVE:-}" == 1 || "${1:-}" == "-y" || "${1:-}" == "--non-interactive" ]] && interactive=0
[[ -t 0 ]] || interactive=0

# Names and addresses. The namespaces hold everything; only the uplinks
# (the device's and the gateway daemon's ways to Vault) have an end in the
# root namespace.
readonly p=wgdemo
readonly gw_ns=${p}-gw dev_ns=${p}-dev srv_ns=${p}-srv
readonly gw_if=${p}-gw0 dev_if=${p}-dev0
readonly uplink_root=${p}-up0 uplink_dev=${p}-up1
readonly vault_ip=10.251.77.1 uplink_dev_ip=10.251.77.2
readonly gw_uplink_root=${p}-up2 gw_uplink=${p}-up3
readonly gw_uplink_root_ip=10.251.78.1 gw_uplink_ip=10.251.78.2
readonly server1=10.20.0.2 server2=10.30.0.2
readonly gw_underlay=10.250.77.1 dev_underlay=10.250.77.2
readonly gw_tunnel_ip=10.77.0.1 pool=10.77.0.0/24
readonly vault_port=${DEMO_VAULT_PORT:-8200}
readonly version=${VERSION:-$(make -s --no-print-directory version)}
readonly state=/run/${p}.pids

bold=$'\e[1m' green=$'\e[32m' red=$'\e[31m' dim=$'\e[2m' off=$'\e[0m'
[[ -t 1 ]] || { bold='' green='' red='' dim='' off=''; }

step=0
say() { step=$((step + 1)); printf '\n%s== %d. %s%s\n' "${bold}" "${step}" "$*" "${off}"; }
note() { printf '   %s\n' "$*"; }
ok() { printf '   %s✔ %s%s\n' "${green}" "$*" "${off}"; }
die() { printf '\n%s✘ %s%s\n' "${red}" "$*" "${off}" >&2; exit 1; }
run() { printf '   %s$ %s%s\n' "${dim}" "$*" "${off}"; "$@" 2>&1 | sed 's/^/     /'; return "${PIPESTATUS[0]}"; }
pause() { if ((interactive)); then read -r -p "   (Enter to go on) " _ || true; fi; }
# until_ok TIMEOUT CMD...: retry CMD every 0.2 s for up to TIMEOUT seconds.
# CMD runs in a subshell: redirecting a function called in this shell would
# redirect this shell's own output, and a Ctrl-C meanwhile would send the
# clean-up's messages to /dev/null.
until_ok() {
  local deadline=$((SECONDS + $1)); shift
  until ("$@") >/dev/null 2>&1; do
    ((SECONDS < deadline)) || return 1
    sleep 0.2
  done
}
in_dev() { ip netns exec "${dev_ns}" "$@"; }

# cleanup removes everything the demo made, including what an earlier run
# that was killed left behind (its processes are listed in ${state}).
cleanup() {
  local pid
  if [[ -f "${state}" ]]; then
    local pids alive i
    mapfile -t pids <"${state}"
    kill "${pids[@]}" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do # up to 5 s to stop cleanly
      alive=0
      for pid in "${pids[@]}"; do kill -0 "${pid}" 2>/dev/null && alive=1; done
      ((alive)) || break
      sleep 0.1
    done
    kill -9 "${pids[@]}" 2>/dev/null || true
    rm -f "${state}"
  fi
  ip netns del "${gw_ns}" 2>/dev/null || true
  ip netns del "${dev_ns}" 2>/dev/null || true
  ip netns del "${srv_ns}" 2>/dev/null || true
  ip link del "${uplink_root}" 2>/dev/null || true
  ip link del "${gw_uplink_root}" 2>/dev/null || true
  rm -f "/var/run/wireguard/${gw_if}.sock" "/var/run/wireguard/${dev_if}.sock"
  [[ -n "${work:-}" ]] && rm -rf "${work}"
  return 0
}
# background NAME CMD...: start CMD in the background, its output in
# $work/NAME.log, and remember its pid for cleanup.
background() {
  local name=$1; shift
  "$@" >"${work}/${name}.log" 2>&1 &
  echo $! >>"${state}"
  disown $! # no job-control chatter when cleanup stops it
}
on_exit() {
  local rc=$?
  trap - EXIT INT TERM
  if ((rc != 0)) && [[ -n "${work:-}" ]]; then
    for log in "${work}"/*.log; do
      [[ -f "${log}" ]] || continue
      printf '\n%s--- %s (last lines) ---%s\n' "${dim}" "$(basename "${log}")" "${off}" >&2
      tail -n 15 "${log}" >&2
    done
  fi
  printf '\n%sCleaning up: processes, namespaces, interfaces, files.%s\n' "${dim}" "${off}"
  cleanup
  exit "${rc}"
}

# --- 0. what the demo needs ---------------------------------------------------
((EUID == 0)) || die "run as root: the demo creates network namespaces and WireGuard interfaces"
missing=()
for pair in ip:iproute2 wireguard-go:wireguard-go wg:wireguard-tools ping:iputils-ping; do
  command -v "${pair%%:*}" >/dev/null || missing+=("${pair#*:}")
done
if ((${#missing[@]})); then
  command -v apt-get >/dev/null || die "missing: ${missing[*]}"
  echo "Installing ${missing[*]} (apt-get)"
  # A fresh system (a container) has empty package lists.
  apt-get update -qq >/dev/null || die "apt-get update failed"
  apt-get install -y "${missing[@]}" >/dev/null || die "apt-get install ${missing[*]} failed"
fi
[[ -c /dev/net/tun ]] || die "no /dev/net/tun: wireguard-go needs it"
command -v go >/dev/null || [[ "${DEMO_SKIP_BUILD:-}" == 1 ]] || die "Go is needed to build (https://go.dev/dl/)"

cleanup # whatever an interrupted run left
work=$(mktemp -d /tmp/${p}.XXXXXX)
trap on_exit EXIT
trap 'exit 130' INT TERM

say "Getting Vault and building the plugin and the daemons"
vault=${VAULT_BIN:-$(scripts/get-vault.sh)}
note "vault: ${vault}"
if [[ "${DEMO_SKIP_BUILD:-}" != 1 ]]; then
  run make --no-print-directory build VERSION="${version}" || die "make build failed"
fi
for b in vault-plugin-secrets-wireguard wg-gateway wg-device; do
  [[ -x bin/${b} ]] || die "bin/${b} is missing: run make build"
done
ok "bin/vault-plugin-secrets-wireguard, bin/wg-gateway, bin/wg-device"

say "Network namespaces: a gateway and a device, each with a WireGuard interface, and two servers"
ip netns add "${gw_ns}"
ip netns add "${dev_ns}"
ip netns add "${srv_ns}"
ip -n "${gw_ns}" link set lo up
ip -n "${dev_ns}" link set lo up
ip -n "${srv_ns}" link set lo up
# The underlay between them, where WireGuard's UDP flows.
ip link add "${p}-v0" netns "${gw_ns}" type veth peer name "${p}-v1" netns "${dev_ns}"
ip -n "${gw_ns}" addr add "${gw_underlay}/24" dev "${p}-v0"
ip -n "${dev_ns}" addr add "${dev_underlay}/24" dev "${p}-v1"
ip -n "${gw_ns}" link set "${p}-v0" up
ip -n "${dev_ns}" link set "${p}-v1" up
# The device's uplink to Vault (the gateway daemon runs in the root namespace).
ip link add "${uplink_root}" type veth peer name "${uplink_dev}" netns "${dev_ns}"
ip addr add "${vault_ip}/30" dev "${uplink_root}"
ip link set "${uplink_root}" up
ip -n "${dev_ns}" addr add "${uplink_dev_ip}/30" dev "${uplink_dev}"
ip -n "${dev_ns}" link set "${uplink_dev}" up
# The gateway daemon runs in the gateway's namespace (it programs that
# namespace's firewall) and reaches Vault through an uplink of its own.
ip link add "${gw_uplink_root}" type veth peer name "${gw_uplink}" netns "${gw_ns}"
ip addr add "${gw_uplink_root_ip}/30" dev "${gw_uplink_root}"
ip link set "${gw_uplink_root}" up
ip -n "${gw_ns}" addr add "${gw_uplink_ip}/30" dev "${gw_uplink}"
ip -n "${gw_ns}" link set "${gw_uplink}" up
ip -n "${gw_ns}" route add "${vault_ip}/32" via "${gw_uplink_root_ip}"
# Behind the gateway, which forwards: server 1 (10.20.0.0/24) and server 2
# (10.30.0.0/24), two addresses of one namespace; ping answers on both.
ip link add "${p}-v2" netns "${gw_ns}" type veth peer name "${p}-v3" netns "${srv_ns}"
ip -n "${gw_ns}" addr add 10.20.0.1/24 dev "${p}-v2"
ip -n "${gw_ns}" addr add 10.30.0.1/24 dev "${p}-v2"
ip -n "${srv_ns}" addr add "${server1}/24" dev "${p}-v3"
ip -n "${srv_ns}" addr add "${server2}/24" dev "${p}-v3"
ip -n "${gw_ns}" link set "${p}-v2" up
ip -n "${srv_ns}" link set "${p}-v3" up
ip -n "${srv_ns}" route add default via 10.20.0.1
ip netns exec "${gw_ns}" sysctl -q -w net.ipv4.ip_forward=1
# Userspace WireGuard (no kernel module needed).
background wireguard-go-gw env WG_PROCESS_FOREGROUND=1 ip netns exec "${gw_ns}" wireguard-go "${gw_if}"
background wireguard-go-dev env WG_PROCESS_FOREGROUND=1 ip netns exec "${dev_ns}" wireguard-go "${dev_if}"
until_ok 10 test -S "/var/run/wireguard/${gw_if}.sock" || die "wireguard-go did not start ${gw_if}"
until_ok 10 test -S "/var/run/wireguard/${dev_if}.sock" || die "wireguard-go did not start ${dev_if}"
ip -n "${gw_ns}" addr add "${gw_tunnel_ip}/24" dev "${gw_if}"
ip -n "${gw_ns}" link set "${gw_if}" up
# Made 0600 from the start (wg genkey warns of a file others could read).
(umask 077 && wg genkey >"${work}/gateway.key")
gw_pub=$(wg pubkey <"${work}/gateway.key")
note "gateway ${gw_ns}: ${gw_if} ${gw_tunnel_ip}/24, UDP ${gw_underlay}:51820"
note "device  ${dev_ns}: ${dev_if}, no key, no address, no peer: wg-device will set them"
note "servers ${srv_ns}: server 1 ${server1}, server 2 ${server2}, behind the gateway"
ok "namespaces and interfaces are up"
pause

say "A Vault dev server with the WireGuard secrets engine at wg/"
mkdir -p "${work}/plugins"
cp bin/vault-plugin-secrets-wireguard "${work}/plugins/"
background vault "${vault}" server -dev -dev-root-token-id=root \
  -dev-listen-address="${vault_ip}:${vault_port}" -dev-plugin-dir="${work}/plugins"
export VAULT_ADDR="http://${vault_ip}:${vault_port}" VAULT_TOKEN=root
until_ok 30 "${vault}" status || die "Vault did not come up on ${VAULT_ADDR}"
sha=$(sha256sum bin/vault-plugin-secrets-wireguard | cut -d' ' -f1)
run "${vault}" plugin register -sha256="${sha}" -version="${version}" \
  -command=vault-plugin-secrets-wireguard secret vault-plugin-secrets-wireguard
run "${vault}" secrets enable -path=wg -plugin-version="${version}" \
  -audit-non-hmac-response-keys=serial_number vault-plugin-secrets-wireguard
"${vault}" write wg/config/ca key_type=ed25519 common_name="Demo WireGuard CA" >/dev/null
note "generated the mount's CA: vault write wg/config/ca key_type=ed25519 common_name=\"Demo WireGuard CA\""
run "${vault}" write wg/gateways/gw1 endpoint="${gw_underlay}:51820" public_key="${gw_pub}" \
  address="${gw_tunnel_ip}" address_pool="${pool}"
ok "Vault at ${VAULT_ADDR} (root token: root); CA and gateway gw1"
pause

say "AppRoles: the gateway may read its peer feed, the device may issue on role laptop"
run "${vault}" auth enable approle
# Certificates on role laptop are named after the AppRole the device logged in with.
accessor=$("${vault}" read -field=accessor sys/auth/approle)
# Its devices may reach the gateway and server 1's subnet, and nothing else;
# their tunnel carries server 2's subnet too, to show the gateway refusing it.
run "${vault}" write wg/roles/laptop gateway=gw1 ttl=1h \
  common_name_template="{{identity.entity.aliases.${accessor}.metadata.role_name}}" \
  allowed_destinations="${gw_tunnel_ip}/32,10.20.0.0/24" allowed_ips="${pool},10.20.0.0/24,10.30.0.0/24"
run "${vault}" policy write gateway-gw1 scripts/policies/gateway-gw1.hcl
run "${vault}" policy write device-laptop scripts/policies/device-laptop.hcl
run "${vault}" write auth/approle/role/gateway-gw1 token_policies=gateway-gw1 token_ttl=1h
run "${vault}" write auth/approle/role/laptop token_policies=device-laptop token_ttl=2h
for role in gateway-gw1 laptop; do
  "${vault}" read -field=role_id "auth/approle/role/${role}/role-id" >"${work}/${role}.role-id"
done
"${vault}" write -f -field=secret_id auth/approle/role/gateway-gw1/secret-id >"${work}/gateway-gw1.secret-id"
# The device's secret id is handed over response-wrapped, as a provisioning
# system would: only wg-device can unwrap it, once.
"${vault}" write -f -wrap-ttl=5m -field=wrapping_token auth/approle/role/laptop/secret-id >"${work}/laptop.secret-id"
chmod 600 "${work}"/*.role-id "${work}"/*.secret-id
ok "credentials in ${work} (the device's secret id response-wrapped)"

say "wg-gateway: keeps ${gw_if} equal to the certified, unrevoked peers of gw1"
background wg-gateway env VAULT_TOKEN= ip netns exec "${gw_ns}" bin/wg-gateway -gateway gw1 -interface "${gw_if}" \
  -private-key-file "${work}/gateway.key" -listen-port 51820 \
  -role-id-file "${work}/gateway-gw1.role-id" -secret-id-file "${work}/gateway-gw1.secret-id" \
  -metrics-addr "" -instance-id demo-gateway -state-dir "${work}"
gateway_reported() { "${vault}" read -field=instances wg/gateways/gw1/status | grep -q demo-gateway; }
until_ok 20 gateway_reported || die "wg-gateway never reported to wg/gateways/gw1/status"
ok "wg-gateway is running and reporting to wg/gateways/gw1/status"

say "wg-device (in the device's namespace): makes its key, gets a certificate, configures ${dev_if}"
note "the private key never leaves the device: Vault sees the public key only"
background wg-device env VAULT_TOKEN= VAULT_ADDR="${VAULT_ADDR}" ip netns exec "${dev_ns}" bin/wg-device run \
  -role laptop -interface "${dev_if}" \
  -role-id-file "${work}/laptop.role-id" -secret-id-file "${work}/laptop.secret-id"
device_has_address() { ip -n "${dev_ns}" -4 addr show dev "${dev_if}" | grep -q "inet 10\.77\."; }
until_ok 30 device_has_address || die "wg-device did not configure ${dev_if}"
note "wg-device: $(grep -m1 "certificate issued" "${work}/wg-device.log" | sed 's/^.*certificate issued: //')"
run ip -n "${dev_ns}" -brief addr show dev "${dev_if}"
run wg show "${gw_if}"
ok "the gateway has the device as its peer"
pause

say "The device pings the gateway through the tunnel"
until_ok 20 in_dev ping -c 1 -W 1 "${gw_tunnel_ip}" || die "no ping through the tunnel"
run ip netns exec "${dev_ns}" ping -c 3 -i 0.3 "${gw_tunnel_ip}" || die "ping through the tunnel failed"
ok "ping ${gw_tunnel_ip} from the device: through WireGuard, on a certificate"
until_ok 20 in_dev ping -c 1 -W 1 "${server1}" || die "no ping to server 1"
run ip netns exec "${dev_ns}" ping -c 2 -i 0.3 "${server1}" || die "ping to server 1 failed"
ok "ping ${server1} (server 1): its subnet is in the role's allowed_destinations"
if (in_dev ping -c 2 -W 1 "${server2}") >/dev/null 2>&1; then
  die "the device reaches server 2, which its certificate does not allow"
fi
ok "ping ${server2} (server 2) goes unanswered: the gateway drops what the certificate does not allow"
if command -v nft >/dev/null; then
  run ip netns exec "${gw_ns}" nft list table inet "wg_gateway_${gw_if//-/_}"
fi
pause

say "An operator revokes the device's certificate lease"
lease=$("${vault}" list -format=json sys/leases/lookup/wg/issue/laptop/ | grep -o '"[^"]*"' | tr -d '"' | head -n 1)
[[ -n "${lease}" ]] || die "no lease under wg/issue/laptop/"
revoked_at=$(date +%s%N)
run "${vault}" lease revoke "wg/issue/laptop/${lease}" || die "vault lease revoke failed"
peer_gone() { [[ -z "$(wg show "${gw_if}" peers)" ]]; }
until_ok 10 peer_gone || die "the device is still a peer of the gateway"
ms=$((($(date +%s%N) - revoked_at) / 1000000))
ok "the gateway dropped the device ${ms} ms after \`vault lease revoke\` started"
run wg show "${gw_if}"
if (in_dev ping -c 2 -W 1 "${gw_tunnel_ip}") >/dev/null 2>&1; then
  die "the device can still reach the gateway"
fi
if (in_dev ping -c 2 -W 1 "${server1}") >/dev/null 2>&1; then
  die "the device can still reach server 1"
fi
ok "the device's pings go unanswered: it is cut off"
note "(wg-device keeps its credentials; to keep a device out for good, also destroy its secret id)"
pause

say "The gateway's status shows the revocation enforced"
run "${vault}" read wg/gateways/gw1/status
[[ "$("${vault}" read -field=enforced wg/gateways/gw1/status)" == true ]] || die "status does not show enforced=true"
[[ "$("${vault}" read -field=live_peers wg/gateways/gw1/status)" == 0 ]] || die "status shows live peers"
ok "enforced=true: every gateway instance has applied the current revision; no live peers"

printf '\n%sDemo complete.%s Logs were in %s; everything is being removed now.\n' "${bold}" "${off}" "${work}"
