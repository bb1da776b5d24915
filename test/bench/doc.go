// Command bench is the performance harness behind `make bench` and
// `make bench-gateway`: it starts one real Vault dev server with the
// WireGuard secrets engine and Vault's builtin pki engine mounted side by
// side, drives both over the HTTP API with a fixed number of concurrent
// clients, runs wg-gateway against wireguard-go interfaces in network
// namespaces it creates, and prints one table of medians and ratios
// (P1–P7 of the benchmark issue; P8, access policy, from issue 13). Raw
// figures go to results/ as JSON.
//
//	go run ./test/bench                    # everything (as root)
//	go run ./test/bench -only P3,P4        # the gateway figures
//	go run ./test/bench -only P8 -quick    # access policy, reduced sizes
//	go run ./test/bench -only P1 -n 2000   # smaller, faster
//	go run ./test/bench -profile -only P1,P2,P4   # CPU profiles instead of the table's binaries
//
// It needs root (network namespaces), wireguard-go, wireguard-tools (wg) and
// iproute2. All traffic stays on loopback and in the namespaces it creates;
// every process and namespace it starts is removed on exit and on Ctrl-C.
package main
