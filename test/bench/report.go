package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"text/tabwriter"
	"time"
)

// A report is a run's table and raw figures.
type report struct {
	mu       sync.Mutex
	Started  time.Time         `json:"started"`
	Params   params            `json:"params"`
	Machine  machine           `json:"machine"`
	Rows     []row             `json:"rows"`
	Raw      map[string]any    `json:"raw"`
	Profiles map[string]string `json:"profiles,omitempty"`
	Notes    []string          `json:"notes,omitempty"`
	LoadEnd  string            `json:"loadavg_at_end"`
	Error    string            `json:"error,omitempty"`
}

// A row is one line of the table. Verdict is "met", "MISSED" or "" when
// the figure has no goal.
type row struct {
	ID      string `json:"id"`
	What    string `json:"what"`
	Ours    string `json:"ours"`
	Anchor  string `json:"anchor"`
	Ratio   string `json:"ratio"`
	Goal    string `json:"goal"`
	Verdict string `json:"verdict"`
}

func newReport(p params) *report {
	return &report{Started: time.Now().UTC(), Params: p, Raw: map[string]any{}, Profiles: map[string]string{}}
}

func (r *report) add(rw row) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.Rows = append(r.Rows, rw)
	logf("%s %s: ours %s | anchor %s | ratio %s | goal %s %s", rw.ID, rw.What, rw.Ours, rw.Anchor, rw.Ratio, rw.Goal, rw.Verdict)
}

func (r *report) raw(key string, v any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.Raw[key] = v
}

func (r *report) setLoadEnd(load string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.LoadEnd = load
}

func (r *report) note(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.Notes = append(r.Notes, fmt.Sprintf(format, args...))
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "MISSED"
}

func (r *report) write(path string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

func (r *report) printTable(w io.Writer) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.Machine
	dirty := ""
	if m.Dirty {
		dirty = " (with uncommitted changes)"
	}
	fmt.Fprintf(w, "machine: %s, %d cores, %d MB, %s, load average at start %s, at end %s\n", m.CPU, m.Cores, m.MemMB, m.Kernel, m.LoadAvg, dash(r.LoadEnd))
	fmt.Fprintf(w, "vault:   %s; plugin and wg-gateway at commit %s%s, %s\n", m.Vault, m.Commit, dirty, m.Go)
	fmt.Fprintf(w, "run:     %s, %d clients; medians of %d rounds where rounds apply; ratios: median of the per-round ratios (min–max)\n", r.Started.Format(time.RFC3339), r.Params.Clients, r.Params.Rounds)
	if r.Params.Overlay != "" {
		fmt.Fprintf(w, "NOTE:    plugin and wg-gateway built with -overlay %s (not the commit as it is)\n", r.Params.Overlay)
	}
	if r.Params.GatewayEnv != "" {
		fmt.Fprintf(w, "NOTE:    wg-gateway ran with %s in its environment\n", r.Params.GatewayEnv)
	}
	if r.Params.PluginEnv != "" {
		fmt.Fprintf(w, "NOTE:    the plugin ran with %s in its environment\n", r.Params.PluginEnv)
	}
	if r.Params.Profile {
		fmt.Fprintln(w, "NOTE:    profile mode: the plugin and wg-gateway are the profiling wrappers, and profiles were taken during the run")
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "#\twhat\tours (wg engine / wg-gateway)\tanchor\tratio\tgoal\t")
	fmt.Fprintln(tw, "-\t----\t-----------------------------\t------\t-----\t----\t")
	for _, rw := range r.Rows {
		goal := rw.Goal
		if rw.Verdict != "" {
			goal += "  " + rw.Verdict
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t\n", rw.ID, rw.What, dash(rw.Ours), dash(rw.Anchor), dash(rw.Ratio), dash(goal))
	}
	tw.Flush()
	if len(r.Notes) > 0 {
		fmt.Fprintln(w, "\nnotes:")
		for _, n := range r.Notes {
			fmt.Fprintln(w, "  - "+n)
		}
	}
	if len(r.Profiles) > 0 {
		fmt.Fprintln(w, "\nprofiles:")
		for k, v := range r.Profiles {
			fmt.Fprintf(w, "  %s: %s\n", k, v)
		}
	}
	if r.Error != "" {
		fmt.Fprintln(w, "\nthe run FAILED before the end: "+r.Error)
	}
}

func dash(s string) string {
	if strings.TrimSpace(s) == "" {
		return "—"
	}
	return s
}
