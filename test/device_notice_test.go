package test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// configSerialRe finds the serial in the comment of a wg-quick file that
// wg-device wrote.
var configSerialRe = regexp.MustCompile(`(?m)^# WireGuard certificate (\S+) for `)

// configSerial is the serial of the certificate in the wg-quick file conf,
// or "" while there is none.
func configSerial(conf string) string {
	b, err := os.ReadFile(conf)
	if err != nil {
		return ""
	}
	if m := configSerialRe.FindSubmatch(b); m != nil {
		return string(m[1])
	}
	return ""
}

// TestDeviceRunNoticesRevocationAndBlock: `wg-device run` follows the
// engine's CRL. An operator revokes its current certificate: it enrols
// again (a new serial) within a few -crl-interval. An operator blocks its
// identity: it stops and exits 1 with a message naming the block. The
// block lifted, run enrols again.
func TestDeviceRunNoticesRevocationAndBlock(t *testing.T) {
	s, dir, roleID, secretID := startDeviceVault(t)
	env := []string{"VAULT_ADDR=" + s.addr}
	conf := filepath.Join(dir, "wgdev0.conf")
	args := []string{"-role", "laptop", "-config", conf, "-role-id-file", roleID, "-secret-id-file", secretID, "-crl-interval", "1s"}

	d := startDevice(t, nil, env, args...)
	var first string
	require.Eventually(t, func() bool { first = configSerial(conf); return first != "" }, 30*time.Second, 50*time.Millisecond)

	// Revoked by an operator: a new certificate within a few intervals.
	revokedAt := time.Now()
	s.cli("write", "wg/revoke", "serial_number="+first)
	var second string
	require.Eventually(t, func() bool {
		second = configSerial(conf)
		return second != "" && second != first
	}, 10*time.Second, 50*time.Millisecond, "run did not enrol again after its certificate %s was revoked", first)
	t.Logf("revoked %s; run wrote its successor %s %s later", first, second, time.Since(revokedAt).Round(time.Millisecond))
	require.Contains(t, d.out.String(), "the certificate was revoked (it is on the CRL); enrolling again")
	rec, err := s.root.Logical().Read("wg/cert/" + second)
	require.NoError(t, err)
	require.Equal(t, false, rec.Data["revoked"], "the new certificate is live")
	cn := rec.Data["common_name"].(string)

	// Blocked: run exits with the block's name.
	s.cli("write", "wg/blocks/stolen-laptop", "common_name="+cn, "reason=stolen")
	select {
	case <-d.exited:
	case <-time.After(15 * time.Second):
		t.Fatalf("run still runs 15s after its identity was blocked:\n%s", d.out)
	}
	require.Equal(t, 1, d.cmd.ProcessState.ExitCode(), d.out.String())
	require.Contains(t, d.out.String(), `wg-device: blocked: wg/issue/laptop refused a certificate (Vault said: permission denied: common_name "`+cn+`" is blocked by block "stolen-laptop"`)
	require.Contains(t, d.out.String(), "an operator must delete the block")

	// Unblocked: it enrols again.
	s.cli("delete", "wg/blocks/stolen-laptop")
	startDevice(t, nil, env, args...)
	require.Eventually(t, func() bool {
		s := configSerial(conf)
		return s != "" && s != first && s != second
	}, 30*time.Second, 50*time.Millisecond, "run did not enrol once the block was deleted")
}

// TestDeviceAuthToken: `wg-device -auth token` issues with a person's own
// Vault login, the token `vault login` left in ~/.vault-token (or
// VAULT_TOKEN). Vault's userpass stands in here for OIDC or LDAP, which
// leave their token the same way. wg-device never revokes, renews or
// writes down that token — not even when the issue is refused — and the
// certificate ends with it.
func TestDeviceAuthToken(t *testing.T) {
	s := startVault(t)
	setUpEngine(t, s)
	s.cli("write", "wg/roles/laptop", "gateway=gw1", "ttl=1h")
	require.NoError(t, s.root.Sys().PutPolicy("device", devicePolicy))
	s.cli("auth", "enable", "userpass")
	s.cli("write", "auth/userpass/users/alice", "password=correct-horse", "token_policies=device", "token_ttl=30m")

	// alice logs in with the real CLI, whose token helper writes ~/.vault-token.
	home := t.TempDir()
	token := userpassLogin(t, s, home, "alice", "correct-horse")
	self, err := s.client(token).Auth().Token().LookupSelf()
	require.NoError(t, err)
	entity := self.Data["entity_id"].(string)
	require.NotEmpty(t, entity)
	aliceLive := func() bool {
		_, err := s.client(token).Auth().Token().LookupSelf()
		return err == nil
	}

	env := []string{"VAULT_ADDR=" + s.addr, "HOME=" + home}
	dir := t.TempDir()
	conf := filepath.Join(dir, "wgdev0.conf")

	// A refused issue leaves the person's token alone.
	_, stderr, code := runDevice(t, env, "issue", "-auth", "token", "-role", "server", "-config", conf)
	require.Equal(t, 1, code, stderr)
	require.Contains(t, stderr, "permission denied")
	require.True(t, aliceLive(), "a refused issue revoked the person's token")

	stdout, stderr, code := runDevice(t, env, "issue", "-auth", "token", "-role", "laptop", "-config", conf)
	require.Equal(t, 0, code, stderr)
	serial := regexp.MustCompile(`(?m)^serial_number +(\S+)`).FindStringSubmatch(stdout)[1]
	rec, err := s.root.Logical().Read("wg/cert/" + serial)
	require.NoError(t, err)
	require.Equal(t, entity, rec.Data["entity_id"], "the certificate is alice's")
	require.True(t, aliceLive())
	for _, f := range []string{conf, pemPathOf(conf), strings.TrimSuffix(conf, ".conf") + ".token"} {
		b, err := os.ReadFile(f)
		if err == nil {
			require.NotContains(t, string(b), token, "%s holds the person's token", f)
		}
	}
	ttl, err := self.TokenTTL()
	require.NoError(t, err)
	again, err := s.client(token).Auth().Token().LookupSelf()
	require.NoError(t, err)
	ttlAfter, err := again.TokenTTL()
	require.NoError(t, err)
	require.LessOrEqual(t, ttlAfter, ttl, "wg-device renewed the person's token")

	// Issued again onto the same file: the certificate the file held is
	// retired by revoking its lease alone, with alice's token, once her
	// policy allows that; her token stays.
	require.NoError(t, s.root.Sys().PutPolicy("device-leases", `path "sys/leases/revoke/wg/issue/laptop/*" { capabilities = ["update"] }`))
	s.cli("write", "auth/userpass/users/alice", "password=correct-horse", "token_policies=device,device-leases", "token_ttl=30m")
	token = userpassLogin(t, s, home, "alice", "correct-horse")
	stdout, stderr, code = runDevice(t, env, "issue", "-auth", "token", "-role", "laptop", "-config", conf)
	require.Equal(t, 0, code, stderr)
	requireRevoked(t, s, serial)
	require.True(t, aliceLive())
	serial = regexp.MustCompile(`(?m)^serial_number +(\S+)`).FindStringSubmatch(stdout)[1]

	// VAULT_TOKEN works as well (no ~/.vault-token).
	stdout, stderr, code = runDevice(t, []string{"VAULT_ADDR=" + s.addr, "HOME=" + t.TempDir(), "VAULT_TOKEN=" + token},
		"issue", "-auth", "token", "-role", "laptop", "-config", filepath.Join(dir, "wgdev1.conf"))
	require.Equal(t, 0, code, stderr)
	serial2 := regexp.MustCompile(`(?m)^serial_number +(\S+)`).FindStringSubmatch(stdout)[1]

	// No login at all: a message saying to log in.
	_, stderr, code = runDevice(t, []string{"VAULT_ADDR=" + s.addr, "HOME=" + t.TempDir()},
		"issue", "-auth", "token", "-role", "laptop", "-config", filepath.Join(dir, "wgdev2.conf"))
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "no VAULT_TOKEN and no ")
	require.Contains(t, stderr, "log in first (vault login")

	// The tunnel lives no longer than the login session: the token
	// revoked (vault token revoke, or its end), the certificates go.
	s.cli("token", "revoke", token)
	for _, sn := range []string{serial, serial2} {
		requireRevoked(t, s, sn)
	}
	_, stderr, code = runDevice(t, env, "issue", "-auth", "token", "-role", "laptop", "-config", conf)
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "log in again")
}

// userpassLogin has `vault login -method=userpass` (the real CLI) log user
// in with HOME set to home, so that its token helper writes
// home/.vault-token, and returns the token. Userpass stands in for OIDC or
// LDAP, which leave their token the same way.
func userpassLogin(t *testing.T, s *vaultServer, home, user, password string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	login := exec.CommandContext(ctx, vaultBinary(t), "login", "-method=userpass", "username="+user, "password="+password)
	login.Env = append(os.Environ(), "HOME="+home, "VAULT_ADDR="+s.addr, "VAULT_TOKEN=")
	out, err := login.CombinedOutput()
	require.NoError(t, err, "%s", out)
	raw, err := os.ReadFile(filepath.Join(home, ".vault-token"))
	require.NoError(t, err)
	return strings.TrimSpace(string(raw))
}

// TestDeviceAuthTokenTunnel: `wg-device run -auth token -interface` on a
// real tunnel with a person's userpass login (standing in for OIDC). The
// device reaches the gateway; a rotation keeps its address and leaves the
// person's token alive (the replaced certificate goes, not the token); the
// token revoked, the certificate goes with it, the tunnel stops, and run
// exits asking for a new login.
func TestDeviceAuthTokenTunnel(t *testing.T) {
	tt := newTunnelTest(t)
	s := tt.vault
	s.cli("write", "wg/roles/laptop", "ttl=9s")
	s.cli("auth", "enable", "userpass")
	s.cli("write", "auth/userpass/users/alice", "password=correct-horse", "token_policies=device", "token_ttl=30m")
	home := t.TempDir()
	token := userpassLogin(t, s, home, "alice", "correct-horse")
	tt.devIf.removePeer(t, tt.gwIf.public)

	dev := startDevice(t, tt.devNS, []string{"VAULT_ADDR=" + vaultSocket(t, s.addr), "HOME=" + home},
		"-role", "laptop", "-interface", tt.devIf.name, "-auth", "token", "-crl-interval", "1s", "-log-level", "debug")
	tt.eventuallyReaches()
	firstKey := tt.deviceKey()
	firstSerial, first := certForKey(t, s, firstKey)

	require.Eventually(t, func() bool { return tt.deviceKey() != firstKey }, 20*time.Second, 50*time.Millisecond, "no rotation")
	secondSerial, second := certForKey(t, s, tt.deviceKey())
	require.Equal(t, first["addresses"], second["addresses"], "the rotation keeps the address")
	require.Equal(t, first["entity_id"], second["entity_id"])
	requireRevoked(t, s, firstSerial)
	_, err := s.client(token).Auth().Token().LookupSelf()
	require.NoError(t, err, "the rotation revoked the person's token")
	tt.eventuallyReaches()

	// The login session ends: the certificate, the tunnel and run with it.
	s.cli("token", "revoke", token)
	requireRevoked(t, s, secondSerial)
	require.Eventually(t, func() bool { return !tt.canReachGateway() }, 10*time.Second, 100*time.Millisecond,
		"the tunnel outlived the login session")
	select {
	case <-dev.exited:
	case <-time.After(15 * time.Second):
		t.Fatalf("run still runs 15s after the login session ended:\n%s", dev.out)
	}
	require.Equal(t, 1, dev.cmd.ProcessState.ExitCode())
	require.Contains(t, dev.out.String(), "log in again")
}
