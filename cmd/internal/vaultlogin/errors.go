package vaultlogin

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	vault "github.com/hashicorp/vault/api"
)

// The refusals of a login. Each is final (see Final): retrying cannot help
// until someone changes a credential or the configuration.
var (
	// ErrCredentialsRefused: the auth method refused the credentials.
	ErrCredentialsRefused = errors.New("login refused")
	// ErrCredentialsUnreadable: a credential file cannot be read.
	ErrCredentialsUnreadable = errors.New("credentials unreadable")
	// ErrNoMount: nothing is mounted at the path used.
	ErrNoMount = errors.New("nothing mounted there")
	// ErrWrappingMismatch: the secret id file holds a response-wrapping
	// token that was not made by the AppRole mount's secret-id endpoint.
	ErrWrappingMismatch = errors.New("response-wrapping token not made for this login")
)

// Final reports whether err is one of the refusals above: a login that
// fails with it fails again until a credential or the configuration
// changes.
func Final(err error) bool {
	for _, final := range []error{ErrCredentialsRefused, ErrCredentialsUnreadable, ErrNoMount, ErrWrappingMismatch} {
		if errors.Is(err, final) {
			return true
		}
	}
	return false
}

// Refusal returns Vault's answer when err is a 4xx response other than 429
// (rate limited) and 412 (a standby not caught up), which are transient.
func Refusal(err error) (*vault.ResponseError, bool) {
	var re *vault.ResponseError
	if !errors.As(err, &re) {
		return nil, false
	}
	switch {
	case re.StatusCode == http.StatusTooManyRequests, re.StatusCode == http.StatusPreconditionFailed:
		return nil, false
	case re.StatusCode >= 400 && re.StatusCode < 500:
		return re, true
	}
	return nil, false
}

// Said is Vault's error messages on one line. Vault often wraps them as a
// multierror ("1 error occurred:\n\t* permission denied\n\n"); only the
// items are kept.
func Said(re *vault.ResponseError) string {
	var msgs []string
	for _, e := range re.Errors {
		items := false
		for _, line := range strings.Split(e, "\n") {
			if item, ok := strings.CutPrefix(strings.TrimSpace(line), "* "); ok {
				msgs, items = append(msgs, strings.TrimSpace(item)), true
			}
		}
		if !items && strings.TrimSpace(e) != "" {
			msgs = append(msgs, strings.Join(strings.Fields(e), " "))
		}
	}
	if len(msgs) == 0 {
		return fmt.Sprintf("HTTP %d", re.StatusCode)
	}
	return strings.Join(msgs, "; ")
}

// IsNoHandler recognises Vault's answer for a path nothing is mounted at.
func IsNoHandler(re *vault.ResponseError) bool {
	return strings.Contains(Said(re), "no handler for route")
}

// ClassifyLogin turns a failed login with c into an error that names what
// to fix. Transient failures are returned wrapped but unclassified.
func ClassifyLogin(c *Config, err error) error {
	re, ok := Refusal(err)
	if !ok {
		return fmt.Errorf("%s login: %w", c.Method, err)
	}
	mount, flag := c.mount(), c.mountFlag()
	if (re.StatusCode == http.StatusNotFound || IsNoHandler(re)) && flag != "" {
		return fmt.Errorf("%w: no %s auth method at auth/%s (Vault said: %s): check -%s, or enable it with `vault auth enable -path=%s %s`",
			ErrNoMount, c.Method, mount, Said(re), flag, mount, c.Method)
	}
	hint := c.loginHint()
	if re.StatusCode == http.StatusForbidden && Said(re) == "permission denied" && flag != "" {
		hint += fmt.Sprintf(" (Vault also answers 403 when no auth method is mounted at auth/%s: check -%s)", mount, flag)
	}
	return fmt.Errorf("%w: %s login at auth/%s: %s: %s", ErrCredentialsRefused, c.Method, mount, Said(re), hint)
}
