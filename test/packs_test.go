package test

import (
	"testing"
	"time"

	vault "github.com/hashicorp/vault/api"
	"github.com/stretchr/testify/require"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/test/internal/harness"
)

// mountEntries lists the wg/ mount's storage keys under prefix through the
// raw storage endpoint.
func mountEntries(t *testing.T, s *vaultServer, prefix string) []any {
	t.Helper()
	mount, err := s.root.Logical().Read("sys/mounts/wg")
	require.NoError(t, err)
	list, err := s.root.Logical().List("sys/raw/logical/" + mount.Data["uuid"].(string) + "/" + prefix)
	require.NoError(t, err)
	if list == nil {
		return nil
	}
	return list.Data["keys"].([]any)
}

// TestPackedRevocationSurvivesPluginReload: tidy packs the certificate
// records into a few storage entries and deletes the loose ones; a packed
// certificate revoked after that (its revocation journaled) stays revoked
// across `vault plugin reload` (cert/, CRL, and a real wg-gateway, which
// never gets its peer back), before and after the next tidy writes the
// revocation into its pack, and the live ones stay on the gateway.
func TestPackedRevocationSurvivesPluginReload(t *testing.T) {
	requireNetTools(t)
	s := wrapVault(t, harness.StartVault(t, harness.VaultOptions{Config: "raw_storage_endpoint = true\n"}))
	setUpEngine(t, s)
	s.cli("write", "wg/roles/laptop", "gateway=gw1", "ttl=1h")
	s.cli("auth", "enable", "approle")
	roleID, secretID := gatewayAppRole(t, s, t.TempDir())
	ns := newNetns(t)
	gwIf := newWG(t, ns, "10.77.0.1/16", 0)
	daemon := startGateway(t, s.addr, "-gateway", "gw1", "-interface", gwIf.name,
		"-role-id-file", roleID, "-secret-id-file", secretID, "-poll-wait", "5s")
	daemon.waitHealthy()

	issued := issueMany(t, s.root, "laptop", 60)
	s.cli("write", "-f", "wg/tidy")
	require.Empty(t, mountEntries(t, s, "certs/"), "loose records after tidy, which packs them and deletes the loose copies")
	require.NotEmpty(t, mountEntries(t, s, "certpacks/"))

	gone, live := issued[7], issued[8:]
	goneKey := certKey(t, s, gone)
	s.cli("lease", "revoke", gone.LeaseID)
	requireRevoked(t, s, gone.Data["serial_number"].(string))
	require.Len(t, mountEntries(t, s, "revocations/"), 1, "the revocation is journaled")
	requireGatewayHas(t, s, gwIf, live, goneKey)

	for round := range 2 {
		if round == 1 {
			s.cli("write", "-f", "wg/tidy")
			require.Empty(t, mountEntries(t, s, "revocations/"), "the revocation is in its pack")
		}
		s.cli("plugin", "reload", "-plugin="+pluginName)
		require.Eventually(t, func() bool {
			_, err := s.root.Logical().Read("wg/gateways/gw1/peers")
			return err == nil
		}, 60*time.Second, 50*time.Millisecond, "the mount does not serve after the reload")
		requireAllRevoked(t, &vaultNode{s}, []*vault.Secret{gone})
		requireGatewayHas(t, s, gwIf, live, goneKey)
	}
}

// requireGatewayHas waits until the gateway applied a certificate issued
// now, then checks that it has the peers of live and not gone.
func requireGatewayHas(t *testing.T, s *vaultServer, gwIf *wgIface, live []*vault.Secret, gone wgtypes.Key) {
	t.Helper()
	probe := mustPub(t)
	_, err := s.root.Logical().Write("wg/issue/laptop", map[string]any{"public_key": probe})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return gwIf.hasPeer(t, mustKey(t, probe)) }, 30*time.Second, 10*time.Millisecond,
		"the gateway did not apply a certificate issued now")
	on := map[wgtypes.Key]bool{}
	for _, p := range gwIf.peers(t) {
		on[p.PublicKey] = true
	}
	require.False(t, on[gone], "the revoked certificate's peer is on the gateway")
	for _, sec := range live {
		require.True(t, on[certKey(t, s, sec)], "live peer %s missing", sec.Data["serial_number"])
	}
}

// certKey is the WireGuard key of an issued certificate, as cert/ says.
func certKey(t *testing.T, s *vaultServer, sec *vault.Secret) wgtypes.Key {
	t.Helper()
	rec, err := s.root.Logical().Read("wg/cert/" + sec.Data["serial_number"].(string))
	require.NoError(t, err)
	return mustKey(t, rec.Data["public_key"].(string))
}
