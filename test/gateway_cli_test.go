package test

import (
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestGatewayHelpAndVersion checks that wg-gateway answers -h and -version
// the way wg-device does: -version (also --version, version) prints the
// version and exits 0, and -h lists every flag with its WG_GATEWAY_
// variable, each one a flag the daemon accepts.
func TestGatewayHelpAndVersion(t *testing.T) {
	bin := builtBinary(t, "wg-gateway")
	for _, arg := range []string{"-version", "--version", "version"} {
		out, err := exec.Command(bin, arg).CombinedOutput()
		require.NoError(t, err, "wg-gateway %s: %s", arg, out)
		require.Equal(t, "wg-gateway "+pluginVersion+"\n", string(out), arg)
	}

	help, err := exec.Command(bin, "-h").CombinedOutput()
	require.NoError(t, err, "wg-gateway -h exits 0: %s", help)
	require.Contains(t, string(help), "wg-gateway -version | -h")
	listed := regexp.MustCompile(`(?m)^  -([a-z0-9-]+)  \[(WG_GATEWAY_[A-Z0-9_]+)\]$`).FindAllStringSubmatch(string(help), -1)
	require.NotEmpty(t, listed)
	names := map[string]bool{}
	for _, m := range listed {
		names[m[1]] = true
		require.Equal(t, "WG_GATEWAY_"+strings.ToUpper(strings.ReplaceAll(m[1], "-", "_")), m[2], "-%s", m[1])
		out, _ := exec.Command(bin, "-"+m[1]+"=1", "-h").CombinedOutput()
		require.NotContains(t, string(out), "flag provided but not defined", "-h lists -%s, which wg-gateway does not accept", m[1])
	}
	for _, name := range []string{"gateway", "role-id-file", "secret-id-file", "ca-file", "state-dir", "poll-wait",
		"resync-interval", "metrics-addr", "keep-unmanaged", "listen-port", "private-key-file"} {
		require.True(t, names[name], "wg-gateway -h lists -%s", name)
	}
	out, _ := exec.Command(bin, "-no-such-flag").CombinedOutput()
	require.Contains(t, string(out), "flag provided but not defined: -no-such-flag")
}

// TestPluginVersion checks that the plugin binary reports the version it
// was built with (the Makefile's VERSION), which scripts/dev.sh registers.
func TestPluginVersion(t *testing.T) {
	out, err := exec.Command(builtBinary(t, pluginName), "-version").CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Equal(t, pluginName+" "+pluginVersion+"\n", string(out))
	makeOut, err := exec.Command("make", "-s", "--no-print-directory", "-C", "..", "version").Output()
	require.NoError(t, err)
	require.Equal(t, pluginVersion+"\n", string(makeOut), "make version and the harness agree")
}
