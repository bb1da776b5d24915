package wgcert

import "errors"

// Sentinel errors, compared with errors.Is. The errors returned wrap them
// and add the specifics (which time, which gateway, which address).
var (
	// ErrInvalidTemplate means a Template cannot be issued as it is.
	ErrInvalidTemplate = errors.New("invalid certificate template")
	// ErrUnsupportedKey means a CA key is neither Ed25519 nor ECDSA P-256.
	ErrUnsupportedKey = errors.New("unsupported CA key")
	// ErrInvalidCA means a CA certificate or bundle cannot be used to issue.
	ErrInvalidCA = errors.New("invalid CA")
	// ErrNoCertificate means a PEM text holds no CERTIFICATE block.
	ErrNoCertificate = errors.New("no CERTIFICATE PEM block")
	// ErrNotX25519 means a certificate's public key is not an X25519 key.
	ErrNotX25519 = errors.New("certificate public key is not an X25519 key")
	// ErrUnknownAuthority means a certificate is not signed by any trusted CA.
	ErrUnknownAuthority = errors.New("certificate signed by unknown authority")
	// ErrCAExpired means the CA that signed a certificate is not valid at
	// the time of verification: expired, or not valid yet.
	ErrCAExpired = errors.New("issuing CA not valid")
	// ErrExpired means the time is after a certificate's NotAfter.
	ErrExpired = errors.New("certificate expired")
	// ErrNotYetValid means the time is before a certificate's NotBefore.
	ErrNotYetValid = errors.New("certificate not yet valid")
	// ErrWrongGateway means a certificate does not name the gateway.
	ErrWrongGateway = errors.New("certificate not valid for this gateway")
	// ErrKeyMismatch means a certificate binds another WireGuard key.
	ErrKeyMismatch = errors.New("certificate key mismatch")
	// ErrAddressOutsidePool means a certificate carries an address outside
	// the gateway's address pools.
	ErrAddressOutsidePool = errors.New("certificate address outside the pools")
	// ErrBadPolicy means a certificate carries an access policy extension
	// (wgpolicy.OID) that does not decode: it is not to be trusted, since
	// reading it as unrestricted would widen what the CA signed.
	ErrBadPolicy = errors.New("certificate access policy does not decode")
	// ErrBadFeedSignature means a feed answer's signature (SignFeed) does
	// not verify with the CA it is checked against.
	ErrBadFeedSignature = errors.New("feed answer signature does not verify")
)
