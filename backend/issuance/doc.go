// Package issuance defines the wire format of the secrets engine's answer
// to issue/:role: the engine writes a Response as the data of the lease it
// hands out, and wg-device reads the same Response, so the two cannot
// drift apart.
//
// A Response carries the certificate, the device's tunnel addresses and
// what the device needs of its gateway to write a wg-quick file; the
// private key only when the engine generated the key.
package issuance
