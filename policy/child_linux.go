package policy

import (
	"errors"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
)

// childSupported reports whether Config.ChildCompile can work here.
const childSupported = true

// selfExecutable is this process's executable: /proc/self/exe, which
// still works after an upgrade replaced the file on disk.
func selfExecutable() (string, error) { return "/proc/self/exe", nil }

// limitSelf bounds the child: RLIMIT_AS at the address space the Go
// runtime reserved at start (about 1.2 GiB on amd64, nearly all of it
// never touched) plus memory, so that the compile can add at most memory
// bytes; a soft memory limit three quarters of the way makes the
// collector work before an allocation fails; RLIMIT_CPU at cpuSeconds
// (SIGXCPU, turned into exit status childCPU) and one second more as a
// hard limit (SIGKILL).
func limitSelf(memory int64, cpuSeconds uint64) error {
	base, err := vmSize()
	if err != nil {
		return err
	}
	as := uint64(base) + uint64(memory)*raceAddressFactor
	if err := syscall.Setrlimit(syscall.RLIMIT_AS, &syscall.Rlimit{Cur: as, Max: as}); err != nil {
		return err
	}
	debug.SetMemoryLimit(memory / 4 * 3)
	xcpu := make(chan os.Signal, 1)
	signal.Notify(xcpu, syscall.SIGXCPU)
	go func() {
		<-xcpu
		os.Exit(childCPU)
	}()
	return syscall.Setrlimit(syscall.RLIMIT_CPU, &syscall.Rlimit{Cur: cpuSeconds, Max: cpuSeconds + 1})
}

// vmSize is this process's address space in bytes.
func vmSize() (int64, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmSize:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, errors.New("no VmSize in /proc/self/status")
}
