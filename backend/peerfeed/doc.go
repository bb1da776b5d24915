// Package peerfeed defines the wire format of a gateway's peer feed, served
// by the secrets engine at gateways/:name/peers and read by wg-gateway.
//
// A read returns the gateway's revision Index and either the full set of
// live peers (Full is true) or, when the caller passed a recent index, only
// what changed since then: Peers holds the peers added or changed, Removed
// the peers that left. Applying Removed then Peers to the set the caller had
// at its index gives the set at Index.
package peerfeed
