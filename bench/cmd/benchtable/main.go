// Command benchtable reads `go test -bench` output (and ftpload's lines,
// which use the same format) on stdin and prints a summary, one line per
// goal of issue 17 with its figure and verdict, then one table. Lines of
// BenchmarkPeer/MODE/SERVER are pivoted so that servers sit side by side;
// every other benchmark is one row with its metrics as columns.
package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
)

// metricOrder is the column order; metrics not listed come after.
var metricOrder = []string{
	"MB/s", "ceil-MB/s", "engine-MB/s", "ratio", "cpu-s/GB", "ceil-cpu-s/GB", "engine-cpu-s/GB", "cpu-ratio",
	"files/s", "engine-files/s", "sessions/s", "p50-us", "p99-us", "cpu-us/op", "load-cpu-us/op",
	"proc-cpu-us/op", "engine-proc-cpu-us/op", "files/cpu-s", "sessions/cpu-s",
	"heap-B/session", "stack-B/session", "heap+stack-B/session", "rss-B/session", "pss-B/session",
}

// hidden metrics say nothing for these benchmarks.
var hidden = map[string]bool{"ns/op": true}

type row struct {
	name    string
	metrics map[string]float64
}

var suffix = regexp.MustCompile(`-\d+$`)

// parse returns the benchmark rows of go test -bench output, in order. A
// benchmark seen more than once (-count, or peers.sh's rounds) reports the
// median of each metric over its runs (the upper middle of an even count),
// so that one disturbed round does not make the figure.
func parse(r io.Reader) ([]row, error) {
	var names []string
	runs := map[string]map[string][]float64{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		if _, err := strconv.Atoi(f[1]); err != nil {
			continue
		}
		name := suffix.ReplaceAllString(strings.TrimPrefix(f[0], "Benchmark"), "")
		ms, ok := runs[name]
		if !ok {
			ms = map[string][]float64{}
			runs[name] = ms
			names = append(names, name)
		}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				break
			}
			ms[f[i+1]] = append(ms[f[i+1]], v)
		}
	}
	rows := make([]row, 0, len(names))
	for _, name := range names {
		rw := row{name: name, metrics: map[string]float64{}}
		for m, vs := range runs[name] {
			slices.Sort(vs)
			rw.metrics[m] = vs[len(vs)/2]
		}
		rows = append(rows, rw)
	}
	return rows, sc.Err()
}

// columns returns the metrics present in rows, in metricOrder first.
func columns(rows []row) []string {
	seen := map[string]bool{}
	for _, r := range rows {
		for m := range r.metrics {
			if !hidden[m] {
				seen[m] = true
			}
		}
	}
	var cols []string
	for _, m := range metricOrder {
		if seen[m] {
			cols = append(cols, m)
			delete(seen, m)
		}
	}
	var rest []string
	for m := range seen {
		rest = append(rest, m)
	}
	slices.Sort(rest)
	return append(cols, rest...)
}

func format(v float64) string {
	switch {
	case v == 0:
		return "0"
	case v >= 100 || v <= -100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case v >= 10 || v <= -10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	default:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
}

// write prints the suite's rows as one table and the peers' rows pivoted.
func write(w io.Writer, rows []row) error {
	var own, peers []row
	for _, r := range rows {
		if strings.HasPrefix(r.name, "Peer/") {
			peers = append(peers, r)
		} else {
			own = append(own, r)
		}
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	if len(own) > 0 {
		cols := columns(own)
		fmt.Fprintf(tw, "benchmark\t%s\t\n", strings.Join(cols, "\t"))
		for _, r := range own {
			cells := make([]string, len(cols))
			for i, c := range cols {
				cells[i] = "-"
				if v, ok := r.metrics[c]; ok {
					cells[i] = format(v)
				}
			}
			fmt.Fprintf(tw, "%s\t%s\t\n", r.name, strings.Join(cells, "\t"))
		}
	}
	if len(peers) > 0 {
		if len(own) > 0 {
			fmt.Fprintln(tw, "\t")
		}
		writePeers(tw, peers)
	}
	return tw.Flush()
}

// writePeers prints one row per mode and metric, one column per server.
func writePeers(w io.Writer, peers []row) {
	var servers, modes []string
	byKey := map[[2]string]map[string]float64{}
	for _, r := range peers {
		parts := strings.SplitN(strings.TrimPrefix(r.name, "Peer/"), "/", 2)
		if len(parts) != 2 {
			continue
		}
		mode, server := parts[0], parts[1]
		if !slices.Contains(servers, server) {
			servers = append(servers, server)
		}
		if !slices.Contains(modes, mode) {
			modes = append(modes, mode)
		}
		byKey[[2]string{mode, server}] = r.metrics
	}
	fmt.Fprintf(w, "peers\t%s\t\n", strings.Join(servers, "\t"))
	for _, mode := range modes {
		var present []row
		for _, s := range servers {
			present = append(present, row{metrics: byKey[[2]string{mode, s}]})
		}
		for _, metric := range columns(present) {
			cells := make([]string, len(servers))
			for i, s := range servers {
				cells[i] = "-"
				if v, ok := byKey[[2]string{mode, s}][metric]; ok {
					cells[i] = format(v)
				}
			}
			fmt.Fprintf(w, "%s %s\t%s\t\n", mode, metric, strings.Join(cells, "\t"))
		}
	}
}

func main() {
	rows, err := parse(os.Stdin)
	if err == nil {
		err = writeGoals(os.Stdout, rows)
	}
	if err == nil {
		err = write(os.Stdout, rows)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchtable:", err)
		os.Exit(1)
	}
}
