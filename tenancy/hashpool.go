package tenancy

import (
	"slices"
	"sync"
)

// suspectQueuePerWorker is how many suspect checks may wait per worker of
// the suspect lane: about eight hash times (some 0.4 s at the default
// argon2id cost) of waiting at most, after which a suspect login is
// refused at once rather than queued without end.
const suspectQueuePerWorker = 8

// hashPool runs password checks on a fixed number of workers, in two
// lanes. A check is suspect when the rate limiter has seen a failed login
// lately from its address or for its account (Driver.LoginSuspect); every
// other check is clean. The bounds:
//
//   - at most workers checks run at once, since each argon2id check holds
//     its memory cost (19 MiB by default);
//   - suspect checks run on at most suspectWorkers of them (half, at least
//     one), so that workers-suspectWorkers are always left to clean ones;
//   - at most suspectQueue suspect checks wait; one more is refused at
//     once, never queued;
//   - a freed worker goes to the longest-waiting clean check before any
//     suspect one, so a clean check waits only for clean checks ahead of
//     it, or for a suspect check already running to end; never behind the
//     suspect queue. Clean checks waiting are bounded by the sessions the
//     server admits, each of which logs in one at a time.
type hashPool struct {
	workers        int
	suspectWorkers int
	suspectQueue   int
	done           <-chan struct{} // closed when the driver closes

	mu             sync.Mutex
	running        int
	runningSuspect int
	clean, suspect []chan struct{} // waiters in arrival order; closed when given a worker
}

// newHashPool returns a pool of workers (at least two) that gives up
// waiting when done is closed.
func newHashPool(workers int, done <-chan struct{}) *hashPool {
	workers = max(2, workers)
	sw := max(1, workers/2)
	return &hashPool{workers: workers, suspectWorkers: sw, suspectQueue: suspectQueuePerWorker * sw, done: done}
}

// acquire waits for a worker in the lane the check belongs to. ok is
// false when the suspect queue is full or the driver is closing; the
// caller must then not check the password. release gives the worker back.
func (p *hashPool) acquire(suspect bool) (release func(), ok bool) {
	release = func() { p.release(suspect) }
	p.mu.Lock()
	queue := &p.clean
	if suspect {
		queue = &p.suspect
	}
	if len(*queue) == 0 && p.canRun(suspect) {
		p.start(suspect)
		p.mu.Unlock()
		return release, true
	}
	if suspect && len(p.suspect) >= p.suspectQueue {
		p.mu.Unlock()
		return nil, false
	}
	ch := make(chan struct{})
	*queue = append(*queue, ch)
	p.mu.Unlock()
	select {
	case <-ch:
		return release, true
	case <-p.done:
		p.mu.Lock()
		i := slices.Index(*queue, ch)
		if i >= 0 {
			*queue = slices.Delete(*queue, i, i+1)
		}
		p.mu.Unlock()
		if i < 0 { // given a worker meanwhile
			release()
		}
		return nil, false
	}
}

// canRun reports whether a check of the lane may start now; p.mu held.
func (p *hashPool) canRun(suspect bool) bool {
	return p.running < p.workers && (!suspect || p.runningSuspect < p.suspectWorkers)
}

// start counts a check as running; p.mu held.
func (p *hashPool) start(suspect bool) {
	p.running++
	if suspect {
		p.runningSuspect++
	}
}

// release ends a check and hands the free workers on: to clean waiters
// first.
func (p *hashPool) release(suspect bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.running--
	if suspect {
		p.runningSuspect--
	}
	for len(p.clean) > 0 && p.canRun(false) {
		p.start(false)
		close(p.clean[0])
		p.clean = slices.Delete(p.clean, 0, 1)
	}
	for len(p.suspect) > 0 && p.canRun(true) {
		p.start(true)
		close(p.suspect[0])
		p.suspect = slices.Delete(p.suspect, 0, 1)
	}
}

// hashPoolStats is a snapshot of a pool, for tests.
type hashPoolStats struct {
	running, runningSuspect, waitingClean, waitingSuspect int
}

func (p *hashPool) stats() hashPoolStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return hashPoolStats{p.running, p.runningSuspect, len(p.clean), len(p.suspect)}
}
