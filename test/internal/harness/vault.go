package harness

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"

	vault "github.com/hashicorp/vault/api"
	"github.com/stretchr/testify/require"
)

// PluginName is the name the plugin is registered under.
const PluginName = "vault-plugin-secrets-wireguard"

// PluginVersion is the version the harness builds and registers: the
// Makefile's VERSION, the one place the project's version is written.
var PluginVersion = makefileVersion()

// makefileVersion reads VERSION from the repository's Makefile. It panics
// when there is none: every build and test depends on it.
func makefileVersion() string {
	root, err := RepoRoot()
	if err != nil {
		panic(fmt.Sprintf("harness: %v", err))
	}
	makefile, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		panic(fmt.Sprintf("harness: %v", err))
	}
	m := regexp.MustCompile(`(?m)^VERSION\s*\?=\s*(\S+)\s*$`).FindSubmatch(makefile)
	if m == nil {
		panic("harness: the Makefile sets no VERSION")
	}
	return string(m[1])
}

// DevRootToken is the root token of a dev server.
const DevRootToken = "root"

// NoMount, as VaultOptions.Mount, registers the plugin without enabling it.
const NoMount = "-"

// A Storage is how a Vault keeps its data.
type Storage int

const (
	// Dev is `vault server -dev`: in memory, unsealed, root token "root".
	Dev Storage = iota
	// File is file storage under the server's directory: the server
	// survives a kill and must be unsealed after a restart.
	File
	// Raft is integrated storage; StartCluster joins several such nodes.
	Raft
)

// VaultOptions say how StartVault (and StartCluster, for each node) runs
// Vault. The zero value is a dev server with the plugin enabled at wg/.
type VaultOptions struct {
	// Storage is Dev (the default) or File; StartCluster uses Raft.
	Storage Storage
	// Bin is the vault binary; by default $VAULT_BIN, then PATH.
	Bin string
	// TLS serves HTTPS with a CA of the dev server's own (-dev-tls); its
	// certificate is in Vault.CAFile. Dev only.
	TLS bool
	// Plugin is the plugin binary to register; by default the one
	// BuiltBinary builds.
	Plugin string
	// PluginEnv is passed to the plugin at registration (-env).
	PluginEnv []string
	// Env is added to the server's environment.
	Env []string
	// Config is HCL added to the server's configuration.
	Config string
	// LogLevel is Vault's log level; "debug" by default.
	LogLevel string
	// Log receives the server's output; by default it is kept in memory
	// and shown if the test failed.
	Log io.Writer
	// NodeLog, when set, gives StartCluster's node i a Log of its own.
	NodeLog func(i int) io.Writer
	// Mount is where the plugin is enabled: "wg" by default, NoMount for
	// nowhere.
	Mount string
	// RaftPerformanceMultiplier is StartCluster's raft timing (Vault's
	// performance_multiplier): 1 when zero, the fastest failure detection,
	// for tests; Vault's default, 5, keeps a leader on a loaded machine.
	RaftPerformanceMultiplier int
}

// A Vault is one running Vault server (a dev server, or a node with
// storage that survives its process) with the plugin registered.
type Vault struct {
	tb   TB
	opts VaultOptions
	// Bin is the vault binary.
	Bin string
	// Addr is the API address (http:// or https://).
	Addr string
	// Dir is the server's own directory: plugins, configuration, data.
	Dir string
	// Root is an API client with the root token.
	Root *vault.Client
	// CAFile is the CA certificate of a TLS server, "" otherwise.
	CAFile string
	// UnsealKey is the one unseal key of a non-dev server.
	UnsealKey string

	config  string // configuration file of a non-dev server
	sum     [32]byte
	cmd     *exec.Cmd
	stopped chan struct{}
	logs    *SyncBuffer
	// groups are the process groups of every Vault process started for
	// this server: its plugins live on in them after a SIGKILL of Vault.
	groups []int
}

// StartVault starts a Vault server as opts say, on a loopback port, waits
// until it serves, registers the plugin (with its sha256 and version) and
// enables it. The server is stopped, with its plugins, in tb.Cleanup.
func StartVault(tb TB, opts VaultOptions) *Vault {
	tb.Helper()
	v := newVault(tb, opts)
	port := FreePort(tb)
	switch opts.Storage {
	case Dev:
		v.startDev(port)
	case File:
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		v.Addr = "http://" + addr
		v.writeConfig(fmt.Sprintf(`
storage "file" { path = %q }
listener "tcp" {
  address     = %q
  tls_disable = true
}
api_addr = "http://%s"
`, filepath.Join(v.Dir, "data"), addr, addr))
		v.start()
		v.initialize()
		v.Unseal()
	default:
		tb.Fatalf("StartVault: storage %d: use StartCluster for raft", opts.Storage)
	}
	v.registerPlugin()
	v.enable()
	return v
}

// newVault prepares a server's directory with the plugin in it.
func newVault(tb TB, opts VaultOptions) *Vault {
	tb.Helper()
	if opts.LogLevel == "" {
		opts.LogLevel = "debug"
	}
	if opts.Mount == "" {
		opts.Mount = "wg"
	}
	v := &Vault{tb: tb, opts: opts, Bin: opts.Bin, Dir: tb.TempDir()}
	if v.Bin == "" {
		v.Bin = VaultBinary(tb)
	}
	if opts.Log == nil {
		v.logs = &SyncBuffer{}
	}
	tb.Cleanup(v.Stop)
	plugin := opts.Plugin
	if plugin == "" {
		plugin = BuiltBinary(tb, PluginName)
	}
	data, err := os.ReadFile(plugin)
	require.NoError(tb, err)
	require.NoError(tb, os.MkdirAll(v.pluginDir(), 0o755))
	require.NoError(tb, os.WriteFile(filepath.Join(v.pluginDir(), PluginName), data, 0o755))
	v.sum = sha256.Sum256(data)
	return v
}

func (v *Vault) pluginDir() string { return filepath.Join(v.Dir, "plugins") }

// startDev runs `vault server -dev` and waits until it serves.
func (v *Vault) startDev(port int) {
	v.tb.Helper()
	args := []string{"server", "-dev", "-dev-root-token-id=" + DevRootToken,
		fmt.Sprintf("-dev-listen-address=127.0.0.1:%d", port), "-dev-plugin-dir=" + v.pluginDir(),
		"-log-level=" + v.opts.LogLevel}
	v.Addr = fmt.Sprintf("http://127.0.0.1:%d", port)
	if v.opts.TLS {
		certDir := filepath.Join(v.Dir, "tls")
		require.NoError(v.tb, os.MkdirAll(certDir, 0o700))
		args = append(args, "-dev-tls", "-dev-tls-cert-dir="+certDir)
		v.Addr = fmt.Sprintf("https://127.0.0.1:%d", port)
		v.CAFile = filepath.Join(certDir, "vault-ca.pem")
	}
	if v.opts.Config != "" {
		conf := filepath.Join(v.Dir, "extra.hcl")
		require.NoError(v.tb, os.WriteFile(conf, []byte(v.opts.Config), 0o600))
		args = append(args, "-config="+conf)
	}
	cmd := exec.Command(v.Bin, args...)
	cmd.Env = append(os.Environ(), "VAULT_DEV_ROOT_TOKEN_ID="+DevRootToken)
	if v.CAFile != "" {
		cmd.Env = append(cmd.Env, "VAULT_CACERT="+v.CAFile)
	}
	cmd.Env = append(cmd.Env, v.opts.Env...)
	v.run(cmd)
	if v.opts.TLS {
		// The CA file appears once the server has made it; wait until it
		// holds a whole certificate.
		require.Eventually(v.tb, func() bool {
			b, err := os.ReadFile(v.CAFile)
			if err != nil {
				return false
			}
			block, _ := pem.Decode(b)
			return block != nil && block.Type == "CERTIFICATE"
		}, 30*time.Second, 50*time.Millisecond, "vault -dev-tls wrote no %s", v.CAFile)
	}
	v.Root = v.Client(DevRootToken)
	v.WaitUp()
}

// writeConfig writes a non-dev server's configuration: body, the plugin
// directory, what opts add.
func (v *Vault) writeConfig(body string) {
	v.tb.Helper()
	v.config = filepath.Join(v.Dir, "vault.hcl")
	conf := body + fmt.Sprintf("plugin_directory = %q\ndisable_mlock    = true\n", v.pluginDir()) + v.opts.Config
	require.NoError(v.tb, os.WriteFile(v.config, []byte(conf), 0o600))
}

// start runs a non-dev server's process; it comes up sealed.
func (v *Vault) start() {
	v.tb.Helper()
	cmd := exec.Command(v.Bin, "server", "-config="+v.config, "-log-level="+v.opts.LogLevel)
	cmd.Env = append(os.Environ(), v.opts.Env...)
	v.run(cmd)
	c := v.Client("")
	require.Eventually(v.tb, func() bool {
		_, err := c.Sys().SealStatus()
		return err == nil
	}, 30*time.Second, 50*time.Millisecond, "vault did not start listening")
}

// initialize initialises a non-dev server with one unseal key.
func (v *Vault) initialize() {
	v.tb.Helper()
	init, err := v.Client("").Sys().Init(&vault.InitRequest{SecretShares: 1, SecretThreshold: 1})
	require.NoError(v.tb, err)
	v.UnsealKey = init.Keys[0]
	v.Root = v.Client(init.RootToken)
}

// registerPlugin registers the plugin in the catalog with its sha256 and
// version.
func (v *Vault) registerPlugin() {
	v.tb.Helper()
	args := []string{"plugin", "register", "-sha256=" + hex.EncodeToString(v.sum[:]), "-version=" + PluginVersion,
		"-command=" + PluginName}
	for _, e := range v.opts.PluginEnv {
		args = append(args, "-env="+e)
	}
	v.CLI(append(args, "secret", PluginName)...)
}

// enable enables the plugin where opts say.
func (v *Vault) enable() {
	v.tb.Helper()
	if v.opts.Mount != NoMount {
		v.EnablePlugin(v.opts.Mount)
	}
}

// EnablePlugin enables the registered plugin at path, with serial numbers
// in clear in audit logs.
func (v *Vault) EnablePlugin(path string) {
	v.tb.Helper()
	v.CLI("secrets", "enable", "-path="+path, "-plugin-version="+PluginVersion,
		"-audit-non-hmac-response-keys=serial_number", PluginName)
}

// output is where the server's processes write.
func (v *Vault) output() io.Writer {
	if v.opts.Log != nil {
		return v.opts.Log
	}
	return v.logs
}

// run starts cmd as the server's Vault process, in a process group of its
// own that its plugins join: a SIGKILL of Vault leaves them running (they
// are not told), and Stop kills them with the group.
func (v *Vault) run(cmd *exec.Cmd) {
	v.tb.Helper()
	cmd.Stdout, cmd.Stderr = v.output(), v.output()
	// SIGKILL on our death too, so that a program killed (a test binary by
	// -timeout) leaves no Vault.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	require.NoError(v.tb, cmd.Start())
	v.cmd, v.stopped = cmd, make(chan struct{})
	v.groups = append(v.groups, cmd.Process.Pid)
	go func(done chan struct{}) { _ = cmd.Wait(); close(done) }(v.stopped)
}

// Stop kills every process group the server started, Vault and the plugins
// of each of its incarnations, and waits for Vault to exit. It shows the
// server's output if the test failed.
func (v *Vault) Stop() {
	for _, pgid := range v.groups {
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
	}
	if v.stopped != nil {
		<-v.stopped
	}
	if v.tb.Failed() && v.logs != nil {
		v.tb.Logf("vault server output:\n%s", v.logs.String())
	}
}

// Kill stops the server with SIGKILL, as a crash would: its plugins stay,
// orphaned, until Stop.
func (v *Vault) Kill() {
	_ = v.cmd.Process.Kill()
	<-v.stopped
}

// Restart starts a killed non-dev server again and unseals it.
func (v *Vault) Restart() {
	v.tb.Helper()
	v.start()
	v.Root = v.Client(v.Root.Token())
	v.Unseal()
}

// Unseal unseals a non-dev server and waits until it serves requests.
func (v *Vault) Unseal() {
	v.tb.Helper()
	_, err := v.Client("").Sys().Unseal(v.UnsealKey)
	require.NoError(v.tb, err)
	v.WaitUp()
}

// Dead reports whether the server's process has exited.
func (v *Vault) Dead() bool {
	select {
	case <-v.stopped:
		return true
	default:
		return false
	}
}

// Output is what the server wrote so far, when it is kept in memory.
func (v *Vault) Output() string {
	if v.logs == nil {
		return "(see the log given in VaultOptions.Log)"
	}
	return v.logs.String()
}

// WaitUp waits until the server is initialised, unsealed and answers.
func (v *Vault) WaitUp() {
	v.tb.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-v.stopped:
			v.tb.Fatalf("vault server exited:\n%s", v.Output())
		default:
		}
		if h, err := v.Root.Sys().Health(); err == nil && h.Initialized && !h.Sealed {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	v.tb.Fatalf("vault server did not come up in 60s:\n%s", v.Output())
}

// Client returns an API client for the server with token, which does not
// retry.
func (v *Vault) Client(token string) *vault.Client {
	v.tb.Helper()
	conf := vault.DefaultConfig()
	conf.Address = v.Addr
	conf.MaxRetries = 0
	if v.CAFile != "" {
		require.NoError(v.tb, conf.ConfigureTLS(&vault.TLSConfig{CACert: v.CAFile}))
	}
	c, err := vault.NewClient(conf)
	require.NoError(v.tb, err)
	c.SetToken(token)
	return c
}

// CLI runs the vault CLI with the root token and returns its output; it
// must succeed.
func (v *Vault) CLI(args ...string) string {
	v.tb.Helper()
	out, err := v.CLIAs(v.Root.Token(), args...)
	require.NoError(v.tb, err, "vault %s:\n%s", strings.Join(args, " "), out)
	return out
}

// CLIAs runs the vault CLI with token and returns its combined output.
func (v *Vault) CLIAs(token string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, v.Bin, args...)
	cmd.Env = append(os.Environ(), "VAULT_ADDR="+v.Addr, "VAULT_TOKEN="+token, "VAULT_FORMAT=", "NO_COLOR=1")
	if v.CAFile != "" {
		cmd.Env = append(cmd.Env, "VAULT_CACERT="+v.CAFile)
	}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// Pid is the process id of the server's current Vault process.
func (v *Vault) Pid() int { return v.cmd.Process.Pid }
