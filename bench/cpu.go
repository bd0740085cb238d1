//go:build linux

package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// userHZ is the unit of the times in /proc/PID/stat (USER_HZ, which Linux
// fixes at 100 on every architecture Go runs on).
const userHZ = 100

// cpuSeconds returns the user plus system CPU time the processes have used.
func cpuSeconds(pids []int) (float64, error) {
	var ticks int64
	for _, pid := range pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return 0, err
		}
		t, err := parseStatTicks(string(b))
		if err != nil {
			return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
		}
		ticks += t
	}
	return float64(ticks) / userHZ, nil
}

// parseStatTicks returns utime+stime from the text of /proc/PID/stat. The
// command name in parentheses may hold spaces, so fields count from the last
// ')': state is field 3, utime 14 and stime 15.
func parseStatTicks(stat string) (int64, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("no command name in %q", stat)
	}
	f := strings.Fields(stat[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("short stat line %q", stat)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("bad utime/stime %q %q", f[11], f[12])
	}
	return utime + stime, nil
}

// busyFraction returns the share of all CPUs' time that was not idle over
// the next interval, from /proc/stat: a sign of other load on the machine.
func busyFraction(interval time.Duration) (float64, error) {
	b0, t0, err := procStatCPU()
	if err != nil {
		return 0, err
	}
	time.Sleep(interval)
	b1, t1, err := procStatCPU()
	if err != nil {
		return 0, err
	}
	if t1 <= t0 {
		return 0, nil
	}
	return float64(b1-b0) / float64(t1-t0), nil
}

func procStatCPU() (busy, total int64, err error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	return parseStatCPU(line)
}

// parseStatCPU reads the aggregate "cpu" line of /proc/stat: user nice
// system idle iowait irq softirq steal …; idle and iowait are not busy.
// guest times are already counted in user and nice.
func parseStatCPU(line string) (busy, total int64, err error) {
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0, 0, fmt.Errorf("not a /proc/stat cpu line: %q", line)
	}
	for i, s := range f[1:9] {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("bad /proc/stat field %q", s)
		}
		total += v
		if i != 3 && i != 4 {
			busy += v
		}
	}
	return busy, total, nil
}
