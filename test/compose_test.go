package test

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/loader"
	composetypes "github.com/compose-spec/compose-go/v2/types"
	"github.com/stretchr/testify/require"
)

// makeTargets are the targets the Makefile defines.
func makeTargets(t *testing.T) []string {
	t.Helper()
	f, err := os.Open("../Makefile")
	require.NoError(t, err)
	defer f.Close()
	var targets []string
	re := regexp.MustCompile(`^([A-Za-z0-9_.-]+):`)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if m := re.FindStringSubmatch(sc.Text()); m != nil {
			targets = append(targets, m[1])
		}
	}
	require.NoError(t, sc.Err())
	return targets
}

// A dockerfile is what the checks read from a Dockerfile: its stages, the
// sources of its COPY lines (from the context), and its RUN lines.
type dockerfile struct {
	stages  []string
	copies  []string // context-relative sources
	copyDst map[string]string
	runs    []string
}

func parseDockerfile(t *testing.T, path string) dockerfile {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	text := strings.ReplaceAll(string(data), "\\\n", " ")
	d := dockerfile{copyDst: map[string]string{}}
	for _, line := range strings.Split(text, "\n") {
		words := strings.Fields(line)
		if len(words) == 0 || strings.HasPrefix(words[0], "#") {
			continue
		}
		switch strings.ToUpper(words[0]) {
		case "FROM":
			if len(words) == 4 && strings.EqualFold(words[2], "AS") {
				d.stages = append(d.stages, words[3])
			}
		case "COPY":
			args := words[1:]
			fromStage := false
			for len(args) > 0 && strings.HasPrefix(args[0], "--") {
				fromStage = fromStage || strings.HasPrefix(args[0], "--from=")
				args = args[1:]
			}
			require.GreaterOrEqual(t, len(args), 2, "COPY without source and destination: %s", line)
			if !fromStage {
				for _, src := range args[:len(args)-1] {
					d.copies = append(d.copies, src)
					d.copyDst[filepath.Base(src)] = args[len(args)-1]
				}
			}
		case "RUN":
			d.runs = append(d.runs, strings.Join(words[1:], " "))
		}
	}
	return d
}

// loadCompose reads docker-compose.yml with compose-go, the Compose
// specification's own Go implementation (the parser docker compose uses):
// it validates the file against the specification's JSON schema and
// resolves build contexts and bind mounts against the repository.
func loadCompose(t *testing.T) *composetypes.Project {
	t.Helper()
	root, err := filepath.Abs("..")
	require.NoError(t, err)
	details, err := loader.LoadConfigFiles(t.Context(), []string{filepath.Join(root, "docker-compose.yml")}, root)
	require.NoError(t, err)
	project, err := loader.LoadWithContext(t.Context(), *details)
	require.NoError(t, err, "docker-compose.yml does not follow the Compose specification")
	return project
}

// TestComposeFile checks docker-compose.yml without a Docker engine: it
// follows the Compose specification (compose-go validates it against the
// schema), every build context, Dockerfile, stage, copied file, script and
// Makefile target it relies on exists, the scripts are valid bash, and the
// services it waits for are defined.
func TestComposeFile(t *testing.T) {
	c := loadCompose(t)
	for _, name := range []string{"vault", "setup", "gateway", "device"} {
		require.Contains(t, c.Services, name, "service %s", name)
	}
	targets := makeTargets(t)
	for _, want := range []string{"build", "demo", "kube-apiserver", "test", "dev"} {
		require.Contains(t, targets, want, "Makefile target %s", want)
	}

	dockerfiles := map[string]dockerfile{}
	for name, s := range c.Services {
		require.NotNil(t, s.Build, "service %s is built from this repository", name)
		ctx := s.Build.Context
		st, err := os.Stat(ctx)
		require.NoError(t, err, "service %s: build context", name)
		require.True(t, st.IsDir())
		dfPath := filepath.Join(ctx, s.Build.Dockerfile)
		df, ok := dockerfiles[dfPath]
		if !ok {
			df = parseDockerfile(t, dfPath)
			dockerfiles[dfPath] = df
			for _, src := range df.copies {
				matches, err := filepath.Glob(filepath.Join(ctx, src))
				require.NoError(t, err)
				require.NotEmpty(t, matches, "%s: COPY %s: no such file in the build context", dfPath, src)
			}
			for _, run := range df.runs {
				for _, m := range regexp.MustCompile(`\bmake\s+([A-Za-z0-9_.-]+)`).FindAllStringSubmatch(run, -1) {
					require.Contains(t, targets, m[1], "%s: RUN %s: no such Makefile target", dfPath, run)
				}
			}
		}
		require.Contains(t, df.stages, s.Build.Target, "service %s: no stage %q in %s", name, s.Build.Target, dfPath)

		for dep, cond := range s.DependsOn {
			require.Contains(t, c.Services, dep, "service %s depends on an undefined service", name)
			if cond.Condition == composetypes.ServiceConditionHealthy {
				require.NotNil(t, c.Services[dep].HealthCheck, "service %s waits for %s to be healthy, which has no healthcheck", name, dep)
			}
		}
		for _, v := range s.Volumes {
			switch v.Type {
			case composetypes.VolumeTypeBind:
				_, err := os.Stat(v.Source)
				require.NoError(t, err, "service %s: bind mount %s", name, v.Source)
			case composetypes.VolumeTypeVolume:
				require.Contains(t, c.Volumes, v.Source, "service %s: volume %s is not declared", name, v.Source)
			}
		}
		if slices.ContainsFunc(s.Devices, func(d composetypes.DeviceMapping) bool { return d.Source == "/dev/net/tun" }) {
			require.Contains(t, s.CapAdd, "NET_ADMIN", "service %s has a TUN device but cannot configure it", name)
		}

		// A command that is one of our scripts must be copied into the image,
		// exist in the repository, be executable and be valid bash.
		cmd := s.Command
		require.NotEmpty(t, cmd, "service %s has a command", name)
		if strings.HasSuffix(cmd[0], ".sh") {
			dst, copied := df.copyDst[cmd[0]]
			require.True(t, copied, "service %s runs %s, which %s does not copy in", name, cmd[0], dfPath)
			require.Equal(t, "/usr/local/bin/", dst, "service %s: %s must be on PATH", name, cmd[0])
			script := filepath.Join("../scripts/docker", cmd[0])
			st, err := os.Stat(script)
			require.NoError(t, err)
			require.NotZero(t, st.Mode().Perm()&0o111, "%s is executable", script)
			if bash, err := exec.LookPath("bash"); err == nil {
				out, err := exec.Command(bash, "-n", script).CombinedOutput()
				require.NoError(t, err, "bash -n %s: %s", script, out)
			}
		}
	}

	// The set-up script loads the policies the image carries.
	setup, err := os.ReadFile("../scripts/docker/setup.sh")
	require.NoError(t, err)
	for _, m := range regexp.MustCompile(`/etc/wg-demo/policies/(\S+\.hcl)`).FindAllStringSubmatch(string(setup), -1) {
		_, err := os.Stat(filepath.Join("../scripts/policies", m[1]))
		require.NoError(t, err, "setup.sh loads policy %s", m[1])
	}
}

// dockerignored reports whether .dockerignore's patterns leave path
// (relative to the build context, slash-separated) out of the context, as
// Docker reads them: a pattern matches the path or one of its parent
// directories; a later "!" pattern takes a path back.
func dockerignored(t *testing.T, patterns []string, path string) bool {
	t.Helper()
	ignored := false
	for _, p := range patterns {
		negate := strings.HasPrefix(p, "!")
		p = filepath.Clean(strings.TrimPrefix(p, "!"))
		for dir := path; dir != "."; dir = filepath.Dir(dir) {
			ok, err := filepath.Match(p, dir)
			require.NoError(t, err, ".dockerignore pattern %q", p)
			if ok {
				ignored = !negate
				break
			}
		}
	}
	return ignored
}

// TestDockerignore checks that `docker compose build` sends neither the
// git history nor local builds to Docker, and still everything the
// Dockerfile copies and `make build` compiles.
func TestDockerignore(t *testing.T) {
	data, err := os.ReadFile("../.dockerignore")
	require.NoError(t, err, "a .dockerignore beside docker-compose.yml")
	var patterns []string
	for _, line := range strings.Split(string(data), "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			patterns = append(patterns, line)
		}
	}
	for _, path := range []string{".git/HEAD", ".git/objects/pack/x.pack", "bin/wg-device", "bin/vault-plugin-secrets-wireguard", "results/bench-1/bench.json"} {
		require.True(t, dockerignored(t, patterns, path), "%s is sent to Docker", path)
	}
	keep := []string{"Makefile", "go.mod", "go.sum", "cmd/wg-device/main.go", "backend/backend.go"}
	for _, src := range parseDockerfile(t, "../scripts/docker/Dockerfile").copies {
		matches, err := filepath.Glob(filepath.Join("..", src))
		require.NoError(t, err)
		for _, m := range matches {
			rel, err := filepath.Rel("..", m)
			require.NoError(t, err)
			if rel != "." {
				keep = append(keep, rel)
			}
		}
	}
	for _, path := range keep {
		require.False(t, dockerignored(t, patterns, path), "%s is needed in the image's build but left out", path)
	}
}
