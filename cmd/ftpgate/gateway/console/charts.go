package console

import (
	"context"
	"fmt"
	"html/template"
	"strings"
	"sync"
	"time"
)

// chartMinutes is how many per-minute samples the charts keep: the last
// hour. The ring is fixed in size.
const chartMinutes = 60

// Sample is the cumulative figures the charts are drawn from, taken once
// a minute.
type Sample struct {
	At                 time.Time
	BytesUp, BytesDown int64 // transfer bytes so far (telemetry.Snapshot)
	Allows, Denies     int64 // policy decisions so far, every tenant's
}

// sampler keeps the last chartMinutes samples (a ring); with the figures
// of now they give the charts chartMinutes differences.
type sampler struct {
	take func() Sample

	mu   sync.Mutex
	ring [chartMinutes]Sample
	next int
	n    int
}

// add records s.
func (p *sampler) add(s Sample) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.ring[p.next] = s
	p.next = (p.next + 1) % len(p.ring)
	p.n = min(p.n+1, len(p.ring))
}

// samples returns the kept samples, oldest first, with now's appended.
func (p *sampler) samples(now Sample) []Sample {
	p.mu.Lock()
	out := make([]Sample, 0, p.n+1)
	for i := range p.n {
		out = append(out, p.ring[(p.next-p.n+i+len(p.ring))%len(p.ring)])
	}
	p.mu.Unlock()
	return append(out, now)
}

// run takes a sample at start and once a minute until ctx ends.
func (p *sampler) run(ctx context.Context) {
	p.add(p.take())
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			p.add(p.take())
		}
	}
}

// series is one line of a chart.
type series struct {
	name, color string
	values      []float64
}

// Chart is a server-drawn SVG chart for a template.
type Chart struct {
	Title string
	// Summary is the text equivalent (screen readers, the page's text).
	Summary string
	SVG     template.HTML
}

// deltas returns what each series grew by between consecutive samples
// (a counter that went back, a restart, counts as 0).
func deltas(ss []Sample, f func(Sample) int64) []float64 {
	out := make([]float64, 0, max(len(ss)-1, 0))
	for i := 1; i < len(ss); i++ {
		out = append(out, float64(max(f(ss[i])-f(ss[i-1]), 0)))
	}
	return out
}

// drawChart draws the series as bars, one slot per minute of the last
// hour with the newest at the right, in a fixed 600×140 view box (scaled
// by CSS). Only numbers and fixed strings go into the markup.
func drawChart(title, unit string, ss []series) Chart {
	const w, h, pad = 600.0, 140.0, 20.0
	top := 1.0
	for _, s := range ss {
		for _, v := range s.values {
			top = max(top, v)
		}
	}
	slot := (w - 2*pad) / chartMinutes
	bar := slot / float64(max(len(ss), 1))
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %d %d" role="img" aria-label="%s" xmlns="http://www.w3.org/2000/svg">`, int(w), int(h), template.HTMLEscapeString(title))
	fmt.Fprintf(&b, `<line x1="%g" y1="%g" x2="%g" y2="%g" stroke="#888" stroke-width="1"/>`, pad, h-pad, w-pad, h-pad)
	fmt.Fprintf(&b, `<text x="%g" y="14" font-size="12" fill="#555">max %s</text>`, pad, template.HTMLEscapeString(humanUnit(top, unit)))
	fmt.Fprintf(&b, `<text x="%g" y="%g" font-size="11" fill="#555">-60 min</text><text x="%g" y="%g" font-size="11" fill="#555" text-anchor="end">now</text>`, pad, h-5, w-pad, h-5)
	var sum []string
	for i, s := range ss {
		vals := s.values
		if len(vals) > chartMinutes {
			vals = vals[len(vals)-chartMinutes:]
		}
		total := 0.0
		for j, v := range vals {
			total += v
			if v <= 0 {
				continue
			}
			bh := v / top * (h - 2*pad - 10)
			x := pad + float64(chartMinutes-len(vals)+j)*slot + float64(i)*bar
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"/>`, x, h-pad-bh, bar, bh, s.color)
		}
		fmt.Fprintf(&b, `<text x="%g" y="%g" font-size="12" fill="%s">%s</text>`, w-pad-120, 14+float64(i)*14, s.color, template.HTMLEscapeString(s.name))
		sum = append(sum, s.name+" "+humanUnit(total, unit))
	}
	b.WriteString(`</svg>`)
	summary := "no samples yet"
	if len(sum) > 0 {
		summary = strings.Join(sum, ", ") + " over the period shown"
	}
	return Chart{Title: title, Summary: summary, SVG: template.HTML(b.String())} //nolint:gosec // built from numbers and escaped fixed names above
}

// humanUnit writes v with a binary prefix for bytes.
func humanUnit(v float64, unit string) string {
	if unit != "B" {
		return fmt.Sprintf("%.0f %s", v, unit)
	}
	return humanBytes(int64(v))
}

// humanBytes writes n bytes as B, KiB, MiB, GiB, TiB.
func humanBytes(n int64) string {
	const k = 1024
	if n < k {
		return fmt.Sprintf("%d B", n)
	}
	f := float64(n)
	for _, u := range []string{"KiB", "MiB", "GiB", "TiB"} {
		f /= k
		if f < k || u == "TiB" {
			return fmt.Sprintf("%.1f %s", f, u)
		}
	}
	return ""
}

// charts draws the throughput and decision charts from p's samples.
func (p *sampler) charts() []Chart {
	ss := p.samples(p.take())
	return []Chart{
		drawChart("Transfer throughput per minute, last hour", "B", []series{
			{name: "upload", color: "#1f6feb", values: deltas(ss, func(s Sample) int64 { return s.BytesUp })},
			{name: "download", color: "#2da44e", values: deltas(ss, func(s Sample) int64 { return s.BytesDown })},
		}),
		drawChart("Policy decisions per minute, last hour", "decisions", []series{
			{name: "allow", color: "#2da44e", values: deltas(ss, func(s Sample) int64 { return s.Allows })},
			{name: "deny", color: "#cf222e", values: deltas(ss, func(s Sample) int64 { return s.Denies })},
		}),
	}
}
