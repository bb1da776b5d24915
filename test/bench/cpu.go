package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTick is the unit of utime and stime in /proc/<pid>/stat (USER_HZ,
// 100 on every Linux the bench runs on).
const clockTick = 10 * time.Millisecond

// procCPU is the CPU time a process has used, user plus system, from
// /proc/<pid>/stat (fields 14 and 15); 0 when it cannot be read.
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')') // comm may hold spaces
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:]) // f[0] is field 3 (state)
	if len(f) < 13 {
		return 0
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0
	}
	return time.Duration(ut+st) * clockTick
}

// machineBusy is the CPU time all of the machine's cores have spent busy
// (neither idle nor waiting for I/O), from the first line of /proc/stat.
func machineBusy() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 5 || f[0] != "cpu" {
		return 0
	}
	var busy int64
	for i, v := range f[1:] {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0
		}
		if i != 3 && i != 4 { // idle, iowait
			busy += n
		}
	}
	return time.Duration(busy) * clockTick
}

// cpuUse is the CPU time Vault and the plugin used during a load, per
// request: a figure the machine's other work hardly moves, unlike
// throughput. OtherShare is the part of the machine's busy time during
// the load that was neither Vault, the plugin nor the bench itself: the
// other work the load competed with.
type cpuUse struct {
	VaultUS    float64 `json:"vault_us_per_req"`
	PluginUS   float64 `json:"plugin_us_per_req"`
	BenchUS    float64 `json:"bench_us_per_req"`
	OtherShare float64 `json:"other_share"`
}

// Total is Vault's and the plugin's CPU per request.
func (c cpuUse) Total() float64 { return c.VaultUS + c.PluginUS }

// cpuMeter reads the CPU time of Vault and (when found) the plugin.
type cpuMeter struct{ vault, plugin int }

// cpuMeter measures Vault and its plugin process whose executable is
// named plugin.
func (s *vaultServer) cpuMeter(plugin string) cpuMeter {
	m := cpuMeter{vault: s.Pid()}
	if pid, err := s.findChild(plugin); err == nil {
		m.plugin = pid
	} else {
		logf("CPU per request without the plugin: %v", err)
	}
	return m
}

// measure runs f and returns the CPU time used per request during it.
func (m cpuMeter) measure(requests int, f func()) cpuUse {
	self := os.Getpid()
	read := func() (v, p, b, all time.Duration) {
		v = procCPU(m.vault)
		if m.plugin != 0 {
			p = procCPU(m.plugin)
		}
		return v, p, procCPU(self), machineBusy()
	}
	v0, p0, b0, a0 := read()
	f()
	v1, p1, b1, a1 := read()
	if requests == 0 {
		return cpuUse{}
	}
	per := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(requests) }
	u := cpuUse{VaultUS: per(v1 - v0), PluginUS: per(p1 - p0), BenchUS: per(b1 - b0)}
	if all := a1 - a0; all > 0 {
		u.OtherShare = max(0, float64(all-(v1-v0)-(p1-p0)-(b1-b0))/float64(all))
	}
	return u
}
