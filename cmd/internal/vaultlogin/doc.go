// Package vaultlogin logs the daemons (wg-gateway and wg-device) in to
// Vault: AppRole (with a secret id that may come response-wrapped),
// Kubernetes, a TLS client certificate or a Vault token, each from
// credential files read afresh at every login (package secretfile, which
// warns about files other users can read).
//
// A Login logs in once and classifies a refusal: ErrCredentialsRefused,
// ErrCredentialsUnreadable, ErrNoMount and ErrWrappingMismatch say that no
// retry can help until someone changes a credential or the configuration
// (Final), with a message naming what to fix; anything else (Vault
// unreachable, sealed, answering 5xx) is worth retrying.
//
// A Session keeps one Vault client logged in for a long-running daemon:
// it renews the token with Vault's lifetime watcher and logs in again when
// the token can no longer be renewed or Vault refused it, and stops
// logging in after a refusal until the credentials change.
//
// A response-wrapped secret id is unwrapped only when sys/wrapping/lookup
// says the wrapping token was made by auth/<mount>/role/<role>/secret-id of
// the configured AppRole mount: a token wrapping anything else was not
// made for this login and may have been planted.
package vaultlogin
