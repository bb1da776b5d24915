package wgkey

import "errors"

// Sentinel errors returned by ParsePublic, compared with errors.Is.
var (
	// ErrEncoding means the text is not standard base64.
	ErrEncoding = errors.New("not valid base64")
	// ErrLength means the decoded key is not 32 bytes long.
	ErrLength = errors.New("not 32 bytes")
	// ErrLowOrder means the key is a low-order Curve25519 point.
	ErrLowOrder = errors.New("a low-order point that no WireGuard peer may use")
)
