package device

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"strings"

	vault "github.com/hashicorp/vault/api"

	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/cmd/internal/vaultlogin"
)

// The refusals a device can meet. Each is final: retrying cannot help until
// someone changes a credential, a policy or the engine's configuration, so
// `run` exits on them — except ErrPoolExhausted, which it retries, since
// certificates expire and free addresses. The refusals of a login are
// vaultlogin's (vaultlogin.Final); anything else (Vault unreachable,
// sealed, answering 5xx) is transient: see Transient.
var (
	// ErrCredentialsRefused: the auth method refused the device's credentials.
	ErrCredentialsRefused = vaultlogin.ErrCredentialsRefused
	// ErrCredentialsUnreadable: a credential file cannot be read.
	ErrCredentialsUnreadable = vaultlogin.ErrCredentialsUnreadable
	// ErrPermissionDenied: logged in, but the token may not issue on the role.
	ErrPermissionDenied = errors.New("permission denied")
	// ErrUnknownRole: the engine has no such role.
	ErrUnknownRole = errors.New("unknown role")
	// ErrBlocked: an operator blocked the device's identity on the mount
	// (the engine's blocks/): no certificate until the block is deleted.
	ErrBlocked = errors.New("blocked")
	// ErrPoolExhausted: the gateway has no free address for the device.
	ErrPoolExhausted = errors.New("address pool exhausted")
	// ErrNoMount: nothing is mounted at the path the device used.
	ErrNoMount = vaultlogin.ErrNoMount
	// ErrReplaceRefused: the engine refused to let the new certificate
	// replace the current one (replaces=), which has ended or was revoked.
	ErrReplaceRefused = errors.New("replacement refused")
	// ErrRefused: any other refusal of the request (HTTP 4xx).
	ErrRefused = errors.New("request refused")
	// ErrBadResponse: the engine's answer is not what the device expects.
	ErrBadResponse = errors.New("unexpected answer from the engine")
	// ErrNoToken: a certificate to retire comes without the login token it
	// was issued under, the device's only means of revoking it.
	ErrNoToken = errors.New("no login token to revoke the certificate with")
)

// A ConfigError is a mistake in the device's own settings that no retry
// can mend, such as a VAULT_ADDR that speaks the wrong protocol. Its
// message starts with the setting to fix.
type ConfigError struct {
	// Setting is the flag or variable to fix; Problem says what is wrong.
	Setting, Problem string
}

// Error is "Setting: Problem".
func (e *ConfigError) Error() string { return e.Setting + ": " + e.Problem }

// Transient reports whether err may go away by itself: it is none of the
// refusals above, no refusal of a login and no ConfigError.
func Transient(err error) bool {
	var ce *ConfigError
	if errors.As(err, &ce) {
		return false
	}
	if vaultlogin.Final(err) {
		return false
	}
	for _, final := range []error{ErrBlocked, ErrPermissionDenied, ErrUnknownRole, ErrPoolExhausted, ErrRefused, ErrReplaceRefused, ErrBadResponse, ErrNoToken} {
		if errors.Is(err, final) {
			return false
		}
	}
	return true
}

// blockedMark is in the engine's refusal of an issue that a block stops:
// `permission denied: common_name "x" is blocked by block "name" (by … at …)`.
const blockedMark = " is blocked by block "

// ClassifyIssue turns a failed write to <mount>/issue/<role> into an error
// that names what to fix.
func ClassifyIssue(mount, role string, err error) error {
	re, ok := vaultlogin.Refusal(err)
	if !ok {
		return fmt.Errorf("issue on %s/issue/%s: %w", mount, role, err)
	}
	path := mount + "/issue/" + role
	said := vaultlogin.Said(re)
	switch {
	case re.StatusCode == http.StatusForbidden && strings.Contains(said, blockedMark):
		return fmt.Errorf("%w: %s refused a certificate (Vault said: %s): an operator must delete the block (vault delete %s/blocks/<name>)",
			ErrBlocked, path, said, mount)
	case re.StatusCode == http.StatusForbidden:
		return fmt.Errorf("%w: the token may not write %s (Vault said: %s): give the auth role a policy with "+
			`path "%s" { capabilities = ["update"] }, or check -role and -mount`, ErrPermissionDenied, path, said, path)
	case re.StatusCode == http.StatusNotFound || vaultlogin.IsNoHandler(re):
		return fmt.Errorf("%w: no WireGuard secrets engine at %s/ (Vault said: %s): check -mount", ErrNoMount, mount, said)
	case strings.Contains(said, "role: unknown role"):
		return fmt.Errorf("%w: role %q does not exist on %s/ (Vault said: %s): check -role, or have an operator create it with `vault write %s/roles/%s gateway=...`",
			ErrUnknownRole, role, mount, said, mount, role)
	case re.StatusCode == http.StatusBadRequest && strings.Contains(said, "replaces: "):
		return fmt.Errorf("%w: %s: %s", ErrReplaceRefused, path, said)
	case strings.Contains(said, "address pool exhausted"):
		return fmt.Errorf("%w: the gateway of role %q has no free address (Vault said: %s): an operator must widen the gateway's address_pool or revoke unused certificates",
			ErrPoolExhausted, role, said)
	}
	return fmt.Errorf("%w: %s: %s", ErrRefused, path, said)
}

// ClassifyTransport recognises a failed request to Vault at addr that no
// retry can mend — the address speaks plain HTTP, or its certificate does
// not verify — and returns a ConfigError naming the variable to fix; for
// any other error it returns nil. addrSet says whether VAULT_ADDR was set
// (else addr is the client's default).
func ClassifyTransport(addr string, addrSet bool, err error) error {
	if err == nil {
		return nil
	}
	unset := ""
	if !addrSet {
		unset = fmt.Sprintf(" (VAULT_ADDR is not set: using Vault's default %s)", addr)
	}
	msg := err.Error()
	if errors.Is(err, http.ErrSchemeMismatch) || strings.Contains(msg, http.ErrSchemeMismatch.Error()) {
		return &ConfigError{Setting: "VAULT_ADDR", Problem: fmt.Sprintf("%s answers plain HTTP, not HTTPS: set VAULT_ADDR=%s%s",
			addr, "http://"+strings.TrimPrefix(addr, "https://"), unset)}
	}
	var (
		verify   *tls.CertificateVerificationError
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
	)
	if errors.As(err, &verify) || errors.As(err, &unknown) || errors.As(err, &hostname) || errors.As(err, &invalid) ||
		strings.Contains(msg, "tls: failed to verify certificate") {
		cause := msg
		if i := strings.Index(msg, "x509: "); i >= 0 {
			cause = msg[i:]
		}
		return &ConfigError{Setting: "VAULT_CACERT", Problem: fmt.Sprintf("the certificate of %s does not verify (%s): "+
			"set VAULT_CACERT to the file of the CA that issued Vault's certificate, or check the host name in VAULT_ADDR%s",
			addr, cause, unset)}
	}
	return nil
}

// RetryPolicy is Vault's client retry policy (vault.DefaultRetryPolicy),
// except that a request failing for a reason ClassifyTransport recognises
// is not retried: the answer will not change.
func RetryPolicy(ctx context.Context, resp *http.Response, err error) (bool, error) {
	if err != nil && ClassifyTransport("", true, err) != nil {
		return false, err
	}
	return vault.DefaultRetryPolicy(ctx, resp, err)
}
