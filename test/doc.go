// Package test holds the end-to-end tests: they build the plugin, start a
// real Vault server (built by scripts/get-vault.sh) and drive it through its
// HTTP API and CLI, as users and devices would.
//
// A test that lacks root or a binary skips, unless WG_REQUIRE_ALL is set
// (CI sets it), in which case it fails.
package test
