package test

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// systemdUnit is a unit file as the checks read it: the comment block that
// opens it and each directive's values, continuation lines joined.
type systemdUnit struct {
	header     string
	directives map[string][]string
}

func readSystemdUnit(t *testing.T, path string) systemdUnit {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	u := systemdUnit{directives: map[string][]string{}}
	var header strings.Builder
	inHeader, pending := true, ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if inHeader && strings.HasPrefix(line, "#") {
			header.WriteString(strings.TrimPrefix(line, "#") + "\n")
			continue
		}
		if strings.HasPrefix(strings.TrimSpace(line), "[") {
			inHeader = false
			continue
		}
		if pending == "" && (strings.HasPrefix(line, "#") || strings.TrimSpace(line) == "") {
			continue
		}
		inHeader = false
		if cont, ok := strings.CutSuffix(line, "\\"); ok {
			pending += cont + " "
			continue
		}
		line, pending = pending+line, ""
		key, value, ok := strings.Cut(line, "=")
		require.True(t, ok, "not a directive: %q", line)
		u.directives[strings.TrimSpace(key)] = append(u.directives[strings.TrimSpace(key)], strings.TrimSpace(value))
	}
	require.NoError(t, sc.Err())
	u.header = header.String()
	return u
}

// TestSystemdUnit checks scripts/systemd/wg-gateway.service as an operator
// would meet it: `systemd-analyze verify` accepts it; its header says how to
// create every file ExecStart and EnvironmentFile need (the private key
// too) and how to make the interface with kernel WireGuard or wireguard-go;
// the flags and variables it uses are wg-gateway's; and every path it
// sandboxes that the header does not create is optional ("-"), as
// /var/run/wireguard must be: it exists only where wireguard-go has run,
// and systemd refuses to start a unit whose ReadWritePaths= is missing
// (systemd.exec(5)). That refusal itself needs systemd as PID 1 to be seen,
// which these test machines (containers) do not have; systemd-analyze
// verify runs without it but does not set up the sandbox.
func TestSystemdUnit(t *testing.T) {
	unitFile := "../scripts/systemd/wg-gateway.service"
	u := readSystemdUnit(t, unitFile)

	execStart := strings.Fields(u.directives["ExecStart"][0])
	require.Equal(t, "/usr/local/bin/wg-gateway", execStart[0])
	needed := []string{strings.TrimPrefix(u.directives["EnvironmentFile"][0], "-")}
	for i, w := range execStart[:len(execStart)-1] {
		if strings.HasPrefix(w, "-") && strings.HasSuffix(w, "-file") {
			needed = append(needed, execStart[i+1])
		}
	}
	require.Contains(t, needed, "/etc/wg-gateway/private-key")
	for _, file := range needed {
		require.Contains(t, u.header, file, "the header says how to create %s, which the unit needs", file)
	}
	require.Regexp(t, `wg genkey > /etc/wg-gateway/private-key`, u.header)
	require.Contains(t, u.header, "wg pubkey < /etc/wg-gateway/private-key")
	require.Contains(t, u.header, "ip link add wg0 type wireguard", "a kernel WireGuard set-up")
	require.Contains(t, u.header, "wireguard-go wg0", "a wireguard-go set-up")

	// Paths the sandbox names must exist unless marked optional with "-";
	// only those the header creates may go without.
	created := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)(?:install -d|mkdir)(?: -m \d+| -\S+)*((?: /\S+)+)`).FindAllStringSubmatch(u.header, -1) {
		for _, p := range strings.Fields(m[1]) {
			created[p] = true
		}
	}
	for _, key := range []string{"ReadWritePaths", "ReadOnlyPaths", "InaccessiblePaths", "ExecPaths", "NoExecPaths"} {
		for _, v := range u.directives[key] {
			for _, p := range strings.Fields(v) {
				optional := strings.HasPrefix(strings.TrimPrefix(p, "+"), "-")
				require.True(t, optional || created[p],
					"%s=%s: systemd refuses to start the unit when %s does not exist; the header creates %v", key, p, p, created)
			}
		}
	}

	// The flags and environment variables the unit and its header use are
	// the ones wg-gateway lists.
	help, err := exec.Command(builtBinary(t, "wg-gateway"), "-h").CombinedOutput()
	require.NotEmpty(t, help, "wg-gateway -h: %v", err)
	for _, w := range execStart[1:] {
		if strings.HasPrefix(w, "-") {
			require.Contains(t, string(help), w+" ", "ExecStart flag %s", w)
		}
	}
	vars := regexp.MustCompile(`\bWG_GATEWAY_[A-Z_]+`).FindAllString(u.header, -1)
	require.NotEmpty(t, vars)
	for _, v := range vars {
		require.Contains(t, string(help), "["+v+"]", "variable %s in the header", v)
	}

	// systemd-analyze verify: directives, sections, commands. It checks that
	// ExecStart's program exists, so the copy it reads runs the wg-gateway
	// this test built instead of /usr/local/bin/wg-gateway.
	analyze, err := exec.LookPath("systemd-analyze")
	need(t, err == nil, "systemd-analyze not on PATH (apt-get install systemd; it runs without systemd as PID 1)")
	text, err := os.ReadFile(unitFile)
	require.NoError(t, err)
	copyFile := filepath.Join(t.TempDir(), "wg-gateway.service")
	require.NoError(t, os.WriteFile(copyFile,
		[]byte(strings.Replace(string(text), "ExecStart=/usr/local/bin/wg-gateway", "ExecStart="+builtBinary(t, "wg-gateway"), 1)), 0o644))
	out, err := exec.Command(analyze, "verify", copyFile).CombinedOutput()
	require.NoError(t, err, "systemd-analyze verify:\n%s", out)
	require.Empty(t, strings.TrimSpace(string(out)), "systemd-analyze verify has warnings")

	// And it does find a mistake: an unknown directive.
	bad := filepath.Join(t.TempDir(), "wg-gateway.service")
	require.NoError(t, os.WriteFile(bad,
		[]byte(strings.Replace(string(text), "NoNewPrivileges=", "NoNewPrivilege=", 1)), 0o644))
	out, _ = exec.Command(analyze, "verify", bad).CombinedOutput()
	require.Contains(t, string(out), "Unknown key")
}
