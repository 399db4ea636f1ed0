package bench

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// procStat is what TreeCPU needs of /proc/PID/stat.
type procStat struct {
	ppid int
	cpu  time.Duration // utime+stime+cutime+cstime
}

func readProcStat(pid int) (procStat, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procStat{}, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return procStat{}, fmt.Errorf("bench: malformed /proc/%d/stat", pid)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 15 {
		return procStat{}, fmt.Errorf("bench: short /proc/%d/stat", pid)
	}
	var st procStat
	if st.ppid, err = strconv.Atoi(f[1]); err != nil {
		return st, err
	}
	for _, v := range f[11:15] {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return st, err
		}
		st.cpu += time.Duration(n) * clockTick
	}
	return st, nil
}

// treePids returns pid and all its descendants, found by scanning /proc.
func treePids(pid int) ([]int, error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	children := map[int][]int{}
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, err := readProcStat(p)
		if err != nil {
			continue // gone meanwhile
		}
		children[st.ppid] = append(children[st.ppid], p)
	}
	out := []int{pid}
	for i := 0; i < len(out) && i < 1_000_000; i++ {
		out = append(out, children[out[i]]...)
	}
	return out, nil
}

// TreeCPU returns the CPU time of process pid and every descendant, live
// or already waited for, so that servers forking a process per session
// are charged for their sessions.
func TreeCPU(pid int) (time.Duration, error) {
	pids, err := treePids(pid)
	if err != nil {
		return 0, err
	}
	var total time.Duration
	for i, p := range pids {
		st, err := readProcStat(p)
		if err != nil {
			if i == 0 {
				return 0, err
			}
			continue
		}
		total += st.cpu
	}
	return total, nil
}

// TreePSS returns the proportional set size (shared pages divided among
// their users) of process pid and every descendant, in bytes, from
// /proc/PID/smaps_rollup.
func TreePSS(pid int) (int64, error) {
	pids, err := treePids(pid)
	if err != nil {
		return 0, err
	}
	var total int64
	for i, p := range pids {
		kb, err := pssKB(p)
		if err != nil {
			if i == 0 {
				return 0, err
			}
			continue
		}
		total += kb << 10
	}
	return total, nil
}

func pssKB(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "Pss:"); ok {
			return strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
		}
	}
	return 0, fmt.Errorf("bench: no Pss in /proc/%d/smaps_rollup", pid)
}
