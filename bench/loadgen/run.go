package loadgen

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Latencies collects operation durations. It is safe for concurrent use.
type Latencies struct {
	mu sync.Mutex
	d  []time.Duration
}

// Add records one duration.
func (l *Latencies) Add(d time.Duration) {
	l.mu.Lock()
	l.d = append(l.d, d)
	l.mu.Unlock()
}

// Merge adds every duration of ds.
func (l *Latencies) Merge(ds []time.Duration) {
	l.mu.Lock()
	l.d = append(l.d, ds...)
	l.mu.Unlock()
}

// Len returns how many durations were recorded.
func (l *Latencies) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.d)
}

// Percentile returns the p-th percentile (0 < p <= 100), nearest rank, or 0
// when nothing was recorded.
func (l *Latencies) Percentile(p float64) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.d) == 0 {
		return 0
	}
	if !slices.IsSorted(l.d) {
		slices.Sort(l.d)
	}
	rank := int(float64(len(l.d))*p/100+0.999999) - 1
	return l.d[min(max(rank, 0), len(l.d)-1)]
}

// Result is what a concurrent workload achieved.
type Result struct {
	Ops     int64         // operations completed (files moved, sessions run)
	Bytes   int64         // payload bytes moved
	Elapsed time.Duration // wall time of the whole run
	Lat     *Latencies    // per-operation latency
}

// Rate returns operations per second.
func (r *Result) Rate() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Ops) / r.Elapsed.Seconds()
}

// Workload says how long a concurrent workload runs: until Ops operations
// are done or Duration has passed, whichever comes first (at least one of
// them must be set).
type Workload struct {
	Workers  int           // concurrent clients; 0 means 32
	Ops      int64         // total operations; 0 means no limit but Duration
	Duration time.Duration // wall-time limit; 0 means no limit but Ops
	// FreshNames makes SmallFiles upload every file under a name of its
	// own (small-W-I.bin) instead of overwriting one name per worker
	// (small-W.bin). Overwriting is the default because it is what the
	// peers table measures; on ext4 it makes each upload free the old
	// blocks (O_TRUNC) and start writeback at close (auto_da_alloc), which
	// is the filesystem's cost, not the server's. Fresh names leave every
	// file behind: Ops/2 files of the payload's size in dir.
	FreshNames bool
}

func (w Workload) workers() int {
	if w.Workers <= 0 {
		return 32
	}
	return w.Workers
}

// budget hands out operation slots until Ops or the deadline.
type budget struct {
	left     atomic.Int64
	limited  bool
	deadline time.Time
}

func newBudget(w Workload) (*budget, error) {
	if w.Ops <= 0 && w.Duration <= 0 {
		return nil, fmt.Errorf("loadgen: a workload needs Ops or Duration")
	}
	b := &budget{limited: w.Ops > 0}
	b.left.Store(w.Ops)
	if w.Duration > 0 {
		b.deadline = time.Now().Add(w.Duration)
	}
	return b, nil
}

// take reports whether another operation may start.
func (b *budget) take() bool {
	if !b.deadline.IsZero() && time.Now().After(b.deadline) {
		return false
	}
	return !b.limited || b.left.Add(-1) >= 0
}

// runWorkers runs worker on w.workers() goroutines and returns the first
// error, cancelling the others through ctx.
func runWorkers(w Workload, worker func(ctx context.Context, id int, b *budget, lat *[]time.Duration) (int64, int64, error)) (*Result, error) {
	b, err := newBudget(w)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	res := &Result{Lat: &Latencies{}}
	var ops, bytes atomic.Int64
	var once sync.Once
	var first error
	var wg sync.WaitGroup
	start := time.Now()
	for id := range w.workers() {
		wg.Go(func() {
			var lat []time.Duration
			n, nb, err := worker(ctx, id, b, &lat)
			ops.Add(n)
			bytes.Add(nb)
			res.Lat.Merge(lat)
			if err != nil {
				once.Do(func() { first = fmt.Errorf("worker %d: %w", id, err); cancel() })
			}
		})
	}
	wg.Wait()
	res.Elapsed = time.Since(start)
	res.Ops, res.Bytes = ops.Load(), bytes.Load()
	return res, first
}

// SmallFiles runs the small-files workload: each worker logs in (before
// the clock starts), then in turn uploads payload to its own file in dir
// and downloads it back, checking the bytes. Each upload and each download
// is one operation. With w.FreshNames each upload goes to a new file.
func SmallFiles(cfg Config, w Workload, dir string, payload []byte) (*Result, error) {
	want := SumOf(payload)
	clients, err := connectAll(cfg, w.workers())
	if err != nil {
		return nil, err
	}
	defer func() {
		for _, c := range clients {
			_ = c.Quit()
		}
	}()
	return runWorkers(w, func(ctx context.Context, id int, b *budget, lat *[]time.Duration) (int64, int64, error) {
		c := clients[id]
		name := fmt.Sprintf("%s/small-%d.bin", dir, id)
		var ops, moved int64
		for i := 0; ctx.Err() == nil && b.take(); i++ {
			if w.FreshNames && i%2 == 0 {
				// Named before the clock starts, like the fixed name.
				name = fmt.Sprintf("%s/small-%d-%d.bin", dir, id, i/2)
			}
			t := time.Now()
			if i%2 == 0 {
				n, err := c.Stor(name, bytes.NewReader(payload))
				if err != nil {
					return ops, moved, err
				}
				moved += n
			} else {
				got, err := c.Retr(name)
				if err == nil {
					err = Verify(got, want)
				}
				if err != nil {
					return ops, moved, err
				}
				moved += got.N
			}
			*lat = append(*lat, time.Since(t))
			ops++
		}
		return ops, moved, nil
	})
}

// connectAll logs n clients in, 16 at a time.
func connectAll(cfg Config, n int) ([]*Client, error) {
	clients := make([]*Client, n)
	errs := make([]error, n)
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			clients[i], errs[i] = Connect(cfg)
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			for _, c := range clients {
				if c != nil {
					_ = c.Close()
				}
			}
			return nil, fmt.Errorf("client %d: %w", i, err)
		}
	}
	return clients, nil
}

// ConnectAll logs n clients in, 16 at a time, for idle-session
// measurements; on error none is left open.
func ConnectAll(cfg Config, n int) ([]*Client, error) { return connectAll(cfg, n) }

// Sessions runs the sessions workload: each operation connects, logs in,
// sends PWD, lists dir, and quits.
func Sessions(cfg Config, w Workload, dir string) (*Result, error) {
	return runWorkers(w, func(ctx context.Context, id int, b *budget, lat *[]time.Duration) (int64, int64, error) {
		var ops int64
		for ctx.Err() == nil && b.take() {
			t := time.Now()
			if err := OneSession(cfg, dir); err != nil {
				return ops, 0, err
			}
			*lat = append(*lat, time.Since(t))
			ops++
		}
		return ops, 0, nil
	})
}

// OneSession connects, logs in, sends PWD, lists dir and quits.
func OneSession(cfg Config, dir string) error {
	c, err := Connect(cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := c.Pwd(); err != nil {
		return err
	}
	if _, err := c.List(dir); err != nil {
		return err
	}
	return c.Quit()
}

// CommandLatency sends n commands of the kind cmd ("NOOP" or "SIZE path")
// on one logged-in session and records each round trip.
func CommandLatency(c *Client, line string, expect int, n int) (*Latencies, error) {
	lat := &Latencies{d: make([]time.Duration, 0, n)}
	for range n {
		t := time.Now()
		if _, err := c.Cmd(expect, line); err != nil {
			return lat, err
		}
		lat.d = append(lat.d, time.Since(t))
	}
	return lat, nil
}
