package audit

import (
	"slices"
	"strings"
	"sync"
	"time"
)

// Bounds of a Ring when RingOptions leaves them 0. With them a Ring holds
// at most DefaultRingTenants × DefaultRingBytes (16 MiB) of events.
const (
	// DefaultRingEntries bounds the events kept per tenant.
	DefaultRingEntries = 500
	// DefaultRingBytes bounds the text of the events kept per tenant
	// (eventOverhead counted per event besides its strings).
	DefaultRingBytes = 128 << 10
	// DefaultRingTenants bounds the tenants with events kept (events
	// without a tenant count as one); the tenant written to least lately
	// loses its events first.
	DefaultRingTenants = 128
	// eventOverhead is what an Event costs in memory besides its strings.
	eventOverhead = 200
)

// RingOptions bound a Ring; 0 takes the default.
type RingOptions struct {
	Entries, Bytes, Tenants int
}

// Ring keeps the most recent audit events in memory, for the console's
// audit page: a ring per tenant, so that one tenant's flood of events
// never pushes out another tenant's, each bounded by count and bytes,
// and a bounded number of tenants. It is fed by Logger (Options.Ring)
// and safe for concurrent use.
type Ring struct {
	o     RingOptions
	mu    sync.Mutex
	seq   uint64
	rings map[string]*tenantRing
}

type tenantRing struct {
	events []Event // oldest first
	bytes  int
	last   uint64 // Ring.seq at the last Add, for eviction
}

// NewRing returns an empty Ring bounded by o.
func NewRing(o RingOptions) *Ring {
	if o.Entries <= 0 {
		o.Entries = DefaultRingEntries
	}
	if o.Bytes <= 0 {
		o.Bytes = DefaultRingBytes
	}
	if o.Tenants <= 0 {
		o.Tenants = DefaultRingTenants
	}
	return &Ring{o: o, rings: map[string]*tenantRing{}}
}

func sizeOf(e *Event) int {
	return eventOverhead + len(e.ID) + len(e.Event) + len(e.Status) + len(e.Tenant) + len(e.User) + len(e.Login) +
		len(e.Remote) + len(e.Balancer) + len(e.Verb) + len(e.Path) + len(e.To) + len(e.Direction) +
		len(e.Decision) + len(e.Rule) + len(e.Method)
}

// Add keeps e, dropping its tenant's oldest events past the bounds.
func (r *Ring) Add(e Event) {
	if r == nil {
		return
	}
	e.xferlog = false
	n := sizeOf(&e)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seq++
	tr := r.rings[e.Tenant]
	if tr == nil {
		if len(r.rings) >= r.o.Tenants {
			r.evictLocked()
		}
		tr = &tenantRing{}
		r.rings[e.Tenant] = tr
	}
	tr.last = r.seq
	tr.events = append(tr.events, e)
	tr.bytes += n
	drop := 0
	for len(tr.events)-drop > r.o.Entries || (tr.bytes > r.o.Bytes && len(tr.events)-drop > 1) {
		tr.bytes -= sizeOf(&tr.events[drop])
		drop++
	}
	if drop > 0 {
		// Copy down rather than reslice, so that the array does not grow
		// without bound behind the window.
		tr.events = append(tr.events[:0], tr.events[drop:]...)
	}
}

// evictLocked drops the ring written to least lately.
func (r *Ring) evictLocked() {
	var oldest string
	var at uint64
	first := true
	for t, tr := range r.rings {
		if first || tr.last < at {
			oldest, at, first = t, tr.last, false
		}
	}
	delete(r.rings, oldest)
}

// Filter selects events: each set field must match. User is matched
// exactly against the account or the login name, Verb without regard to
// case, Path as a substring of the path or a rename's target.
type Filter struct {
	User, Verb, Path string
	// Failed keeps only events whose Status is "failed" (refusals).
	Failed bool
}

func (f Filter) match(e *Event) bool {
	switch {
	case f.User != "" && e.User != f.User && e.Login != f.User:
		return false
	case f.Verb != "" && !strings.EqualFold(e.Verb, f.Verb):
		return false
	case f.Path != "" && !strings.Contains(e.Path, f.Path) && !strings.Contains(e.To, f.Path):
		return false
	case f.Failed && e.Status != "failed":
		return false
	}
	return true
}

// Recent returns at most limit of tenant's kept events that f selects,
// newest first. Only tenant's own ring is read.
func (r *Ring) Recent(tenant string, f Filter, limit int) []Event {
	if r == nil || limit <= 0 {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	tr := r.rings[tenant]
	if tr == nil {
		return nil
	}
	var out []Event
	for i := len(tr.events) - 1; i >= 0 && len(out) < limit; i-- {
		if f.match(&tr.events[i]) {
			out = append(out, tr.events[i])
		}
	}
	return out
}

// RecentAll returns at most limit of every tenant's kept events that f
// selects, newest first: the operator's view.
func (r *Ring) RecentAll(f Filter, limit int) []Event {
	if r == nil || limit <= 0 {
		return nil
	}
	r.mu.Lock()
	var out []Event
	for _, tr := range r.rings {
		n := 0
		for i := len(tr.events) - 1; i >= 0 && n < limit; i-- {
			if f.match(&tr.events[i]) {
				out = append(out, tr.events[i])
				n++
			}
		}
	}
	r.mu.Unlock()
	slices.SortStableFunc(out, func(a, b Event) int { return time.Time(b.Time).Compare(time.Time(a.Time)) })
	if len(out) > limit {
		out = out[:limit]
	}
	return out
}
