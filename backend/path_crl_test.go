package backend

import (
	"crypto/x509"

	"github.com/hashicorp/vault/sdk/logical"
	"github.com/stretchr/testify/require"
)

// crlSerials returns the serials listed in the mount's CRL.
func (e *testEnv) crlSerials() map[string]bool {
	e.t.Helper()
	resp := e.ok(logical.ReadOperation, "crl", nil)
	crl, err := x509.ParseRevocationList(resp.Data[logical.HTTPRawBody].([]byte))
	require.NoError(e.t, err)
	ca := e.b.config.ca[caStorageKey].cert
	require.NoError(e.t, crl.CheckSignatureFrom(ca))
	out := map[string]bool{}
	for _, r := range crl.RevokedCertificateEntries {
		out[formatSerial(r.SerialNumber)] = true
	}
	return out
}
