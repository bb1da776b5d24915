// Package harness starts the real components the end-to-end tests and the
// benchmark run against: Vault in its modes (dev, file storage, a raft
// cluster, dev with TLS) with the plugin registered and enabled, network
// namespaces joined by veth pairs, wireguard-go interfaces configured with
// wgctrl, and the wg-gateway daemon. It also finds the processes a run
// leaves behind.
//
// Every function takes a TB, which *testing.T satisfies; the benchmark, a
// main program, passes an adapter of its own. Everything started is stopped
// in TB.Cleanup, and every process also dies with the program that started
// it (Pdeathsig), so a test binary killed by -timeout leaks nothing.
package harness
