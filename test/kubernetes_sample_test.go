package test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// podSpec is the part of a Deployment's pod template the checks read.
type podSpec struct {
	ServiceAccountName string          `json:"serviceAccountName"`
	InitContainers     []kubeContainer `json:"initContainers"`
	Containers         []kubeContainer `json:"containers"`
	Volumes            []struct {
		Name      string `json:"name"`
		ConfigMap *struct {
			Name string `json:"name"`
		} `json:"configMap"`
	} `json:"volumes"`
}

type kubeContainer struct {
	Name          string   `json:"name"`
	Command       []string `json:"command"`
	RestartPolicy string   `json:"restartPolicy"`
	Env           []struct {
		Name  string `json:"name"`
		Value string `json:"value"`
	} `json:"env"`
	VolumeMounts []struct {
		Name      string `json:"name"`
		MountPath string `json:"mountPath"`
	} `json:"volumeMounts"`
	StartupProbe *struct {
		Exec *struct {
			Command []string `json:"command"`
		} `json:"exec"`
	} `json:"startupProbe"`
}

func (c kubeContainer) env(name string) string {
	for _, e := range c.Env {
		if e.Name == name {
			return e.Value
		}
	}
	return ""
}

// TestKubernetesSample applies scripts/kubernetes/wg-device.yaml as written
// to a real kube-apiserver that has none of it (server-side validation of
// every field: a field the API does not know fails the apply), and checks
// what the pod needs to start in order: its namespace comes with it;
// wireguard-go is a native sidecar (an init container that keeps running)
// whose startup probe waits for the interface's control socket, so the
// kubelet starts wg-device only once the interface exists (a wg-device
// started before it would fail and be restarted); and wg-device, pointed at
// an HTTPS Vault, trusts Vault's CA from a ConfigMap the header says how to
// create.
func TestKubernetesSample(t *testing.T) {
	k := startKube(t)
	sample := "../scripts/kubernetes/wg-device.yaml"
	// A server-side dry run of the file on an empty cluster refuses the
	// namespaced objects (their namespace is only pretended), so apply it
	// for real, then dry-run it again: nothing left to change.
	k.kubectl("apply", "-f", sample)
	again := k.kubectl("apply", "--dry-run=server", "-f", sample)
	require.Equal(t, 3, strings.Count(again, "unchanged (server dry run)"), again)

	var deploy struct {
		Spec struct {
			Template struct {
				Spec podSpec `json:"spec"`
			} `json:"template"`
		} `json:"spec"`
	}
	require.NoError(t, json.Unmarshal([]byte(k.kubectl("get", "deployment", "wg-device", "-n", "fleet", "-o", "json")), &deploy))
	pod := deploy.Spec.Template.Spec
	k.kubectl("get", "serviceaccount", pod.ServiceAccountName, "-n", "fleet")

	// wireguard-go first, as a sidecar that is started when its socket is there.
	require.Len(t, pod.InitContainers, 1)
	wg := pod.InitContainers[0]
	require.Equal(t, "wireguard-go", wg.Command[0])
	require.Equal(t, "Always", wg.RestartPolicy, "a native sidecar: the kubelet starts the containers after it")
	require.NotNil(t, wg.StartupProbe)
	require.NotNil(t, wg.StartupProbe.Exec)
	require.Equal(t, []string{"test", "-S", "/var/run/wireguard/wg0.sock"}, wg.StartupProbe.Exec.Command)

	require.Len(t, pod.Containers, 1)
	dev := pod.Containers[0]
	require.Equal(t, []string{"wg-device", "run"}, dev.Command)
	require.Equal(t, "wg0", dev.env("WG_DEVICE_INTERFACE"))
	require.Equal(t, "kubernetes", dev.env("WG_DEVICE_AUTH"))
	mountOf := func(c kubeContainer, dir string) string {
		for _, m := range c.VolumeMounts {
			if m.MountPath == dir || strings.HasPrefix(dir, strings.TrimSuffix(m.MountPath, "/")+"/") {
				return m.Name
			}
		}
		return ""
	}
	require.NotEmpty(t, mountOf(wg, "/var/run/wireguard/wg0.sock"))
	require.Equal(t, mountOf(wg, "/var/run/wireguard/wg0.sock"), mountOf(dev, "/var/run/wireguard/wg0.sock"),
		"both containers share wireguard-go's socket directory")

	// HTTPS Vault: its CA is mounted where VAULT_CACERT says, from a ConfigMap
	// the header tells how to create.
	require.True(t, strings.HasPrefix(dev.env("VAULT_ADDR"), "https://"), dev.env("VAULT_ADDR"))
	caFile := dev.env("VAULT_CACERT")
	require.NotEmpty(t, caFile, "VAULT_CACERT with an https VAULT_ADDR")
	vol := mountOf(dev, caFile)
	require.NotEmpty(t, vol, "VAULT_CACERT=%s is on no volume of wg-device", caFile)
	var configMap string
	for _, v := range pod.Volumes {
		if v.Name == vol && v.ConfigMap != nil {
			configMap = v.ConfigMap.Name
		}
	}
	require.NotEmpty(t, configMap, "VAULT_CACERT comes from a ConfigMap")
	text, err := os.ReadFile(sample)
	require.NoError(t, err)
	create := "kubectl -n fleet create configmap " + configMap + " --from-file=" + filepath.Base(caFile) + "="
	require.Contains(t, string(text), create, "the header says how to create the ConfigMap")
	// The header's command, with a CA file, puts the file where the pod reads it.
	args := strings.Fields(strings.TrimPrefix(create, "kubectl "))
	args[len(args)-1] += k.caFile
	k.kubectl(args...)
	caPEM, err := os.ReadFile(k.caFile)
	require.NoError(t, err)
	require.Equal(t, string(caPEM), k.kubectl("get", "configmap", configMap, "-n", "fleet",
		"-o", "jsonpath={.data."+strings.ReplaceAll(filepath.Base(caFile), ".", `\.`)+"}"))
}
