package device

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"sync"
	"testing"
	"time"

	vault "github.com/hashicorp/vault/api"
	"github.com/stretchr/testify/require"
)

// testCRL is a PEM CRL signed by a throw-away CA, listing serials.
func testCRL(t *testing.T, serials ...*big.Int) []byte {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, priv)
	require.NoError(t, err)
	ca, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	list := &x509.RevocationList{Number: big.NewInt(1), ThisUpdate: time.Now(), NextUpdate: time.Now().Add(time.Hour)}
	for _, s := range serials {
		list.RevokedCertificateEntries = append(list.RevokedCertificateEntries,
			x509.RevocationListEntry{SerialNumber: s, RevocationTime: time.Now()})
	}
	crl, err := x509.CreateRevocationList(rand.Reader, list, ca, priv)
	require.NoError(t, err)
	return pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: crl})
}

func TestOnCRL(t *testing.T) {
	revoked, _ := new(big.Int).SetString("8fe91c0d40c63fcbab6eeb378cb0d67e", 16)
	crl := testCRL(t, big.NewInt(7), revoked)
	for _, tc := range []struct {
		serial string
		want   bool
		err    string
	}{
		{serial: "8f:e9:1c:0d:40:c6:3f:cb:ab:6e:eb:37:8c:b0:d6:7e", want: true},
		{serial: "07", want: true},
		{serial: "8f:e9:1c:0d:40:c6:3f:cb:ab:6e:eb:37:8c:b0:d6:7f", want: false},
		{serial: "zz", err: "not hexadecimal"},
	} {
		got, err := OnCRL(crl, tc.serial)
		if tc.err != "" {
			require.ErrorContains(t, err, tc.err)
			continue
		}
		require.NoError(t, err)
		require.Equal(t, tc.want, got, tc.serial)
	}
	_, err := OnCRL([]byte("<html>"), "07")
	require.ErrorIs(t, err, ErrBadResponse)
}

func TestPollDelay(t *testing.T) {
	require.Equal(t, 22500*time.Millisecond, PollDelay(30*time.Second, 0))
	require.Equal(t, 30*time.Second, PollDelay(30*time.Second, 0.5))
	require.Equal(t, 37500*time.Millisecond, PollDelay(30*time.Second, 1))
	require.Equal(t, 37500*time.Millisecond, PollDelay(30*time.Second, 7), "jitter is clamped")
}

// fakeCRL lists the serials revoke put on it, failing with err first.
type fakeCRL struct {
	mu      sync.Mutex
	revoked map[string]bool
	err     error
}

func (c *fakeCRL) revoke(serial string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.revoked[serial] = true
}

func (c *fakeCRL) Revoked(_ context.Context, serial string) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.err; err != nil {
		c.err = nil
		return false, err
	}
	return c.revoked[serial], nil
}

// A certificate an operator revoked is replaced long before its rotation,
// without replaces= and without revoking it again; an unreadable CRL is
// read again at the next interval.
func TestRunReplacesARevokedCertificate(t *testing.T) {
	d, _, log := testDevice(t, time.Hour)
	crl := &fakeCRL{revoked: map[string]bool{}, err: errors.New("crl unreachable")}
	d.Revocations, d.CRLInterval = crl, 5*time.Millisecond
	go func() {
		for len(log.get()) < 2 {
			time.Sleep(time.Millisecond)
		}
		crl.revoke("1")
	}()
	require.NoError(t, runFor(t, d, log, 4))
	require.Equal(t, []string{"obtain 1", "install 1", "obtain 2", "install 2"}, log.get()[:4])
}

// A blocked identity ends Run with ErrBlocked.
func TestRunStopsWhenBlocked(t *testing.T) {
	d, src, log := testDevice(t, time.Hour)
	crl := &fakeCRL{revoked: map[string]bool{}}
	d.Revocations, d.CRLInterval = crl, 5*time.Millisecond
	blocked := ClassifyIssue("wg", "laptop", &vault.ResponseError{StatusCode: 403,
		Errors: []string{`permission denied: common_name "laptop-7" is blocked by block "stolen" (by root at 2026-11-25T15:00:00Z)`}})
	go func() {
		for len(log.get()) < 2 {
			time.Sleep(time.Millisecond)
		}
		src.mu.Lock()
		src.obtainErr = []error{blocked}
		src.mu.Unlock()
		crl.revoke("1") // as a block does
	}()
	err := runFor(t, d, log, 100)
	require.ErrorIs(t, err, ErrBlocked)
	require.ErrorContains(t, err, `is blocked by block "stolen"`)
}
