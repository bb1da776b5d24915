package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// candidateName is the catalog name (and binary name) of the plugin built
// with -p1-candidate: a second plugin process beside the real one.
const candidateName = pluginName + "-candidate"

// startCandidate builds the plugin with `go build -overlay overlay`,
// registers it as candidateName and mounts it at path like newWGMount. P1
// then runs it in every round beside the plugin as it is, so that a change
// is measured against the code it changes under the same load.
func (b *bench) startCandidate(overlay, path string, octet int) (*wgMount, error) {
	bin := filepath.Join(b.bins.dir, candidateName)
	args := []string{"build", "-trimpath", "-ldflags", "-X main.version=" + pluginVersion, "-overlay", overlay, "-o", bin}
	pkg := "./cmd/vault-plugin-secrets-wireguard"
	if b.p.Profile {
		pkg = "./test/bench/profplugin"
	}
	cmd := exec.Command("go", append(args, pkg)...)
	cmd.Dir = b.root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build candidate %s: %v\n%s", pkg, err, out)
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(b.vault.Dir, "plugins", candidateName), data, 0o755); err != nil {
		return nil, err
	}
	sum := sha256.Sum256(data)
	if _, err := b.vault.cli("plugin", "register", "-sha256="+hex.EncodeToString(sum[:]), "-version="+pluginVersion,
		"-command="+candidateName, "secret", candidateName); err != nil {
		return nil, err
	}
	if _, err := b.vault.cli("secrets", "enable", "-path="+path, "-plugin-version="+pluginVersion, candidateName); err != nil {
		return nil, err
	}
	if err := b.vault.write(path+"/config/ca", map[string]any{"key_type": "ed25519", "common_name": "Bench CA " + path}); err != nil {
		return nil, err
	}
	return b.newWGGateway(path, octet)
}
