package peerfeed

import "time"

// MaxPage is the most peers one page of the full set holds: a read asking
// for a larger limit gets pages of MaxPage peers (and Next), so that no
// answer of the engine, however many peers the gateway has, is larger than
// a few megabytes.
const MaxPage = 5000

// A Peer is one certified device as a gateway should configure it.
type Peer struct {
	// SerialNumber is the certificate's serial, colon-separated hex.
	SerialNumber string `json:"serial_number"`
	// PublicKey is the device's WireGuard key, base64.
	PublicKey string `json:"public_key"`
	// AllowedIPs are the device's tunnel addresses as host prefixes.
	AllowedIPs []string `json:"allowed_ips"`
	// Certificate is the PEM certificate binding the key to the addresses.
	Certificate string `json:"certificate"`
	// Expiration is the certificate's NotAfter.
	Expiration time.Time `json:"expiration"`
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
