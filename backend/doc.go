// Package backend is the WireGuard secrets engine for HashiCorp Vault.
//
// It keeps a certificate authority, gateways and roles, and issues short-lived
// X.509 certificates whose subject public key is a device's WireGuard key
// (see package wgcert). Every certificate is a Vault lease: revoking the
// lease, or its expiry, takes the device out of its gateway's peer set, which
// gateway daemons follow by long-polling gateways/:name/peers.
//
// The issue path is built to cost one storage write: the CA, roles and
// gateways are cached in memory (refreshed by Invalidate), and the live
// certificates, address pools and peer feeds are an in-memory registry
// rebuilt from the certificate records when the mount starts.
package backend
