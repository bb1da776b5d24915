package peerfeed

import "time"

// MaxPage is the most peers one page of the full set holds: a read asking
// for a larger limit gets pages of MaxPage peers (and Next). A page of
// 1,000 peers is about 0.9 MB of JSON, which the plugin SDK and Vault copy
// several times on its way out (base64 in a JSON envelope, protobuf): at
// 50,000 live peers, four daemons reading at once raised the plugin to
// 262 MB with pages of 1,000 and to 416 MB with pages of 5,000.
const MaxPage = 1000

// MaxSigned is the most peers an answer may hold and carry a Signature:
// its digests then take at most 43 KB of base64, within what a reader
// takes of one value. A larger answer (a delta after a burst of issues,
// the whole set in one answer) has no signature.
const MaxSigned = MaxPage

// The formats of the peers' certificates in an answer, as a read asks for
// them (its certificate_format). An engine that predates the choice
// ignores it and answers in CertificatePEM, which every reader must
// therefore take.
const (
	// CertificatePEM is the default: each peer's Certificate as PEM, as
	// every version of the engine sends it.
	CertificatePEM = "pem"
	// CertificateDER is each peer's CertificateDER: the DER without the
	// PEM armour and line breaks, and no AllowedIPs and Expiration, which
	// the certificate holds (a gateway takes them from it, never from the
	// entry): about 20% fewer bytes for Vault to carry and the reader to
	// decode.
	CertificateDER = "der"
)

// A Peer is one certified device as a gateway should configure it.
type Peer struct {
	// SerialNumber is the certificate's serial, colon-separated hex.
	SerialNumber string `json:"serial_number"`
	// PublicKey is the device's WireGuard key, base64.
	PublicKey string `json:"public_key"`
	// AllowedIPs are the device's tunnel addresses as host prefixes (not
	// in an answer of CertificateDER format).
	AllowedIPs []string `json:"allowed_ips,omitzero"`
	// Certificate is the PEM certificate binding the key to the addresses,
	// in an answer of the default format (CertificatePEM).
	Certificate string `json:"certificate,omitempty"`
	// CertificateDER is the same certificate as DER (base64 in JSON),
	// instead of Certificate, in an answer of CertificateDER format.
	CertificateDER []byte `json:"certificate_der,omitempty"`
	// Expiration is the certificate's NotAfter (not in an answer of
	// CertificateDER format).
	Expiration time.Time `json:"expiration,omitzero"`
}

// A Removal names a peer that left the set.
type Removal struct {
	SerialNumber string `json:"serial_number"`
	PublicKey    string `json:"public_key"`
}

// A Response is the body (the "data" object) of a gateways/:name/peers read.
type Response struct {
	// Gateway is the gateway's name.
	Gateway string `json:"gateway"`
	// AddressPool are the gateway's pools: every peer's addresses lie in them.
	AddressPool []string `json:"address_pool"`
	// Index is the gateway's revision after the changes in this response.
	Index uint64 `json:"index"`
	// Full reports whether Peers is the whole set rather than a delta.
	Full bool `json:"full"`
	// Signature, when the answer has one, is the CA's signature over
	// its peers' certificates. It comes before Peers, so that a reader
	// decoding the answer as a stream has it before the first peer.
	Signature *Signature `json:"signature,omitempty"`
	// Peers are all live peers (Full) or those added since the caller's index.
	Peers []Peer `json:"peers"`
	// Removed are the peers that left since the caller's index; empty when Full.
	Removed []Removal `json:"removed"`
	// Next, in a page of the full set (a read with limit), is the serial
	// after which the next page starts (the read's after); empty on the
	// last page. Pages follow the live set as it is when each is read, so
	// a reader that pages from the first page's Index on must then ask for
	// the changes since that Index: they cover what moved while it paged.
	Next string `json:"next,omitempty"`
}

// A Signature is the mount's current CA's signature over the
// certificates of an answer: over the message wgcert.FeedMessage(Digests),
// signed as wgcert.SignFeed signs. It says of each certificate whose
// digest it lists what the certificate's own signature says: the CA
// issued these bytes. A gateway that checked it once need not check the
// signature of each such certificate, and checks every certificate it
// does not cover (another CA's, or one whose digest differs) as if there
// were none.
type Signature struct {
	// KeyID names the CA that signed: its subject key identifier,
	// colon-separated hex (as a certificate record's issuer_key_id).
	KeyID string `json:"key_id"`
	// Digests hold, for each peer of the answer in its order, the
	// SHA-256 of its certificate's DER (wgcert.FeedDigest), or 32 zero
	// bytes for a certificate the CA did not issue; concatenated (base64
	// in JSON).
	Digests []byte `json:"digests"`
	// Value is the signature (base64 in JSON).
	Value []byte `json:"value"`
}
