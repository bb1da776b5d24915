package test

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	vault "github.com/hashicorp/vault/api"
	"github.com/stretchr/testify/require"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// gatewayOnly is a Vault with the engine and wg-gateway managing a
// wireguard-go interface in a namespace, reached through a proxy that can
// cut Vault off; no device, the assertions are on the interface's peers.
type gatewayOnly struct {
	vault  *vaultServer
	gwIf   *wgIface
	daemon *gatewayProc
	proxy  *feedTamperer
}

func newGatewayOnly(t *testing.T) *gatewayOnly {
	t.Helper()
	return newGatewayOnlyWith(t, nil)
}

// newGatewayOnlyWith is newGatewayOnly with more arguments for the daemon,
// made by args (if not nil) once Vault and the engine are set up.
func newGatewayOnlyWith(t *testing.T, args func(*vaultServer) []string) *gatewayOnly {
	t.Helper()
	requireNetTools(t)
	g := &gatewayOnly{vault: startVault(t)}
	s := g.vault
	setUpEngine(t, s)
	s.cli("write", "wg/roles/laptop", "gateway=gw1", "ttl=1h")
	s.cli("auth", "enable", "approle")
	roleID, secretID := gatewayAppRole(t, s, t.TempDir())
	g.gwIf = newWG(t, newNetns(t), "10.77.0.1/16", 0)
	g.proxy = newFeedTamperer(t, s.addr)
	daemonArgs := []string{"-gateway", "gw1", "-interface", g.gwIf.name,
		"-role-id-file", roleID, "-secret-id-file", secretID, "-poll-wait", "30s"}
	if args != nil {
		daemonArgs = append(daemonArgs, args(s)...)
	}
	g.daemon = startGateway(t, g.proxy.url, daemonArgs...)
	g.daemon.waitHealthy()
	return g
}

// issue issues a certificate for a fresh key, valid for ttl ("" for the
// role's), and returns the key and the answer.
func (g *gatewayOnly) issue(t *testing.T, ttl string) (wgtypes.Key, *vault.Secret) {
	t.Helper()
	_, pub, err := wgtypesGenerate()
	require.NoError(t, err)
	data := map[string]any{"public_key": pub.String()}
	if ttl != "" {
		data["ttl"] = ttl
	}
	sec, err := g.vault.root.Logical().Write("wg/issue/laptop", data)
	require.NoError(t, err)
	return pub, sec
}

// interfaceKeys returns the keys of the interface's peers.
func (g *gatewayOnly) interfaceKeys(t *testing.T) map[wgtypes.Key]bool {
	out := map[wgtypes.Key]bool{}
	for _, p := range g.gwIf.peers(t) {
		out[p.PublicKey] = true
	}
	return out
}

// equalKeys reports whether the interface holds exactly want.
func (g *gatewayOnly) equalKeys(t *testing.T, want map[wgtypes.Key]bool) bool {
	have := g.interfaceKeys(t)
	if len(have) != len(want) {
		return false
	}
	for k := range want {
		if !have[k] {
			return false
		}
	}
	return true
}

// TestGatewayCrashes kills wg-gateway with SIGKILL at 50 random moments
// during 1,000 mixed issue and revoke operations, restarting it each time.
// At the end the interface holds exactly the live, unrevoked peers.
func TestGatewayCrashes(t *testing.T) {
	g := newGatewayOnly(t)
	live := map[wgtypes.Key]*vault.Secret{}
	var keys []wgtypes.Key
	const ops, kills = 1000, 50
	killAt := map[int]bool{}
	for len(killAt) < kills {
		killAt[rand.IntN(ops)] = true
	}
	revocations := 0
	for i := range ops {
		if i%3 == 2 && len(keys) > 0 {
			j := rand.IntN(len(keys))
			k := keys[j]
			keys[j] = keys[len(keys)-1]
			keys = keys[:len(keys)-1]
			require.NoError(t, g.vault.root.Sys().Revoke(live[k].LeaseID))
			delete(live, k)
			revocations++
		} else {
			k, sec := g.issue(t, "")
			live[k] = sec
			keys = append(keys, k)
		}
		if killAt[i] {
			g.daemon.kill()
			g.daemon.start()
		}
	}
	want := map[wgtypes.Key]bool{}
	for k := range live {
		want[k] = true
	}
	require.Eventually(t, func() bool { return g.equalKeys(t, want) }, 30*time.Second, 50*time.Millisecond,
		"after %d kills the interface does not equal the %d live peers (has %d)", kills, len(want), len(g.interfaceKeys(t)))
	t.Logf("%d operations (%d revocations), %d SIGKILLs of wg-gateway: interface equals the %d live peers",
		ops, revocations, kills, len(want))
}

// TestGatewayPartition cuts wg-gateway off from Vault for longer than some
// certificates live: those peers leave on time, the others stay, and when
// Vault is reachable again the gateway catches up without a restart.
func TestGatewayPartition(t *testing.T) {
	g := newGatewayOnly(t)
	longKey, _ := g.issue(t, "")
	shortKey, short := g.issue(t, "6s")
	require.Eventually(t, func() bool {
		k := g.interfaceKeys(t)
		return k[longKey] && k[shortKey]
	}, 5*time.Second, 10*time.Millisecond)

	g.proxy.partition(true)
	// Changes Vault makes while the gateway cannot see them.
	revokedKey, revoked := g.issue(t, "")
	require.NoError(t, g.vault.root.Sys().Revoke(revoked.LeaseID))
	laterKey, _ := g.issue(t, "")

	notAfter := time.Unix(jsonInt(t, short.Data["expiration"]), 0)
	require.Eventually(t, func() bool { return !g.interfaceKeys(t)[shortKey] }, time.Until(notAfter)+2*time.Second, 20*time.Millisecond,
		"the expired peer stayed during the partition")
	require.True(t, g.interfaceKeys(t)[longKey], "a valid peer left during the partition")
	require.False(t, g.interfaceKeys(t)[revokedKey])

	g.proxy.partition(false)
	require.Eventually(t, func() bool {
		return g.equalKeys(t, map[wgtypes.Key]bool{longKey: true, laterKey: true})
	}, 20*time.Second, 50*time.Millisecond, "the gateway did not converge after the partition")
}

// TestGatewayCAFileReload takes a CA out of -ca-file and sends SIGHUP: the
// daemon no longer trusts it, and the peers it signed leave; put back, they
// return.
func TestGatewayCAFileReload(t *testing.T) {
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	_, otherCA := foreignEntry(t)
	var mountCA string
	g := newGatewayOnlyWith(t, func(s *vaultServer) []string {
		mountCA = mountCAPEM(t, s)
		require.NoError(t, os.WriteFile(caFile, []byte(mountCA+otherCA), 0o644))
		return []string{"-ca-file", caFile}
	})
	key, _ := g.issue(t, "")
	require.Eventually(t, func() bool { return g.interfaceKeys(t)[key] }, 5*time.Second, 10*time.Millisecond)

	require.NoError(t, os.WriteFile(caFile, []byte(otherCA), 0o644))
	g.daemon.hup()
	require.Eventually(t, func() bool { return !g.interfaceKeys(t)[key] }, 10*time.Second, 10*time.Millisecond,
		"the peer of a CA taken out of -ca-file stayed after SIGHUP")

	require.NoError(t, os.WriteFile(caFile, []byte(mountCA), 0o644))
	g.daemon.hup()
	require.Eventually(t, func() bool { return g.interfaceKeys(t)[key] }, 10*time.Second, 10*time.Millisecond,
		"the peer did not come back when its CA was put back")
}

// TestGatewayFollowsCARotation rotates the engine's CA under a gateway that
// pinned the first one: the new CA is trusted through its cross-signature,
// the first certificate it signs reaches the interface within seconds (not
// at the next periodic resync), and the old CA's peers stay.
func TestGatewayFollowsCARotation(t *testing.T) {
	g := newGatewayOnly(t)
	oldKey, _ := g.issue(t, "")
	require.Eventually(t, func() bool { return g.interfaceKeys(t)[oldKey] }, 5*time.Second, 10*time.Millisecond)

	g.vault.cli("write", "wg/config/ca", "common_name=Test CA 2")
	newKey, _ := g.issue(t, "")
	require.Eventually(t, func() bool { return g.equalKeys(t, map[wgtypes.Key]bool{oldKey: true, newKey: true}) },
		10*time.Second, 20*time.Millisecond, "the first certificate of the rotated CA never reached the interface:\n%s", g.daemon.out)
	require.Contains(t, g.daemon.out.String(), "trusting a new CA, cross-signed by a pinned one")
	require.Zero(t, g.daemon.metric("wg_gateway_ca_refused_total"))
}
