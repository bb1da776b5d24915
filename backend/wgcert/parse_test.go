package wgcert

import (
	"crypto/ecdh"
	"crypto/x509"
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseRejects(t *testing.T) {
	ca := newCA(t, KeyTypeEC, "test CA")
	c := issue(t, ca, newTemplate(t, newKey(t)))

	tests := []struct {
		name    string
		der     []byte
		wantErr error
		wantMsg string
	}{
		{"ECDSA key (a CA certificate)", ca.Cert.Raw, ErrNotX25519, "got *ecdsa.PublicKey"},
		{"empty", nil, nil, "parse certificate"},
		{"truncated", c.X509.Raw[:len(c.X509.Raw)-1], nil, "parse certificate"},
		{"trailing data", append(append([]byte{}, c.X509.Raw...), 0), nil, "parse certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.der)
			require.Nil(t, got)
			require.Error(t, err)
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
			}
			require.Contains(t, err.Error(), tt.wantMsg)
		})
	}
}

func TestPEM(t *testing.T) {
	ca := newCA(t, KeyTypeEd25519, "test CA")
	c := issue(t, ca, newTemplate(t, newKey(t)))
	certPEM := EncodePEM(c.X509.Raw)
	require.Contains(t, certPEM, "-----BEGIN CERTIFICATE-----\n")

	tests := []struct {
		name    string
		text    string
		wantErr error
	}{
		{"one certificate", certPEM, nil},
		{"after another block, before the CA", "-----BEGIN FOO-----\nAAAA\n-----END FOO-----\n" + certPEM + EncodePEM(ca.Cert.Raw), nil},
		{"CA only", EncodePEM(ca.Cert.Raw), ErrNotX25519},
		{"no certificate", "-----BEGIN FOO-----\nAAAA\n-----END FOO-----\n", ErrNoCertificate},
		{"empty", "", ErrNoCertificate},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParsePEM([]byte(tt.text))
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, c.X509.Raw, got.X509.Raw)
			require.Equal(t, c.PublicKey, got.PublicKey)
		})
	}
}

func TestGatewayNames(t *testing.T) {
	var uris []*url.URL
	for _, s := range []string{
		"urn:wireguard:gateway:gw1",
		"https://gateway.example/gw3",
		"urn:wireguard:gateway:",
		"URN:wireguard:gateway:gw2", // the scheme is case-insensitive
		"urn:wireguard:gateway:a?b",
		"urn:wireguard:peer:gw4",
	} {
		u, err := url.Parse(s)
		require.NoError(t, err)
		uris = append(uris, u)
	}
	require.Equal(t, []string{"gw1", "gw2"}, gatewayNames(uris))
}

// TestX25519KeyAsParsePKIX: reading the profile's encoding of the key as
// it is gives what x509.ParsePKIXPublicKey gives, and whatever differs
// from it (another algorithm, parameters, unused bits, a longer key) is
// decided by x509.ParsePKIXPublicKey as before.
func TestX25519KeyAsParsePKIX(t *testing.T) {
	key := newKey(t)
	spki := func(head ...byte) []byte { return append(head, key[:]...) }
	for _, tt := range []struct {
		name string
		spki []byte
		ok   bool
	}{
		{"the profile's", spki(0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x03, 0x21, 0x00), true},
		{"Ed25519", spki(0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00), false},
		{"NULL parameters", spki(0x30, 0x2c, 0x30, 0x07, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x05, 0x00, 0x03, 0x21, 0x00), false},
		{"unused bits", spki(0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x03, 0x21, 0x01), false},
		{"a longer key", append(spki(0x30, 0x2b, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x03, 0x22, 0x00), 0), false},
		{"long-form length", spki(0x30, 0x81, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x03, 0x21, 0x00), false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := x25519Key(&x509.Certificate{RawSubjectPublicKeyInfo: tt.spki})
			if tt.ok {
				require.NoError(t, err)
				require.Equal(t, key, got)
			}
			// What x509.ParsePKIXPublicKey makes of it, as the profile
			// read every key before.
			pub, perr := x509.ParsePKIXPublicKey(tt.spki)
			k, isX25519 := pub.(*ecdh.PublicKey)
			if perr != nil || !isX25519 || k.Curve() != ecdh.X25519() {
				require.ErrorIs(t, err, ErrNotX25519)
				return
			}
			require.NoError(t, err)
			require.Equal(t, k.Bytes(), got[:])
		})
	}
}
