package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// profileDuring captures CPU profiles of the plugin (its pprof listener,
// profile mode only) and of Vault (sys/pprof) for the given seconds while
// work runs, and saves each with its `go tool pprof -top` beside it. It is
// a no-op without -profile: work runs alone.
func (b *bench) profileDuring(name string, seconds int, work func(ctx context.Context)) {
	if !b.p.Profile {
		return
	}
	dir := filepath.Join(b.p.Out, "profiles")
	_ = os.MkdirAll(dir, 0o755)
	var wg sync.WaitGroup
	targets := map[string]string{
		"plugin": fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", b.vault.pprof, seconds),
		"vault":  fmt.Sprintf("%s/v1/sys/pprof/profile?seconds=%d", b.vault.addr, seconds),
	}
	for who, url := range targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			path := filepath.Join(dir, name+"-"+who+".cpu.pprof")
			if err := fetchProfile(url, path); err != nil {
				logf("profile %s of %s: %v", who, name, err)
				return
			}
			b.savedProfile(name+" "+who, path)
		}()
	}
	// gc=1: a heap profile shows what was allocated up to the last
	// collection; one just before each makes the difference the work's.
	allocs := map[string]string{
		"plugin": fmt.Sprintf("http://%s/debug/pprof/allocs?gc=1", b.vault.pprof),
		"vault":  fmt.Sprintf("%s/v1/sys/pprof/allocs?gc=1", b.vault.addr),
	}
	allocPath := func(who, when string) string {
		return filepath.Join(dir, name+"-"+who+".allocs-"+when+".pprof")
	}
	for who, url := range allocs {
		if err := fetchProfile(url, allocPath(who, "before")); err != nil {
			logf("allocation profile %s of %s: %v", who, name, err)
		}
	}
	ctx, cancel := context.WithTimeout(b.ctx, time.Duration(seconds)*time.Second)
	time.Sleep(200 * time.Millisecond) // the profiles have started
	work(ctx)
	cancel()
	for who, url := range allocs {
		if err := fetchProfile(url, allocPath(who, "after")); err != nil {
			logf("allocation profile %s of %s: %v", who, name, err)
			continue
		}
		b.savedAllocs(name+" "+who+" allocations", allocPath(who, "before"), allocPath(who, "after"))
	}
	wg.Wait()
}

// savedAllocs writes `go tool pprof -top` of the bytes allocated between
// two allocation profiles (after minus before) beside them.
func (b *bench) savedAllocs(label, before, after string) {
	top := strings.TrimSuffix(after, ".allocs-after.pprof") + ".allocs.top.txt"
	out, err := exec.Command("go", "tool", "pprof", "-top", "-cum", "-nodecount=80", "-sample_index=alloc_space", "-base", before, after).CombinedOutput()
	if err == nil {
		err = os.WriteFile(top, out, 0o644)
	}
	if err != nil {
		logf("pprof -top %s: %v", after, err)
		return
	}
	b.report.mu.Lock()
	b.report.Profiles[label] = top
	b.report.mu.Unlock()
}

func fetchProfile(url, path string) error {
	_ = os.MkdirAll(filepath.Dir(path), 0o755)
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("X-Vault-Token", rootToken)
	resp, err := (&http.Client{Timeout: 5 * time.Minute}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("status %d: %s", resp.StatusCode, truncate(b))
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(f, resp.Body)
	return err
}

// savedProfile writes `go tool pprof -top` of a profile beside it and
// records both in the report.
func (b *bench) savedProfile(label, path string) {
	top := strings.TrimSuffix(path, ".pprof") + ".top.txt"
	_ = os.MkdirAll(filepath.Dir(path), 0o755)
	out, err := exec.Command("go", "tool", "pprof", "-top", "-nodecount=40", path).CombinedOutput()
	if err == nil {
		err = os.WriteFile(top, out, 0o644)
	}
	if err != nil {
		logf("pprof -top %s: %v", path, err)
		b.report.mu.Lock()
		b.report.Profiles[label] = path
		b.report.mu.Unlock()
		return
	}
	cum := filepath.Join(filepath.Dir(top), strings.TrimSuffix(filepath.Base(path), ".pprof")+".cum.txt")
	if out, err := exec.Command("go", "tool", "pprof", "-top", "-cum", "-nodecount=60", path).CombinedOutput(); err == nil {
		_ = os.WriteFile(cum, out, 0o644)
	}
	b.report.mu.Lock()
	b.report.Profiles[label] = top
	b.report.mu.Unlock()
	logf("profile %s: %s", label, top)
}
