// Package wgcert is the certificate profile that binds a WireGuard public key
// to an identity: the secrets engine builds certificates with it, the gateway
// daemon verifies them and the device client reads them.
//
// A certificate is an ordinary X.509 v3 leaf whose SubjectPublicKeyInfo is
// the WireGuard key itself (id-X25519, OID 1.3.101.110, RFC 8410), so
// `openssl x509 -text` shows an "X25519 Public-Key" and `openssl verify`
// checks it like any other certificate. Nothing else in the certificate is
// read as the key. Besides the key a certificate carries:
//
//   - the identity as the subject common name;
//   - the device's tunnel addresses as IP address SANs;
//   - the gateways it may connect to as URI SANs of the form
//     "urn:wireguard:gateway:<name>" (see GatewayURI);
//   - KeyUsage keyAgreement (critical), BasicConstraints CA:false
//     (critical), a subject and an authority key identifier;
//   - optionally the access policy: the destinations the device may reach,
//     in the non-critical extension wgpolicy.OID (see package wgpolicy).
//     A certificate whose policy does not decode fails Parse and Verify
//     with ErrBadPolicy.
//
// The issuing CA signs with Ed25519 (the default) or ECDSA P-256. Go's
// x509.CreateCertificate refuses X25519 subject keys, so Create encodes the
// TBSCertificate itself; parsing and signature checks use crypto/x509.
//
// Nothing in this package reads the clock: every function that needs the
// time takes it as a parameter.
package wgcert
