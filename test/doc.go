// Package test holds the end-to-end tests: they build the plugin, start a
// real Vault server (built by scripts/get-vault.sh) and drive it through its
// HTTP API and CLI, as users and devices would. What they start (Vault in
// its modes, namespaces with wireguard-go, wg-gateway) comes from
// test/internal/harness, which the benchmark (test/bench) shares; the
// *_harness_test.go files adapt it to the tests' names.
//
// A test that lacks root or a binary skips, unless WG_REQUIRE_ALL is set
// (CI sets it), in which case it fails.
package test
