package wgcert_test

import (
	"crypto/x509"
	"errors"
	"fmt"
	"log"
	"net/netip"
	"time"

	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/backend/wgcert"
	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/backend/wgkey"
)

// The secrets engine issues a certificate for a device's key; the gateway
// verifies it.
func Example() {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

	caDER, keyDER, err := wgcert.GenerateCA(wgcert.KeyTypeEd25519, "Example WireGuard CA", now, now.AddDate(5, 0, 0))
	if err != nil {
		log.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		log.Fatal(err)
	}
	signer, err := wgcert.ParsePKCS8Signer(keyDER)
	if err != nil {
		log.Fatal(err)
	}

	// Issue (the secrets engine).
	_, devicePub, err := wgkey.Generate()
	if err != nil {
		log.Fatal(err)
	}
	serial, err := wgcert.NewSerial()
	if err != nil {
		log.Fatal(err)
	}
	der, err := wgcert.Create(&wgcert.Template{
		SerialNumber: serial,
		CommonName:   "alice@example.com",
		PublicKey:    devicePub,
		Addresses:    []netip.Addr{netip.MustParseAddr("10.77.0.2")},
		Gateways:     []string{"gw1"},
		NotBefore:    now.Add(-30 * time.Second),
		NotAfter:     now.Add(time.Hour),
	}, ca, signer)
	if err != nil {
		log.Fatal(err)
	}
	certPEM := wgcert.EncodePEM(der)

	// Verify (the gateway).
	c, err := wgcert.ParsePEM([]byte(certPEM))
	if err != nil {
		log.Fatal(err)
	}
	opts := wgcert.VerifyOptions{
		Roots:   []*x509.Certificate{ca},
		Gateway: "gw1",
		Pools:   []netip.Prefix{netip.MustParsePrefix("10.77.0.0/16")},
	}
	fmt.Println(c.CommonName, c.Addresses, c.Gateways, c.PublicKey == devicePub)
	fmt.Println("now:", wgcert.Verify(now, c, opts))
	err = wgcert.Verify(now.Add(2*time.Hour), c, opts)
	fmt.Println("in two hours, expired:", errors.Is(err, wgcert.ErrExpired))
	// Output:
	// alice@example.com [10.77.0.2] [gw1] true
	// now: <nil>
	// in two hours, expired: true
}
