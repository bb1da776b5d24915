package test

import (
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// A confirmSite is one gateway daemon on its own wireguard-go interface,
// with a device interface of its own that tunnels to it.
type confirmSite struct {
	gateway, instance string
	tunnelIP, pool    string
	gwNS, devNS       *netns
	gwIf, devIf       *wgIface
	daemon            *gatewayProc
}

// reaches pings the site's gateway through the tunnel.
func (c *confirmSite) reaches() bool { return c.devNS.canPing(c.tunnelIP, 700*time.Millisecond) }

// confirmAnswer is the data of `vault write -format=json wg/revoke … confirm=…`.
type confirmAnswer struct {
	SerialNumbers []string         `json:"serial_numbers"`
	Enforced      bool             `json:"enforced"`
	Instances     []string         `json:"instances"`
	Laggards      []map[string]any `json:"laggards"`
	Stale         []map[string]any `json:"stale"`
}

// TestRevokeConfirmCutsOffEverywhere: an identity holds certificates on
// two gateways, gw1 followed by two wg-gateway daemons and gw2 by one, and
// tunnels through all three. One `vault write wg/revoke entity_id=…
// confirm=10s` cuts it off: the answer says enforced and names the three
// instances, and at that moment no ping passes on any tunnel. With one
// daemon stopped, the answer comes at the end of confirm, enforced false,
// naming the stopped one as a laggard; a stale instance is listed apart
// and does not hold the answer back.
func TestRevokeConfirmCutsOffEverywhere(t *testing.T) {
	requireNetTools(t)
	s := startVault(t)
	dir := t.TempDir()
	s.cli("write", "wg/config/ca", "common_name=Confirm Test CA")
	s.cli("auth", "enable", "approle")

	sites := []*confirmSite{
		{gateway: "gw1", instance: "gw1-a", tunnelIP: "10.77.0.1", pool: "10.77.0.0/24"},
		{gateway: "gw1", instance: "gw1-b", tunnelIP: "10.77.0.1", pool: "10.77.0.0/24"},
		{gateway: "gw2", instance: "gw2-a", tunnelIP: "10.88.0.1", pool: "10.88.0.0/24"},
	}
	gatewayPolicy, err := os.ReadFile("../scripts/policies/gateway-gw1.hcl")
	require.NoError(t, err)
	keyFiles := map[string]string{} // by gateway: the first site's interface key
	for _, c := range sites {
		c.gwNS, c.devNS = newNetns(t), newNetns(t)
		linkVeth(t, c.gwNS, c.devNS, gatewayVethIP+"/24", deviceVethIP+"/24")
		c.gwIf = newWG(t, c.gwNS, c.tunnelIP+"/24", 0)
		c.devIf = newWG(t, c.devNS, "", 0)
		if keyFiles[c.gateway] != "" {
			continue
		}
		keyFiles[c.gateway] = filepath.Join(dir, c.gateway+".key")
		require.NoError(t, os.WriteFile(keyFiles[c.gateway], []byte(c.gwIf.private.String()+"\n"), 0o600))
		s.cli("write", "wg/gateways/"+c.gateway, "endpoint="+net.JoinHostPort(gatewayVethIP, "51820"),
			"public_key="+c.gwIf.public.String(), "address="+c.tunnelIP, "address_pool="+c.pool)
		s.cli("write", "wg/roles/laptop-"+c.gateway, "gateway="+c.gateway, "ttl=1h")
		policy := strings.ReplaceAll(string(gatewayPolicy), "gw1", c.gateway)
		require.NoError(t, s.root.Sys().PutPolicy("gateway-"+c.gateway, policy))
		s.cli("write", "auth/approle/role/gateway-"+c.gateway, "token_policies=gateway-"+c.gateway, "token_ttl=1h")
	}
	// Both daemons of gw1 hold gw1's key (wg-gateway sets it on its
	// interface), as two instances serving one gateway do.
	for _, c := range sites {
		creds := filepath.Join(dir, c.instance)
		require.NoError(t, os.Mkdir(creds, 0o700))
		roleID, secretID := writeAppRoleCredentials(t, s, creds, "gateway-"+c.gateway, false)
		c.daemon = startGateway(t, s.addr, "-gateway", c.gateway, "-interface", c.gwIf.name,
			"-private-key-file", keyFiles[c.gateway], "-role-id-file", roleID, "-secret-id-file", secretID,
			"-poll-wait", "30s", "-instance-id", c.instance)
	}
	for _, c := range sites {
		c.daemon.waitHealthy()
	}

	// The identity: one AppRole login, allowed to issue on both gateways.
	require.NoError(t, s.root.Sys().PutPolicy("laptop", `
path "wg/issue/laptop-gw1" { capabilities = ["update"] }
path "wg/issue/laptop-gw2" { capabilities = ["update"] }`))
	device := approleLogin(t, s, "laptop", "laptop")
	self, err := device.Auth().Token().LookupSelf()
	require.NoError(t, err)
	entityID, _ := self.Data["entity_id"].(string)
	require.NotEmpty(t, entityID)
	devKey, err := wgtypes.GeneratePrivateKey()
	require.NoError(t, err)
	issueEverywhere := func() (leases map[string]string) {
		t.Helper()
		addrs, leases := map[string][]any{}, map[string]string{}
		for _, gw := range []string{"gw1", "gw2"} {
			sec, err := device.Logical().Write("wg/issue/laptop-"+gw, map[string]any{"public_key": devKey.PublicKey().String()})
			require.NoError(t, err)
			addrs[gw] = sec.Data["addresses"].([]any)
			leases[gw] = sec.LeaseID
		}
		for _, c := range sites {
			require.NoError(t, c.devIf.Client.ConfigureDevice(c.devIf.name, wgtypes.Config{PrivateKey: &devKey}))
			for _, a := range addrs[c.gateway] {
				c.devNS.mustExec(t, "ip", "addr", "replace", a.(string), "dev", c.devIf.name)
			}
			gwKey, err := wgtypes.ParseKey(strings.TrimSpace(mustRead(t, keyFiles[c.gateway])))
			require.NoError(t, err)
			if c.devIf.hasPeer(t, gwKey.PublicKey()) {
				c.devIf.removePeer(t, gwKey.PublicKey()) // a fresh session, as after wg-quick down and up
			}
			c.devIf.addPeer(t, gwKey.PublicKey(), &net.UDPAddr{IP: net.ParseIP(gatewayVethIP), Port: c.gwIf.port}, []string{c.pool}, 0)
		}
		return leases
	}
	revoke := func(confirm string) (confirmAnswer, time.Duration) {
		t.Helper()
		start := time.Now()
		out := s.cli("write", "-format=json", "wg/revoke", "entity_id="+entityID, "confirm="+confirm)
		took := time.Since(start)
		var resp struct {
			Data confirmAnswer `json:"data"`
		}
		require.NoError(t, json.Unmarshal([]byte(out), &resp), out)
		return resp.Data, took
	}

	// 1. Tunnels through all three daemons.
	issueEverywhere()
	for _, c := range sites {
		require.Eventually(t, c.reaches, 20*time.Second, 100*time.Millisecond, "the device never reached %s", c.instance)
	}

	// 2. One revoke with confirm: enforced on the three instances, and
	// nothing passes any more on any tunnel when the answer is there.
	answer, took := revoke("10s")
	t.Logf("revoke … confirm=10s answered in %s (CLI start-up included): %+v", took, answer)
	require.Len(t, answer.SerialNumbers, 2, "one certificate on each gateway")
	require.True(t, answer.Enforced)
	require.Equal(t, []string{"gw1/gw1-a", "gw1/gw1-b", "gw2/gw2-a"}, answer.Instances)
	require.Empty(t, answer.Laggards)
	require.Empty(t, answer.Stale)
	for _, c := range sites {
		require.False(t, c.gwIf.hasPeer(t, devKey.PublicKey()), "%s still holds the device", c.instance)
	}
	for _, c := range sites {
		require.False(t, c.reaches(), "a ping passed through %s after the enforced answer", c.instance)
	}

	// 3. With gw1-b's daemon stopped, the answer waits out confirm and
	// names it: it still counts (its last report is recent) but has not
	// applied the revocation.
	stopped := sites[1]
	require.True(t, stopped.daemon.stop(), "SIGTERM stops wg-gateway cleanly")
	issueEverywhere()
	for _, c := range []*confirmSite{sites[0], sites[2]} {
		require.Eventually(t, c.reaches, 20*time.Second, 100*time.Millisecond, "the device never reached %s again", c.instance)
	}
	answer, took = revoke("2s")
	t.Logf("with %s stopped, revoke … confirm=2s answered in %s: %+v", stopped.instance, took, answer)
	require.False(t, answer.Enforced)
	require.GreaterOrEqual(t, took, 2*time.Second, "a laggard holds the answer until confirm ends")
	require.Equal(t, []string{"gw1/gw1-a", "gw2/gw2-a"}, answer.Instances)
	require.Len(t, answer.Laggards, 1)
	laggard := answer.Laggards[0]
	require.Equal(t, "gw1", laggard["gateway"])
	require.Equal(t, stopped.instance, laggard["instance_id"])
	require.Less(t, laggard["applied_index"].(float64), laggard["index"].(float64))
	require.NotEmpty(t, laggard["last_report"])
	for _, c := range []*confirmSite{sites[0], sites[2]} {
		require.False(t, c.reaches(), "a ping passed through %s after the revocation", c.instance)
	}

	// 4. A stale instance does not hold the answer back. gw1-b is retired
	// (its status deleted); gw1-c, which reports every second, runs once
	// and stops, and turns stale after 3 missed reports.
	s.cli("delete", "wg/gateways/gw1/status/gw1-b")
	creds := filepath.Join(dir, "gw1-c")
	require.NoError(t, os.Mkdir(creds, 0o700))
	roleID, secretID := writeAppRoleCredentials(t, s, creds, "gateway-gw1", false)
	retired := startGateway(t, s.addr, "-gateway", "gw1", "-interface", stopped.gwIf.name,
		"-private-key-file", keyFiles["gw1"], "-role-id-file", roleID, "-secret-id-file", secretID,
		"-poll-wait", "30s", "-instance-id", "gw1-c", "-resync-interval", "1s")
	retired.waitHealthy()
	require.True(t, retired.stop())
	require.Eventually(t, func() bool {
		st, err := s.root.Logical().Read("wg/gateways/gw1/status")
		if err != nil || st == nil {
			return false
		}
		inst, ok := st.Data["instances"].(map[string]any)["gw1-c"].(map[string]any)
		return ok && inst["stale"] == true
	}, 10*time.Second, 100*time.Millisecond, "gw1-c never turned stale")
	issueEverywhere()
	for _, c := range []*confirmSite{sites[0], sites[2]} {
		require.Eventually(t, c.reaches, 20*time.Second, 100*time.Millisecond, "the device never reached %s again", c.instance)
	}
	answer, took = revoke("10s")
	t.Logf("with gw1-c stale, revoke … confirm=10s answered in %s: %+v", took, answer)
	require.True(t, answer.Enforced)
	require.Less(t, took, 5*time.Second, "the stale instance held the answer back")
	require.Equal(t, []string{"gw1/gw1-a", "gw2/gw2-a"}, answer.Instances)
	require.Len(t, answer.Stale, 1)
	require.Equal(t, "gw1-c", answer.Stale[0]["instance_id"])
	for _, c := range []*confirmSite{sites[0], sites[2]} {
		require.False(t, c.reaches(), "a ping passed through %s after the enforced answer", c.instance)
	}

	// 5. After `vault lease revoke`, the status read waits for the index
	// the revocation reached.
	leases := issueEverywhere()
	require.Eventually(t, sites[2].reaches, 20*time.Second, 100*time.Millisecond, "the device never reached gw2 again")
	s.cli("lease", "revoke", leases["gw2"])
	var status struct {
		Data struct {
			Index    json.Number `json:"index"`
			Target   json.Number `json:"target_index"`
			Enforced bool        `json:"enforced"`
		} `json:"data"`
	}
	require.NoError(t, json.Unmarshal([]byte(s.cli("read", "-format=json", "wg/gateways/gw2/status")), &status))
	index := status.Data.Index.String()
	out := s.cli("read", "-format=json", "wg/gateways/gw2/status", "index="+index, "wait=10s")
	require.NoError(t, json.Unmarshal([]byte(out), &status), out)
	require.True(t, status.Data.Enforced, out)
	require.Equal(t, index, status.Data.Target.String())
	require.False(t, sites[2].gwIf.hasPeer(t, devKey.PublicKey()), "enforced, yet gw2 holds the device")
	require.False(t, sites[2].reaches(), "a ping passed through gw2 after the enforced answer")
}

// mustRead returns a file's content.
func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return string(b)
}
