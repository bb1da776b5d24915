package gateway

import "errors"

// Sentinel errors of the daemon, compared with errors.Is.
var (
	// ErrNoTrustedCA means a CA bundle leaves the daemon no CA to trust:
	// none of the pinned CAs is in it and no new one is cross-signed by
	// one of them. The daemon keeps the CAs it trusted.
	ErrNoTrustedCA = errors.New("no trusted CA in the bundle")
	// ErrNoCA means a CA bundle or state file holds no CA certificate.
	ErrNoCA = errors.New("no CA certificate")
	// ErrPolicyUnenforceable means a certificate carries access rules that
	// this gateway cannot enforce (-firewall=off, or no nftables): it is
	// not admitted.
	ErrPolicyUnenforceable = errors.New("the certificate carries access rules and this gateway cannot enforce them")
	// ErrBadFeed means an answer of the peer feed breaks the protocol or
	// its bounds: a value larger than maxFeedValue, a field twice, pages
	// of a full read out of serial order, a next that goes backwards, more
	// peers than maxFullPeers. The read is refused as a whole.
	ErrBadFeed = errors.New("the peer feed's answer is refused")
	// ErrTwoCertificates means a feed entry carries its certificate both
	// as PEM and as DER: the entry is rejected rather than one of them
	// taken.
	ErrTwoCertificates = errors.New("the entry carries both certificate and certificate_der")
)
