package test

import (
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	vault "github.com/hashicorp/vault/api"
	"github.com/stretchr/testify/require"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/backend/peerfeed"
	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/backend/wgcert"
)

// tunnelTest is a gateway and a device in their own network namespaces,
// joined by a veth pair, each with a wireguard-go interface, a Vault with
// the engine, and wg-gateway managing the gateway's interface.
type tunnelTest struct {
	t        *testing.T
	vault    *vaultServer
	gwNS     *netns
	devNS    *netns
	gwIf     *wgIface
	devIf    *wgIface
	device   *vault.Client // an AppRole device limited to wg/issue/laptop
	daemon   *gatewayProc
	tamperer *feedTamperer
	dir      string
}

const (
	gatewayTunnelIP = "10.77.0.1"
	gatewayVethIP   = "10.250.0.1"
	deviceVethIP    = "10.250.0.2"
)

// tunnelOptions vary how the gateway daemon logs in.
type tunnelOptions struct {
	// tokenTTL and tokenMaxTTL of the gateway's AppRole tokens (1h, none).
	tokenTTL, tokenMaxTTL string
	// wrapSecretID hands the daemon a response-wrapped secret id.
	wrapSecretID bool
}

func newTunnelTest(t *testing.T, daemonArgs ...string) *tunnelTest {
	t.Helper()
	return newTunnelTestWith(t, tunnelOptions{tokenTTL: "1h"}, daemonArgs...)
}

func newTunnelTestWith(t *testing.T, opts tunnelOptions, daemonArgs ...string) *tunnelTest {
	t.Helper()
	requireNetTools(t)
	tt := &tunnelTest{t: t, dir: t.TempDir()}
	tt.vault = startVault(t)
	tt.gwNS, tt.devNS = newNetns(t), newNetns(t)
	linkVeth(t, tt.gwNS, tt.devNS, gatewayVethIP+"/24", deviceVethIP+"/24")
	tt.gwIf = newWG(t, tt.gwNS, gatewayTunnelIP+"/24", 0)
	tt.devIf = newWG(t, tt.devNS, "", 0)

	s := tt.vault
	s.cli("write", "wg/config/ca", "common_name=Tunnel Test CA")
	s.cli("write", "wg/gateways/gw1", "endpoint="+net.JoinHostPort(gatewayVethIP, strconv.Itoa(tt.gwIf.port)),
		"public_key="+tt.gwIf.public.String(), "address="+gatewayTunnelIP, "address_pool=10.77.0.0/24")
	_, otherGW, _ := wgtypesGenerate()
	s.cli("write", "wg/gateways/gw2", "endpoint=198.51.100.2:51820", "public_key="+otherGW.String(),
		"address_pool=10.88.0.0/24")
	s.cli("write", "wg/roles/laptop", "gateway=gw1", "ttl=1h")
	s.cli("write", "wg/roles/gw2-laptop", "gateway=gw2", "ttl=1h")
	s.cli("auth", "enable", "approle")

	// The gateway logs in with the policy shipped in the repo.
	policy, err := os.ReadFile("../scripts/policies/gateway-gw1.hcl")
	require.NoError(t, err)
	require.NoError(t, s.root.Sys().PutPolicy("gateway-gw1", string(policy)))
	roleArgs := []string{"write", "auth/approle/role/gateway-gw1", "token_policies=gateway-gw1", "token_ttl=" + opts.tokenTTL}
	if opts.tokenMaxTTL != "" {
		roleArgs = append(roleArgs, "token_max_ttl="+opts.tokenMaxTTL)
	}
	s.cli(roleArgs...)
	roleID, secretID := tt.approleCredentials("gateway-gw1", opts.wrapSecretID)
	devicePolicy, err := os.ReadFile("../scripts/policies/device-laptop.hcl")
	require.NoError(t, err)
	require.NoError(t, s.root.Sys().PutPolicy("device", string(devicePolicy)))
	tt.device = approleLogin(t, s, "laptop", "device")

	keyFile := filepath.Join(tt.dir, "gateway.key")
	require.NoError(t, os.WriteFile(keyFile, []byte(tt.gwIf.private.String()+"\n"), 0o600))
	tt.tamperer = newFeedTamperer(t, s.addr)
	args := append([]string{
		"-gateway", "gw1", "-interface", tt.gwIf.name, "-private-key-file", keyFile,
		"-role-id-file", roleID, "-secret-id-file", secretID, "-poll-wait", "30s",
	}, daemonArgs...)
	tt.daemon = startGateway(t, tt.tamperer.url, args...)
	tt.daemon.waitHealthy()

	tt.connectDevice()
	return tt
}

// connectDevice gives the device the gateway as its peer, as its wg-quick
// configuration does.
func (tt *tunnelTest) connectDevice() {
	endpoint := &net.UDPAddr{IP: net.ParseIP(gatewayVethIP), Port: tt.gwIf.port}
	tt.devIf.addPeer(tt.t, tt.gwIf.public, endpoint, []string{"10.77.0.0/24"}, 0)
}

// approleCredentials writes a role's role_id and a secret_id to files.
func (tt *tunnelTest) approleCredentials(role string, wrap bool) (roleIDFile, secretIDFile string) {
	tt.t.Helper()
	return writeAppRoleCredentials(tt.t, tt.vault, tt.dir, role, wrap)
}

// writeAppRoleCredentials writes a role's role_id and a secret_id to files
// in dir; with wrap, the secret id file holds a response-wrapping token for
// it, as a provisioning system would hand it over.
func writeAppRoleCredentials(t *testing.T, s *vaultServer, dir, role string, wrap bool) (roleIDFile, secretIDFile string) {
	t.Helper()
	r, err := s.root.Logical().Read("auth/approle/role/" + role + "/role-id")
	require.NoError(t, err)
	issuer := s.client(s.root.Token())
	if wrap {
		issuer.SetWrappingLookupFunc(func(string, string) string { return "5m" })
	}
	sec, err := issuer.Logical().Write("auth/approle/role/"+role+"/secret-id", nil)
	require.NoError(t, err)
	secretID := ""
	if wrap {
		require.NotNil(t, sec.WrapInfo)
		secretID = sec.WrapInfo.Token
	} else {
		secretID = sec.Data["secret_id"].(string)
	}
	roleIDFile, secretIDFile = filepath.Join(dir, role+".role-id"), filepath.Join(dir, role+".secret-id")
	require.NoError(t, os.WriteFile(roleIDFile, []byte(r.Data["role_id"].(string)), 0o600))
	require.NoError(t, os.WriteFile(secretIDFile, []byte(secretID), 0o600))
	return roleIDFile, secretIDFile
}

// gatewayAppRole sets up the AppRole role gateway-gw1 with the gateway
// policy shipped in the repo (tokens of an hour; approle must be enabled)
// and writes its credentials to files in dir.
func gatewayAppRole(t *testing.T, s *vaultServer, dir string) (roleIDFile, secretIDFile string) {
	t.Helper()
	policy, err := os.ReadFile("../scripts/policies/gateway-gw1.hcl")
	require.NoError(t, err)
	require.NoError(t, s.root.Sys().PutPolicy("gateway-gw1", string(policy)))
	s.cli("write", "auth/approle/role/gateway-gw1", "token_policies=gateway-gw1", "token_ttl=1h")
	return writeAppRoleCredentials(t, s, dir, "gateway-gw1", false)
}

// issue has the device issue a certificate for its interface's key and
// applies the answer to the device's interface, as wg-quick would.
func (tt *tunnelTest) issue(ttl string) *vault.Secret {
	tt.t.Helper()
	data := map[string]any{"public_key": tt.devIf.public.String()}
	if ttl != "" {
		data["ttl"] = ttl
	}
	sec, err := tt.device.Logical().Write("wg/issue/laptop", data)
	require.NoError(tt.t, err)
	require.Equal(tt.t, tt.gwIf.public.String(), sec.Data["gateway_public_key"])
	require.Contains(tt.t, sec.Data["wg_quick"], "Endpoint = "+sec.Data["endpoint"].(string))
	for _, a := range sec.Data["addresses"].([]any) {
		tt.devNS.mustExec(tt.t, "ip", "addr", "replace", a.(string), "dev", tt.devIf.name)
	}
	// A fresh peer, as after wg-quick down and up: no stale session with a
	// gateway that dropped and re-added the device.
	tt.devIf.removePeer(tt.t, tt.gwIf.public)
	tt.connectDevice()
	return sec
}

func (tt *tunnelTest) gatewayHasDevice() bool { return tt.gwIf.hasPeer(tt.t, tt.devIf.public) }

// canReachGateway pings the gateway's tunnel address from the device.
func (tt *tunnelTest) canReachGateway() bool {
	return tt.devNS.canPing(gatewayTunnelIP, 700*time.Millisecond)
}

// eventuallyReaches waits for a ping to pass; the first handshake after a
// refused one can take WireGuard's 5 s rekey timeout.
func (tt *tunnelTest) eventuallyReaches() {
	tt.t.Helper()
	require.Eventually(tt.t, tt.canReachGateway, 20*time.Second, 100*time.Millisecond, "the device never reached the gateway")
}

// TestGatewayEnforcesCertificates proves with real tunnels that wg-gateway
// lets a device in when it holds a certificate and cuts it off when the
// certificate is revoked (also while the daemon was down), expires (also
// while Vault is down), or was never valid for this gateway.
func TestGatewayEnforcesCertificates(t *testing.T) {
	tt := newTunnelTest(t)
	s := tt.vault

	// 1. Before any certificate the device cannot reach the gateway.
	require.False(t, tt.canReachGateway(), "reached the gateway without a certificate")

	// 2. After issuing, it can.
	first := tt.issue("")
	require.Eventually(t, tt.gatewayHasDevice, 5*time.Second, 10*time.Millisecond)
	tt.eventuallyReaches()
	require.Contains(t, tt.gwIf.wgShow(t), tt.devIf.public.String())

	// 3. vault lease revoke cuts it off at once.
	revoked := time.Now()
	s.cli("lease", "revoke", first.LeaseID)
	require.Eventually(t, func() bool { return !tt.gatewayHasDevice() }, 2*time.Second, time.Millisecond)
	t.Logf("revocation enforced %v after `vault lease revoke` started", time.Since(revoked))
	require.NotContains(t, tt.gwIf.wgShow(t), tt.devIf.public.String())
	require.False(t, tt.canReachGateway(), "reached the gateway after revocation")
	status := tt.waitEnforced()
	require.Equal(t, int64(0), jsonInt(t, status.Data["live_peers"]))

	// 4. A revocation made while the daemon is stopped is enforced when it
	// starts again.
	second := tt.issue("")
	require.Eventually(t, tt.gatewayHasDevice, 5*time.Second, 10*time.Millisecond)
	require.True(t, tt.daemon.stop(), "SIGTERM stops wg-gateway cleanly")
	s.cli("lease", "revoke", second.LeaseID)
	require.True(t, tt.gatewayHasDevice(), "nothing removes the peer while the daemon is down")
	tt.daemon.start()
	require.Eventually(t, func() bool { return !tt.gatewayHasDevice() }, 10*time.Second, 10*time.Millisecond,
		"the revocation made while the daemon was down was not enforced")
	tt.daemon.waitHealthy()

	// 6. Entries whose certificate is signed by another CA, bound to another
	// gateway, expired, or for another key than the entry's are never
	// applied, even on the gateway's own feed.
	foreign, foreignCA := foreignEntry(t)
	otherGW, err := s.root.Logical().Write("wg/issue/gw2-laptop", map[string]any{"public_key": mustPub(t)})
	require.NoError(t, err)
	expired, err := s.root.Logical().Write("wg/issue/laptop", map[string]any{"public_key": mustPub(t), "ttl": "1s"})
	require.NoError(t, err)
	mine, err := s.root.Logical().Write("wg/issue/laptop", map[string]any{"public_key": mustPub(t)})
	require.NoError(t, err)
	require.NoError(t, s.root.Sys().Revoke(mine.LeaseID)) // its certificate still verifies
	// The 1s certificate is past its NotAfter, and Vault has ended its
	// lease (which takes the address back).
	expiredAt := time.Unix(jsonInt(t, expired.Data["expiration"]), 0)
	require.Eventually(t, func() bool {
		rec, err := s.root.Logical().Read("wg/cert/" + expired.Data["serial_number"].(string))
		return time.Now().After(expiredAt) && err == nil && rec != nil && rec.Data["revoked"] == true
	}, 10*time.Second, 20*time.Millisecond, "the 1s certificate's lease did not end")
	asEntry := func(sec *vault.Secret, key string) peerfeed.Peer {
		return peerfeed.Peer{
			SerialNumber: sec.Data["serial_number"].(string), PublicKey: key,
			AllowedIPs: []string{"10.77.0.99/32"}, Certificate: sec.Data["certificate"].(string),
		}
	}
	tt.tamperer.set([]peerfeed.Peer{
		foreign,
		asEntry(otherGW, otherGW.Data["public_key"].(string)),
		asEntry(expired, expired.Data["public_key"].(string)),
		asEntry(mine, mustPub(t)), // a valid certificate offered for another key
	})
	third := tt.issue("") // a change, so the feed answers (with the injected entries)
	require.Eventually(t, tt.gatewayHasDevice, 5*time.Second, 10*time.Millisecond)
	for _, p := range tt.gwIf.peers(t) {
		require.Equal(t, tt.devIf.public, p.PublicKey, "only the certified device is on the interface")
	}
	require.Eventually(t, func() bool {
		_, metrics := tt.daemon.get("/metrics")
		for _, reason := range []string{"authority", "gateway", "expired", "key_mismatch"} {
			if !strings.Contains(metrics, `wg_gateway_rejected_certificates_total{reason="`+reason+`"}`) {
				return false
			}
		}
		return true
	}, 5*time.Second, 50*time.Millisecond, "rejections are counted by reason")

	// 7. The proxy also serves its own CA in ca/pem, beside the mount's: a
	// full resync (SIGHUP) does not make the daemon trust it, nor does a
	// restart (the CA was pinned on first contact).
	tt.tamperer.addCA(foreignCA)
	foreignKey, err := wgtypes.ParseKey(foreign.PublicKey)
	require.NoError(t, err)
	authority := `wg_gateway_rejected_certificates_total{reason="authority"}`
	foreignOrRejected := func(before float64) func() bool {
		return func() bool { return tt.gwIf.hasPeer(t, foreignKey) || tt.daemon.metric(authority) > before }
	}
	before := tt.daemon.metric(authority)
	tt.daemon.hup()
	require.Eventually(t, foreignOrRejected(before), 10*time.Second, 20*time.Millisecond, "no full resync after SIGHUP")
	require.False(t, tt.gwIf.hasPeer(t, foreignKey), "the peer signed by the proxy's CA reached the interface after a resync")
	// A delta poll in flight when the signal came (the proxy adds its
	// entries to every answer) may have counted the rejection before the
	// resync read ca/pem.
	require.Eventually(t, func() bool { return tt.daemon.metric("wg_gateway_ca_refused_total") >= 1 },
		10*time.Second, 20*time.Millisecond, "the proxy's CA is counted as refused")
	require.True(t, tt.daemon.stop())
	tt.daemon.start()
	tt.daemon.waitHealthy()
	require.Eventually(t, foreignOrRejected(0), 10*time.Second, 20*time.Millisecond, "no full sync after the restart")
	require.False(t, tt.gwIf.hasPeer(t, foreignKey), "the peer signed by the proxy's CA reached the interface after a restart")
	require.True(t, tt.gatewayHasDevice(), "the certified device left")
	mountCAs, err := wgcert.ParseCertificatesPEM([]byte(mountCAPEM(t, s)))
	require.NoError(t, err)
	require.Equal(t, float64(mountCAs[0].NotAfter.Unix()),
		tt.daemon.metric(fmt.Sprintf(`wg_gateway_ca_expiry_seconds{subject_key_id="%x"}`, mountCAs[0].SubjectKeyId)),
		"the metric shows when the trusted CA expires")
	tt.tamperer.addCA("")
	tt.tamperer.set(nil)
	s.cli("lease", "revoke", third.LeaseID)
	require.Eventually(t, func() bool { return !tt.gatewayHasDevice() }, 2*time.Second, time.Millisecond)

	// 5. With Vault stopped, a peer whose certificate expires is removed on time.
	// 20 s: the device's first handshake after the refused ones can take
	// WireGuard's 5 s rekey timeout, and a loaded machine adds to it; the
	// certificate must still be valid when Vault stops.
	short := tt.issue("20s")
	require.Eventually(t, tt.gatewayHasDevice, 5*time.Second, 10*time.Millisecond)
	tt.eventuallyReaches()
	notAfter := time.Unix(jsonInt(t, short.Data["expiration"]), 0)
	s.stop()
	require.True(t, time.Until(notAfter) > time.Second, "the certificate expired before Vault stopped")
	require.True(t, tt.gatewayHasDevice())
	require.Eventually(t, func() bool { return !tt.gatewayHasDevice() }, time.Until(notAfter)+1500*time.Millisecond, 20*time.Millisecond,
		"the expired peer stayed")
	removedAt := time.Now()
	require.False(t, removedAt.Before(notAfter), "removed at %v, before NotAfter %v", removedAt, notAfter)
	t.Logf("expired peer removed %v after NotAfter, with Vault down", removedAt.Sub(notAfter))
	require.False(t, tt.canReachGateway())
}

// TestGatewayLogsInAgain runs the daemon with a response-wrapped secret id
// and tokens that expire within seconds: it unwraps once, renews, logs in
// again when the token reaches its max TTL, and keeps enforcing.
func TestGatewayLogsInAgain(t *testing.T) {
	tt := newTunnelTestWith(t, tunnelOptions{tokenTTL: "2s", tokenMaxTTL: "4s", wrapSecretID: true})
	require.Contains(t, tt.daemon.out.String(), "unwrapped the response-wrapped secret id")
	// Past two max TTLs (4s each), the daemon has logged in three times.
	require.Eventually(t, func() bool { return strings.Count(tt.daemon.out.String(), "logged in to Vault") >= 3 },
		30*time.Second, 50*time.Millisecond, "the daemon logged in again as its tokens expired:\n%s", tt.daemon.out)

	sec := tt.issue("")
	require.Eventually(t, tt.gatewayHasDevice, 5*time.Second, 10*time.Millisecond)
	tt.vault.cli("lease", "revoke", sec.LeaseID)
	require.Eventually(t, func() bool { return !tt.gatewayHasDevice() }, 5*time.Second, time.Millisecond)
	tt.waitEnforced()
}

// waitEnforced waits until the gateway's status shows every daemon has
// applied the current index, as an operator would check.
func (tt *tunnelTest) waitEnforced() *vault.Secret {
	tt.t.Helper()
	var st *vault.Secret
	require.Eventually(tt.t, func() bool {
		var err error
		st, err = tt.vault.root.Logical().Read("wg/gateways/gw1/status")
		return err == nil && st.Data["enforced"] == true
	}, 5*time.Second, 20*time.Millisecond, "gateway status never showed the revocation enforced")
	return st
}

// TestGatewayPolicy shows the shipped gateway policy is enough for the
// daemon (TestGatewayEnforcesCertificates runs on it) and no more.
func TestGatewayPolicy(t *testing.T) {
	s := startVault(t)
	setUpEngine(t, s)
	_, otherGW, _ := wgtypesGenerate()
	s.cli("write", "wg/gateways/gw2", "endpoint=198.51.100.2:51820", "public_key="+otherGW.String(), "address_pool=10.88.0.0/24")
	policy, err := os.ReadFile("../scripts/policies/gateway-gw1.hcl")
	require.NoError(t, err)
	require.NoError(t, s.root.Sys().PutPolicy("gateway-gw1", string(policy)))
	s.cli("auth", "enable", "approle")
	gw := approleLogin(t, s, "gateway-gw1", "gateway-gw1")

	_, err = gw.Logical().Read("wg/gateways/gw1/peers")
	require.NoError(t, err)
	_, err = gw.Logical().Write("wg/gateways/gw1/status", map[string]any{"instance_id": "a", "applied_index": "1"})
	require.NoError(t, err)
	for name, try := range map[string]func() error{
		"read another gateway's feed": func() error { _, err := gw.Logical().Read("wg/gateways/gw2/peers"); return err },
		"report for another gateway": func() error {
			_, err := gw.Logical().Write("wg/gateways/gw2/status", map[string]any{"instance_id": "a"})
			return err
		},
		"issue":           func() error { _, err := gw.Logical().Write("wg/issue/generated", nil); return err },
		"read the CA key": func() error { _, err := gw.Logical().Read("wg/config/ca"); return err },
		"revoke": func() error {
			_, err := gw.Logical().Write("wg/revoke", map[string]any{"serial_number": "01"})
			return err
		},
	} {
		err := try()
		require.Error(t, err, name)
		require.Contains(t, err.Error(), "permission denied", name)
	}
}

// foreignEntry is a feed entry for a fresh key with a certificate from a
// CA that is not the mount's (with the same name), and that CA.
func foreignEntry(t *testing.T) (entry peerfeed.Peer, caPEM string) {
	t.Helper()
	now := time.Now()
	certDER, keyDER, err := wgcert.GenerateCA("ed25519", "Tunnel Test CA", now.Add(-time.Hour), now.Add(time.Hour))
	require.NoError(t, err)
	ca, err := x509.ParseCertificate(certDER)
	require.NoError(t, err)
	signer, err := wgcert.ParsePKCS8Signer(keyDER)
	require.NoError(t, err)
	_, pub, err := wgtypesGenerate()
	require.NoError(t, err)
	serial, err := wgcert.NewSerial()
	require.NoError(t, err)
	der, err := wgcert.Create(&wgcert.Template{
		SerialNumber: serial, CommonName: "intruder", PublicKey: pub,
		Addresses: []netip.Addr{netip.MustParseAddr("10.77.0.98")}, Gateways: []string{"gw1"},
		NotBefore: now.Add(-time.Minute), NotAfter: now.Add(time.Hour),
	}, ca, signer)
	require.NoError(t, err)
	return peerfeed.Peer{
		SerialNumber: serial.Text(16), PublicKey: pub.String(), AllowedIPs: []string{"10.77.0.98/32"},
		Certificate: wgcert.EncodePEM(der), Expiration: now.Add(time.Hour),
	}, wgcert.EncodePEM(certDER)
}

func wgtypesGenerate() (wgtypes.Key, wgtypes.Key, error) {
	priv, err := wgtypes.GeneratePrivateKey()
	return priv, priv.PublicKey(), err
}

// jsonInt reads an integer from a Vault response (a json.Number).
func jsonInt(t *testing.T, v any) int64 {
	t.Helper()
	n, err := v.(json.Number).Int64()
	require.NoError(t, err)
	return n
}

// mountCAPEM is what the mount serves as ca/pem.
func mountCAPEM(t *testing.T, s *vaultServer) string {
	t.Helper()
	resp, err := s.root.Logical().ReadRaw("wg/ca/pem")
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(b)
}
