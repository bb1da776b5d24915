package issuance

// A Response is the data of the engine's answer to issue/:role.
type Response struct {
	// Certificate is the device's certificate, PEM.
	Certificate string `json:"certificate"`
	// IssuingCA is the CA certificate that signed it, PEM.
	IssuingCA string `json:"issuing_ca"`
	// SerialNumber is the certificate's serial, colon-separated hex.
	SerialNumber string `json:"serial_number"`
	// CommonName is the certificate's subject CN.
	CommonName string `json:"common_name"`
	// PublicKey is the device's WireGuard key the certificate binds, base64.
	PublicKey string `json:"public_key"`
	// Addresses are the device's tunnel addresses as host prefixes.
	Addresses []string `json:"addresses"`
	// Gateway is the name of the gateway the certificate is valid for.
	Gateway string `json:"gateway"`
	// GatewayPublicKey is the gateway's WireGuard key, base64.
	GatewayPublicKey string `json:"gateway_public_key"`
	// Endpoint is the gateway's host:port.
	Endpoint string `json:"endpoint"`
	// AllowedIPs are the routes the device sends into the tunnel.
	AllowedIPs []string `json:"allowed_ips"`
	// AllowedDestinations are the access policy signed into the
	// certificate, in canonical text (see package wgpolicy); empty when it
	// carries none (the device reaches everything its gateway routes).
	AllowedDestinations []string `json:"allowed_destinations"`
	// DNS are the resolvers the device uses inside the tunnel.
	DNS []string `json:"dns"`
	// MTU is the tunnel interface's MTU; 0 leaves it to wg-quick.
	MTU int `json:"mtu"`
	// PersistentKeepalive is the keepalive interval in seconds; 0 is off.
	PersistentKeepalive int `json:"persistent_keepalive"`
	// Expiration is the certificate's NotAfter, in seconds since the Unix
	// epoch.
	Expiration int64 `json:"expiration"`
	// WGQuick is the device's wg-quick configuration, ready to write; it
	// holds the private key only when the engine generated it.
	WGQuick string `json:"wg_quick"`
	// PrivateKey is the device's private key, base64, only when the engine
	// generated the key pair.
	PrivateKey string `json:"private_key,omitempty"`
}

// Data is r as the data of a Vault response: the keys are r's JSON names,
// the values r's fields (private_key only when set).
func (r *Response) Data() map[string]any {
	data := map[string]any{
		"certificate":          r.Certificate,
		"issuing_ca":           r.IssuingCA,
		"serial_number":        r.SerialNumber,
		"common_name":          r.CommonName,
		"public_key":           r.PublicKey,
		"addresses":            r.Addresses,
		"gateway":              r.Gateway,
		"gateway_public_key":   r.GatewayPublicKey,
		"endpoint":             r.Endpoint,
		"allowed_ips":          r.AllowedIPs,
		"allowed_destinations": r.AllowedDestinations,
		"dns":                  r.DNS,
		"mtu":                  r.MTU,
		"persistent_keepalive": r.PersistentKeepalive,
		"expiration":           r.Expiration,
		"wg_quick":             r.WGQuick,
	}
	if r.PrivateKey != "" {
		data["private_key"] = r.PrivateKey
	}
	return data
}
