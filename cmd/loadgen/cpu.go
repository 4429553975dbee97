package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// cpuSample is a reading of /proc CPU counters (clock ticks): the whole
// machine's busy time, this process's and the server's. Where /proc is
// missing (not Linux) the sample is empty and usage reports nothing.
type cpuSample struct {
	at      time.Time
	ok      bool
	busy    float64 // all CPUs, ticks not idle/iowait
	self    float64
	server  float64
	hasSrv  bool
	clkTick float64
}

func takeCPU(pid int) cpuSample {
	s := cpuSample{at: time.Now(), clkTick: 100}
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return s
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return s
	}
	var total float64
	for i, v := range f[1:] {
		x, _ := strconv.ParseFloat(v, 64)
		if i >= 8 { // guest and guest_nice are already in user and nice
			break
		}
		total += x
	}
	idle, _ := strconv.ParseFloat(f[4], 64)
	iowait, _ := strconv.ParseFloat(f[5], 64)
	s.busy = total - idle - iowait
	var ok bool
	if s.self, ok = procTicks("self"); !ok {
		return s
	}
	if pid > 0 {
		s.server, s.hasSrv = procTicks(strconv.Itoa(pid))
	}
	s.ok = true
	return s
}

// procTicks is utime+stime of /proc/<p>/stat.
func procTicks(p string) (float64, bool) {
	b, err := os.ReadFile("/proc/" + p + "/stat")
	if err != nil {
		return 0, false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, false
	}
	u, err1 := strconv.ParseFloat(f[11], 64) // field 14 of the full line
	st, err2 := strconv.ParseFloat(f[12], 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return u + st, true
}

// cpuUsage is the CPU used between two samples, in percent of one core.
type cpuUsage struct {
	Server  float64 `json:"server_cpu_pct"`
	Loadgen float64 `json:"loadgen_cpu_pct"`
	Other   float64 `json:"other_cpu_pct"` // everything else on the machine
}

func usageBetween(a, b cpuSample) (cpuUsage, bool) {
	if !a.ok || !b.ok {
		return cpuUsage{}, false
	}
	sec := b.at.Sub(a.at).Seconds()
	if sec <= 0 {
		return cpuUsage{}, false
	}
	pct := func(ticks float64) float64 { return ticks / a.clkTick / sec * 100 }
	u := cpuUsage{Loadgen: pct(b.self - a.self)}
	if a.hasSrv && b.hasSrv {
		u.Server = pct(b.server - a.server)
	}
	u.Other = max(0, pct(b.busy-a.busy)-u.Loadgen-u.Server)
	return u, true
}

func (u cpuUsage) String() string {
	return fmt.Sprintf("server %.0f%%, loadgen %.0f%%, other processes %.0f%% (100%% = one core)", u.Server, u.Loadgen, u.Other)
}
