package test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/test/internal/harness"
)

// readmeFence returns the first block fenced as ```lang in the README
// section headed "## " + section.
func readmeFence(t *testing.T, section, lang string) string {
	t.Helper()
	readme, err := os.ReadFile("../README.md")
	require.NoError(t, err)
	_, after, ok := strings.Cut(string(readme), "\n## "+section+"\n")
	require.True(t, ok, "README has no section %q", section)
	after, _, _ = strings.Cut(after, "\n## ")
	_, block, ok := strings.Cut(after, "```"+lang+"\n")
	require.True(t, ok, "README section %q has no %s block", section, lang)
	block, _, ok = strings.Cut(block, "```")
	require.True(t, ok)
	return block
}

// agentRender is one wg-quick file Vault Agent rendered.
type agentRender struct {
	serial, text string
	addresses    []string
	at           time.Time
}

var (
	agentSerialRe  = regexp.MustCompile(`(?m)^# WireGuard certificate (\S+) for `)
	agentAddressRe = regexp.MustCompile(`(?m)^Address = (\S+)$`)
)

// readAgentRender reads the file Vault Agent renders, or reports false
// while it is not there (or not complete).
func readAgentRender(path string) (agentRender, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return agentRender{}, false
	}
	m := agentSerialRe.FindStringSubmatch(string(b))
	if m == nil || !strings.Contains(string(b), "PersistentKeepalive") {
		return agentRender{}, false
	}
	r := agentRender{serial: m[1], text: string(b), at: time.Now()}
	for _, a := range agentAddressRe.FindAllStringSubmatch(r.text, -1) {
		r.addresses = append(r.addresses, a[1])
	}
	return r, true
}

// TestVaultAgentREADME runs the real `vault agent` (the Vault binary the
// tests use) with the README's "Vault Agent" configuration as written —
// only Vault's address, the file paths and the interface name are changed
// — against a real Vault whose role issues 20 s certificates. The file it
// renders passes `wg-quick strip`, carries the device's own private key
// for the certified public key, its command configures a real
// wireguard-go interface, and it is rendered again, with a new
// certificate for the same key and the same address, before the first one
// expires. Then the agent is stopped and
// nothing it started is left.
func TestVaultAgentREADME(t *testing.T) {
	needCommands(t, "Debian: apt-get install wireguard-tools wireguard-go iproute2", "wg", "wg-quick", "wireguard-go", "ip")
	need(t, os.Geteuid() == 0, "the agent's command configures a wireguard-go interface, which needs root")
	s := startVault(t)
	gwKey := setUpEngine(t, s)
	s.cli("write", "wg/roles/laptop", "gateway=gw1", "ttl=20s", "max_ttl=1h")
	s.cli("auth", "enable", "approle")
	require.NoError(t, s.root.Sys().PutPolicy("device", devicePolicy))
	dir := t.TempDir()
	roleID, secretID := appRoleFiles(t, s, dir, "laptop", "device", "token_ttl=1h", "token_max_ttl=2h")

	// The interface the agent's command configures lives in a namespace;
	// wg reaches it through its control socket from the root namespace.
	ns := newNetns(t)
	w := newWG(t, ns, "", 0)

	// The device's key pair, made as the README says.
	sh := readmeFence(t, "Vault Agent", "sh")
	keygen := regexp.MustCompile(`(?m)^wg genkey .*$`).FindString(sh)
	require.NotEmpty(t, keygen, "the README's key generation")
	wgDir := filepath.Join(dir, "wireguard")
	require.NoError(t, os.Mkdir(wgDir, 0o700))
	paths := strings.NewReplacer("/etc/wireguard/", wgDir+"/", "wg0", w.name,
		"/etc/vault-agent/role-id", roleID, "/etc/vault-agent/secret-id", secretID)
	out, err := exec.Command("bash", "-euo", "pipefail", "-c", "umask 077; "+paths.Replace(keygen)).CombinedOutput()
	require.NoError(t, err, "%s", out)
	pub, err := os.ReadFile(filepath.Join(wgDir, w.name+".pub"))
	require.NoError(t, err)
	devicePub := strings.TrimSpace(string(pub))

	hcl := readmeFence(t, "Vault Agent", "hcl")
	require.Contains(t, hcl, `"https://vault.example.com:8200"`)
	hcl = strings.Replace(hcl, `"https://vault.example.com:8200"`, `"`+s.addr+`"`, 1)
	hcl = paths.Replace(hcl)
	confFile := filepath.Join(dir, "agent.hcl")
	require.NoError(t, os.WriteFile(confFile, []byte(hcl), 0o600))
	rendered := filepath.Join(wgDir, w.name+".conf")

	agent := exec.Command(vaultBinary(t), "agent", "-log-level=debug", "-config", confFile)
	// No VAULT_ variable at all: one set, even empty, overrides the
	// configuration file (Vault's agent.go applyConfigOverrides).
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "VAULT_") {
			agent.Env = append(agent.Env, kv)
		}
	}
	agentOut := &syncBuffer{}
	agent.Stdout, agent.Stderr = agentOut, agentOut
	agent.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	require.NoError(t, agent.Start())
	exited := make(chan struct{})
	go func() { _ = agent.Wait(); close(exited) }()
	stopAgent := func() { harness.StopGroup(agent.Process.Pid, exited, 15*time.Second) }
	t.Cleanup(func() {
		stopAgent()
		if t.Failed() {
			t.Logf("vault agent output:\n%s", agentOut)
		}
	})

	// The first render.
	var first agentRender
	require.Eventually(t, func() bool {
		var ok bool
		first, ok = readAgentRender(rendered)
		return ok
	}, 60*time.Second, 100*time.Millisecond, "vault agent rendered no wg-quick file")
	st, err := os.Stat(rendered)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), st.Mode().Perm())
	require.NotEmpty(t, first.addresses, first.text)

	// wg-quick reads it; its private key is the device's own, certified.
	strip, err := exec.Command("wg-quick", "strip", rendered).CombinedOutput()
	require.NoError(t, err, "wg-quick strip: %s\nof:\n%s", strip, first.text)
	require.Contains(t, string(strip), "PublicKey = "+gwKey)
	require.Contains(t, string(strip), "Endpoint = 198.51.100.1:51820")
	priv, err := os.ReadFile(filepath.Join(wgDir, w.name+".key"))
	require.NoError(t, err)
	require.Contains(t, string(strip), "PrivateKey = "+strings.TrimSpace(string(priv)))
	rec, err := s.root.Logical().Read("wg/cert/" + first.serial)
	require.NoError(t, err)
	require.NotNil(t, rec, "no record of certificate %s", first.serial)
	require.Equal(t, devicePub, rec.Data["public_key"])
	expires, err := time.Parse(time.RFC3339, rec.Data["expiration"].(string))
	require.NoError(t, err, "expiration of %s: %v", first.serial, rec.Data["expiration"])

	// The command applied it to the interface.
	require.Eventually(t, func() bool {
		show, err := exec.Command("ip", "netns", "exec", ns.name, "wg", "show", w.name).CombinedOutput()
		return err == nil && strings.Contains(string(show), "public key: "+devicePub) &&
			strings.Contains(string(show), "peer: "+gwKey)
	}, 30*time.Second, 100*time.Millisecond, "the agent's command did not configure %s:\n%s", w.name, w.wgShow(t))

	// Rendered again, with a new certificate, before the first one expires.
	var second agentRender
	require.Eventually(t, func() bool {
		r, ok := readAgentRender(rendered)
		if ok && r.serial != first.serial {
			second = r
			return true
		}
		return false
	}, time.Until(expires)+10*time.Second, 200*time.Millisecond, "no new certificate rendered (first %s expires %s)", first.serial, expires)
	require.True(t, second.at.Before(expires), "the new file came at %s, after the certificate it replaces expired at %s", second.at, expires)
	strip, err = exec.Command("wg-quick", "strip", rendered).CombinedOutput()
	require.NoError(t, err, "wg-quick strip: %s", strip)
	rec, err = s.root.Logical().Read("wg/cert/" + second.serial)
	require.NoError(t, err)
	require.NotNil(t, rec)
	require.Equal(t, devicePub, rec.Data["public_key"], "the same key is certified again")
	// Same key, same identity: the engine keeps the address.
	require.Equal(t, first.addresses, second.addresses, "the refresh keeps the device's address")

	stopAgent()
	require.ErrorIs(t, syscall.Kill(-agent.Process.Pid, 0), syscall.ESRCH, "the agent's process group is gone")
}
