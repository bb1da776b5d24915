package wgquick

import "testing"

func TestString(t *testing.T) {
	c := Config{
		Comment:   []string{"gateway gw1"},
		Addresses: []string{"10.77.0.2/32", "fd77::2/128"},
		DNS:       []string{"10.77.0.1"},
		MTU:       1420,
		Peer: Peer{
			PublicKey:           "GW=",
			Endpoint:            "198.51.100.1:51820",
			AllowedIPs:          []string{"10.77.0.0/16"},
			PersistentKeepalive: 25,
		},
	}
	want := `# gateway gw1
[Interface]
PrivateKey = <your WireGuard private key>
Address = 10.77.0.2/32, fd77::2/128
DNS = 10.77.0.1
MTU = 1420

[Peer]
PublicKey = GW=
Endpoint = 198.51.100.1:51820
AllowedIPs = 10.77.0.0/16
PersistentKeepalive = 25
`
	if got := c.String(); got != want {
		t.Fatalf("got:\n%s\nwant:\n%s", got, want)
	}
	c.PrivateKey, c.DNS, c.MTU, c.Peer.PersistentKeepalive, c.Comment = "KEY=", nil, 0, 0, nil
	want = "[Interface]\nPrivateKey = KEY=\nAddress = 10.77.0.2/32, fd77::2/128\n\n[Peer]\nPublicKey = GW=\nEndpoint = 198.51.100.1:51820\nAllowedIPs = 10.77.0.0/16\n"
	if got := c.String(); got != want {
		t.Fatalf("got:\n%s\nwant:\n%s", got, want)
	}
}
