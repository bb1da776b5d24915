package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// procMem is a process's resident memory from /proc/<pid>/status.
type procMem struct {
	PID    int   `json:"pid"`
	RSSKB  int64 `json:"vm_rss_kb"`
	HWMKB  int64 `json:"vm_hwm_kb"`
	AnonKB int64 `json:"rss_anon_kb"`
}

func (m procMem) MB() float64 { return float64(m.RSSKB) / 1024 }

// PeakMB is the most the process has held resident (VmHWM).
func (m procMem) PeakMB() float64 { return float64(m.HWMKB) / 1024 }

// gatewayGoalMB is the fleet-scale goal for wg-gateway with 50,000 peers,
// rules or not: at most 100 MB resident at any time, its cold start
// included (the peak, VmHWM), not only at rest.
const gatewayGoalMB = 100

// gatewayGoal is gatewayGoalMB as the report's goal column says it.
var gatewayGoal = fmt.Sprintf("≤ %d MB at the peak", gatewayGoalMB)

// gatewayVerdict judges a gateway's memory against gatewayGoalMB.
func gatewayVerdict(m procMem) string {
	switch {
	case m.PeakMB() <= gatewayGoalMB:
		return "met"
	case m.MB() <= gatewayGoalMB:
		return "met at rest, MISSED at peak"
	}
	return "MISSED"
}

func readMem(pid int) (procMem, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return procMem{}, err
	}
	defer f.Close()
	m := procMem{PID: pid}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		switch k {
		case "VmRSS":
			m.RSSKB = parseKB(v)
		case "VmHWM":
			m.HWMKB = parseKB(v)
		case "RssAnon":
			m.AnonKB = parseKB(v)
		}
	}
	return m, sc.Err()
}

func parseKB(s string) int64 {
	f := strings.Fields(s)
	if len(f) == 0 {
		return 0
	}
	n, _ := strconv.ParseInt(f[0], 10, 64)
	return n
}

// ppid is a process's parent from /proc/<pid>/stat.
func ppid(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// pid (comm) state ppid ...; comm may hold spaces: cut after the last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 2 {
		return 0
	}
	n, _ := strconv.Atoi(f[1])
	return n
}

// findPlugin finds the plugin process that our Vault started: a process
// whose executable is named like the plugin and whose parent is our Vault
// (other Vault servers on the machine may run the same plugin).
func (s *vaultServer) findPlugin() (int, error) {
	return s.findChild(pluginName)
}

// findChild finds the process of Vault's whose executable is named name.
func (s *vaultServer) findChild(name string) (int, error) {
	pluginName := name
	vaultPID := s.Pid()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	var found []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || len(cmdline) == 0 {
			continue
		}
		argv0, _, _ := strings.Cut(string(cmdline), "\x00")
		if filepath.Base(argv0) == pluginName && ppid(pid) == vaultPID {
			found = append(found, pid)
		}
	}
	switch len(found) {
	case 0:
		return 0, fmt.Errorf("no %s process under vault (pid %d)", pluginName, vaultPID)
	case 1:
		return found[0], nil
	}
	return 0, fmt.Errorf("%d %s processes under vault (pid %d): %v", len(found), pluginName, vaultPID, found)
}
