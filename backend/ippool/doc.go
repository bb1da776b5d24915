// Package ippool hands out tunnel addresses from a gateway's address pools.
//
// A Pool covers one or more CIDR prefixes of one address family and keeps a
// bitmap of the host offsets in use, so that allocating stays fast when a /16
// is nearly full and memory stays small for a sparse IPv6 /64 (only the
// touched 64-bit words are kept). Addresses that must never be handed out —
// the network and broadcast addresses of IPv4 prefixes, the subnet-router
// anycast address of IPv6 prefixes, and the gateway's own addresses — are
// reserved when the pool is made.
package ippool
