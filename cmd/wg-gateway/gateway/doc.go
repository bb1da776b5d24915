// Package gateway is the wg-gateway daemon: it keeps a WireGuard interface
// equal to the certified, unrevoked peers of one gateway.
//
// The daemon logs in to Vault with AppRole, long-polls the gateway's peer
// feed (gateways/:name/peers), verifies every certificate against the CA,
// and applies the difference to the interface with wgctrl, never replacing
// the peer list wholesale. A timer removes each peer when its certificate
// expires, whether or not Vault can be reached.
//
// The decisions are pure functions (Set.Desired, Diff, Verifier.Verify);
// the effects go through small interfaces: Device (wgctrl) and Vault
// (VaultClient), which tests replace with fakes.
package gateway
