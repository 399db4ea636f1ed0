package console

import (
	"strings"
	"testing"
	"time"
)

// TestCharts: the ring keeps the last hour's samples (60, with now's
// 60 differences), the charts draw one bar per minute that moved something,
// summaries give the totals, and a counter that went back (a restart)
// counts as nothing.
func TestCharts(t *testing.T) {
	at := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	cur := Sample{}
	p := &sampler{take: func() Sample { return cur }}
	for i := range 100 {
		cur = Sample{At: at.Add(time.Duration(i) * time.Minute), BytesUp: int64(i) * 1024, BytesDown: 0, Allows: int64(i), Denies: int64(i / 2)}
		p.add(cur)
	}
	if got := len(p.samples(cur)); got != chartMinutes+1 {
		t.Fatalf("samples kept: %d", got)
	}
	cur.BytesUp = 0 // a restart: the counter went back
	cs := p.charts()
	if len(cs) != 2 {
		t.Fatalf("charts: %d", len(cs))
	}
	up := cs[0]
	if n := strings.Count(string(up.SVG), "<rect"); n != chartMinutes-1 {
		t.Fatalf("throughput bars: %d", n)
	}
	if !strings.Contains(up.Summary, "upload 59.0 KiB") || !strings.Contains(up.Summary, "download 0 B") {
		t.Fatalf("throughput summary: %q", up.Summary)
	}
	if !strings.Contains(cs[1].Summary, "allow 59 decisions") || strings.Contains(string(cs[1].SVG), "<script") {
		t.Fatalf("decisions: %q", cs[1].Summary)
	}
	if humanBytes(1536) != "1.5 KiB" || humanBytes(3<<30) != "3.0 GiB" || humanBytes(12) != "12 B" {
		t.Fatal("humanBytes")
	}
}
