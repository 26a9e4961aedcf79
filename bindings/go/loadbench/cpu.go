package main

// CPU accounting of the processes of a run.

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// selfCPU is the CPU time (user + system) of this process so far, every
// thread included, those that have exited too.
func selfCPU() time.Duration {
	cpu, _ := selfUsage()
	return cpu
}

// selfUsage is selfCPU and the number of context switches (voluntary and
// not) of this process's threads so far.
func selfUsage() (cpu time.Duration, switches int64) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), ru.Nvcsw + ru.Nivcsw
}

// threadsCPU is the CPU time so far of the live threads of process pid
// ("self" for this one) whose name starts with prefix ("" for all), from
// /proc/<pid>/task/*/schedstat (nanoseconds on the CPU). Threads that
// have exited are not counted: use it for threads that live as long as
// the process (a library's loop thread; a Go program's threads, which the
// Go runtime keeps).
func threadsCPU(pid, prefix string) time.Duration {
	dirs, _ := filepath.Glob(filepath.Join("/proc", pid, "task", "*"))
	var total time.Duration
	for _, dir := range dirs {
		if prefix != "" {
			comm, err := os.ReadFile(filepath.Join(dir, "comm"))
			if err != nil || !strings.HasPrefix(string(comm), prefix) {
				continue
			}
		}
		stat, err := os.ReadFile(filepath.Join(dir, "schedstat"))
		if err != nil {
			continue
		}
		fields := strings.Fields(string(stat))
		if len(fields) == 0 {
			continue
		}
		ns, err := strconv.ParseInt(fields[0], 10, 64)
		if err == nil {
			total += time.Duration(ns)
		}
	}
	return total
}
