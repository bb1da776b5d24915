package test

import (
	"strings"
	"testing"

	vault "github.com/hashicorp/vault/api"
	"github.com/stretchr/testify/require"
)

// TestTokensWithoutEntityAreApart checks on a real Vault that tokens without
// an entity (made by `vault token create`, all with the display name
// "token") are each their own identity: one cannot take the other's key nor
// push the other's certificate out under max_active_per_identity, while each
// still counts against its own limit. Batch tokens, which have no accessor,
// are kept apart as well.
func TestTokensWithoutEntityAreApart(t *testing.T) {
	s := startVault(t)
	setUpEngine(t, s)
	s.cli("write", "wg/roles/laptop", "gateway=gw1", "ttl=1h", "max_active_per_identity=1")
	require.NoError(t, s.root.Sys().PutPolicy("device", devicePolicy))

	token := func(args ...string) *vault.Client {
		out := s.cli(append([]string{"token", "create", "-policy=device", "-field=token"}, args...)...)
		return s.client(strings.TrimSpace(out))
	}
	issue := func(c *vault.Client, key string) (string, error) {
		sec, err := c.Logical().Write("wg/issue/laptop", map[string]any{"public_key": key})
		if err != nil {
			return "", err
		}
		return sec.Data["serial_number"].(string), nil
	}
	revoked := func(serial string) bool {
		rec, err := s.root.Logical().Read("wg/cert/" + serial)
		require.NoError(t, err)
		return rec.Data["revoked"].(bool)
	}

	for _, kind := range []struct {
		name string
		args []string
	}{
		{"service", nil},
		{"orphan service", []string{"-orphan"}},
		{"batch", []string{"-type=batch", "-orphan"}},
	} {
		t.Run(kind.name, func(t *testing.T) {
			alice, mallory := token(kind.args...), token(kind.args...)

			key := mustPub(t)
			aliceSerial, err := issue(alice, key)
			require.NoError(t, err)
			rec, err := s.root.Logical().Read("wg/cert/" + aliceSerial)
			require.NoError(t, err)
			require.Equal(t, "token", rec.Data["display_name"], "both tokens have the same display name")

			// Another token cannot take alice's key.
			_, err = issue(mallory, key)
			require.Error(t, err)
			require.Contains(t, err.Error(), "public_key: key is bound to a live certificate of another identity")

			// Nor does its certificate count against alice's limit.
			mallorySerial, err := issue(mallory, mustPub(t))
			require.NoError(t, err)
			require.False(t, revoked(aliceSerial), "mallory's issue revoked alice's certificate")

			// Each token's own limit still holds: alice's re-issue
			// replaces alice's certificate and leaves mallory's.
			again, err := issue(alice, key)
			require.NoError(t, err)
			require.True(t, revoked(aliceSerial))
			require.False(t, revoked(again))
			require.False(t, revoked(mallorySerial))
		})
	}
}
