// Package wgquick renders wg-quick(8) configuration files: the engine returns
// one with every issued certificate, and wg-device writes one with its own
// private key filled in.
package wgquick
