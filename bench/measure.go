package bench

import (
	"runtime"
	"time"
)

// Measurement is one timed transfer.
type Measurement struct {
	Bytes   int64         // payload bytes moved
	Elapsed time.Duration // wall time
	// ServerCPU is the CPU time the process spent outside the client's
	// OS thread: the server side (an ftpgate session, or a ceiling's
	// sender or receiver), the runtime's background work (GC), and the
	// kernel work charged to those threads.
	ServerCPU time.Duration
}

// MBps returns the throughput in MB/s (10^6 bytes per second, as go test
// reports it).
func (m Measurement) MBps() float64 {
	if m.Elapsed <= 0 {
		return 0
	}
	return float64(m.Bytes) / 1e6 / m.Elapsed.Seconds()
}

// CPUPerGB returns the server CPU seconds per GB (10^9 bytes) moved.
func (m Measurement) CPUPerGB() float64 {
	if m.Bytes == 0 {
		return 0
	}
	return m.ServerCPU.Seconds() / (float64(m.Bytes) / 1e9)
}

// Add returns the sum of two measurements.
func (m Measurement) Add(o Measurement) Measurement {
	return Measurement{Bytes: m.Bytes + o.Bytes, Elapsed: m.Elapsed + o.Elapsed, ServerCPU: m.ServerCPU + o.ServerCPU}
}

// Measure runs client, the whole client side of one transfer, on a locked
// OS thread and returns its wall time and the process CPU time spent
// outside that thread (the server side). client returns the bytes moved.
func Measure(client func() (int64, error)) (Measurement, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	p0, t0 := ProcessCPU(), ThreadCPU()
	start := time.Now()
	n, err := client()
	elapsed := time.Since(start)
	p1, t1 := ProcessCPU(), ThreadCPU()
	return Measurement{Bytes: n, Elapsed: elapsed, ServerCPU: max((p1-p0)-(t1-t0), 0)}, err
}

// Best returns the measurement with the highest throughput.
func Best(ms []Measurement) Measurement {
	var best Measurement
	for _, m := range ms {
		if best.Elapsed == 0 || m.MBps() > best.MBps() {
			best = m
		}
	}
	return best
}
