package telemetry

import "sync"

// tenantLabels gives tenants their label values: each of the first max
// distinct tenants seen its own (its id), every later one "other". It
// never forgets a tenant it labelled, so that a series keeps its tenant;
// its memory is bounded by max names and max+2 series sets (the named
// tenants, "other", "none").
type tenantLabels struct {
	max int

	mu     sync.RWMutex
	named  map[string]bool          // tenants with a label of their own
	series map[string]*tenantSeries // by label value
}

func newTenantLabels(max int) *tenantLabels {
	return &tenantLabels{max: max, named: map[string]bool{}, series: map[string]*tenantSeries{}}
}

// label returns tenant's label value: tenant, or "other" once max
// tenants have their own.
func (t *tenantLabels) label(tenant string) string {
	t.mu.RLock()
	named, full := t.named[tenant], len(t.named) >= t.max
	t.mu.RUnlock()
	switch {
	case named:
		return tenant
	case full:
		return otherLabel
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.named[tenant] {
		if len(t.named) >= t.max {
			return otherLabel
		}
		t.named[tenant] = true
	}
	return tenant
}

// seriesOf returns the series of a label value, made on first use.
func (t *tenantLabels) seriesOf(label string, m *Metrics) *tenantSeries {
	t.mu.RLock()
	s := t.series[label]
	t.mu.RUnlock()
	if s != nil {
		return s
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if s = t.series[label]; s == nil {
		s = newTenantSeries(label, m)
		t.series[label] = s
	}
	return s
}
