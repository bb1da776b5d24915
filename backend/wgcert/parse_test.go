package wgcert

import (
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
