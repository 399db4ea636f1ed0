package bench

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// rusageThread is RUSAGE_THREAD: the calling thread's usage (Linux).
const rusageThread = 1

func rusageCPU(who int) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(who, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// ProcessCPU returns the user and system CPU time of this process.
func ProcessCPU() time.Duration { return rusageCPU(syscall.RUSAGE_SELF) }

// ThreadCPU returns the user and system CPU time of the calling OS
// thread; call it from a goroutine locked with runtime.LockOSThread.
func ThreadCPU() time.Duration { return rusageCPU(rusageThread) }

// clockTick is USER_HZ, the unit of /proc/PID/stat times; 100 on every
// Linux architecture Go supports.
const clockTick = 10 * time.Millisecond

// PidCPU returns the CPU time of process pid and of its children that it
// has waited for (utime, stime, cutime and cstime of /proc/PID/stat), so
// that forking servers are charged for their session processes once those
// end.
func PidCPU(pid int) (time.Duration, error) {
	st, err := readProcStat(pid)
	return st.cpu, err
}

// PidRSS returns the resident set size of process pid in bytes, from
// /proc/PID/statm; pid 0 means this process.
func PidRSS(pid int) (int64, error) {
	name := "/proc/self/statm"
	if pid != 0 {
		name = fmt.Sprintf("/proc/%d/statm", pid)
	}
	b, err := os.ReadFile(name)
	if err != nil {
		return 0, err
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0, fmt.Errorf("bench: malformed %s", name)
	}
	pages, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		return 0, err
	}
	return pages * int64(os.Getpagesize()), nil
}

// RaiseFileLimit raises the soft RLIMIT_NOFILE to the hard limit and
// returns the new soft limit.
func RaiseFileLimit() (uint64, error) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0, err
	}
	if rl.Cur < rl.Max {
		rl.Cur = rl.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
			return 0, err
		}
	}
	return rl.Cur, nil
}
