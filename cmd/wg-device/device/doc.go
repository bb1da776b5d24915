// Package device is the wg-device client: it logs a device in to Vault,
// has the WireGuard secrets engine certify a key it generated itself, and
// puts the result to use — a wg-quick file, or an interface configured
// directly — then keeps it fresh.
//
// The private key is made on the device (wgkey.Generate) and never sent:
// Vault sees the public key only. Each certificate is issued under its own
// login, and Vault revokes a lease with the token that created it, so
// retiring a certificate is revoking its token (auth/token/revoke-self, in
// Vault's default policy): no extra policy, and a device can end no lease
// but its own. Files keeps that token beside the wg-quick file, so that a
// later run retires the certificate it replaces there.
//
// No certificate is asked for before every Sink says it can install one
// (Preparer), and one that fails to install is revoked.
//
// Rotation is make-before-break: at about two thirds of the certificate's
// lifetime (with jitter) the device logs in again, makes a new key, issues a
// new certificate — which puts the new key on the gateways — waits a moment
// for them to apply it, switches its interface to the new key and address in
// one step, and only then revokes the old certificate.
//
// The login is package vaultlogin's, shared with wg-gateway. The decisions
// are pure functions (RotateAt, Deadline, ParseIssue, PlanLink,
// ClassifyIssue, ClassifyTransport); the effects go through small
// interfaces: a Source of certificates (VaultSource) and Sinks that install
// them (Files, Interface).
package device
