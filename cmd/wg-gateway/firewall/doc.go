// Package firewall enforces the access policy signed into device
// certificates with nftables, in a table of the gateway's own
// (inet wg_gateway_<interface>).
//
// The table holds one chain per distinct rule set (a role's
// destinations, identified by wgpolicy.Key) and a verdict map per address
// family from a peer's tunnel address to a jump into its rule set's
// chain. Issuing or revoking one device adds or removes a map element;
// a chain comes and goes with the first and last peer of its rule set.
// Peers without policy have no element and are not restricted.
//
// The decisions (what the table should hold, and the plan that takes it
// there) are plain functions in state.go and rules.go; the effects go
// through the Conn interface, which *nftables.Conn satisfies (nft.go).
package firewall
