package main

import (
	"strings"
	"testing"
)

func TestTable(t *testing.T) {
	in := `goos: linux
BenchmarkRETR/os/plain-2    	      72	  30240938 ns/op	 554.78 MB/s	       581.3 ceil-MB/s	         0.9583 ratio
BenchmarkIdleMemory-2       	       1	     11227 heap+stack-B/session
BenchmarkPeer/retr/ftpgate	3	69090686 ns/op	971.32 MB/s	0.199 cpu-s/GB
BenchmarkPeer/retr/vsftpd	3	69090686 ns/op	800 MB/s
BenchmarkPeer/retr/vsftpd	3	69090686 ns/op	100 MB/s
BenchmarkPeer/retr/vsftpd	3	69090686 ns/op	812 MB/s
PASS
`
	rows, err := parse(strings.NewReader(in))
	if err != nil || len(rows) != 4 {
		t.Fatalf("parse: %d rows, %v", len(rows), err)
	}
	var out strings.Builder
	if err := write(&out, rows); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"RETR/os/plain", "555", "0.96", "11227", "ftpgate", "vsftpd", "retr MB/s", "971", "800"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
	// vsftpd's three rounds report their median, not the last or the low.
	if strings.Contains(out.String(), "812") || strings.Contains(out.String(), " 100 ") {
		t.Errorf("table shows a round instead of the median (800):\n%s", out.String())
	}
	if strings.Contains(out.String(), "ns/op") {
		t.Errorf("table shows ns/op:\n%s", out.String())
	}
}

// TestGoals checks the summary on a fixture: figures read from the right
// rows, verdicts both ways, peer ratios against the best other server,
// and "not run" for goals the run has no row for.
func TestGoals(t *testing.T) {
	in := `BenchmarkRETR/os/plain-2 1 1 ns/op 900 MB/s 1000 ceil-MB/s 0.9 ratio 0.4 cpu-s/GB 0.38 ceil-cpu-s/GB 1.05 cpu-ratio
BenchmarkSTOR/os/plain-2 1 1 ns/op 990 MB/s 1000 ceil-MB/s 0.99 ratio 0.5 cpu-s/GB 0.4 ceil-cpu-s/GB 1.25 cpu-ratio
BenchmarkSmallFiles-2 1 0 ns/op 6000 files/s 140.5 cpu-us/op
BenchmarkIdleMemory-2 1 0 ns/op 7372.8 rss-B/session
BenchmarkFeatures/SmallFiles/every-2 1 0 ns/op 0.98 ratio 1.10 cpu-ratio
BenchmarkPeer/small/ftpgate 1 0 ns/op 3000 files/s
BenchmarkPeer/small/pure-ftpd 1 0 ns/op 2500 files/s
BenchmarkPeer/small/vsftpd 1 0 ns/op 1500 files/s
BenchmarkPeer/sessions/ftpgate 1 0 ns/op 1251 sessions/s
BenchmarkPeer/sessions/vsftpd 1 0 ns/op 53 sessions/s
`
	rows, err := parse(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	if err := writeGoals(&out, rows); err != nil {
		t.Fatal(err)
	}
	verdicts := map[string]string{}
	for _, line := range strings.Split(out.String(), "\n") {
		f := strings.Split(line, "  ")
		if len(f) < 2 {
			continue
		}
		verdicts[strings.TrimSpace(f[0])] = strings.TrimSpace(line)
	}
	for goal, want := range map[string]string{
		"small files vs best peer (peers.sh)":               "1.20x  >= 1.50x  NOT MET", // 3000 / 2500, not / 1500
		"small files: server CPU per file":                  "140 us  <= 65.0 us  NOT MET",
		"sessions vs best peer (peers.sh)":                  "23.6x  >= 1.50x  met",
		"idle: RSS per logged-in session":                   "7.20 KiB  <= 6.00 KiB  NOT MET",
		"RETR / sendfile ceiling":                           "0.90  >= 0.95  NOT MET",
		"RETR CPU per GB / ceiling's":                       "1.05  <= 1.10  met",
		"STOR / splice ceiling":                             "0.99  >= 0.95  met",
		"STOR CPU per GB / ceiling's":                       "1.25  <= 1.10  NOT MET",
		"RETR TLS / Go TLS ceiling":                         "-  >= 0.95  not run",
		"features on: small files / engine":                 "0.98  >= 0.97  met",
		"features on: server CPU per small file / engine's": "1.10  <= 1.03  NOT MET",
		"features on: STOR / engine":                        "-  >= 0.97  not run",
	} {
		line, ok := verdicts[goal]
		if !ok {
			t.Errorf("no line for %q:\n%s", goal, out.String())
			continue
		}
		if got := strings.Join(strings.Fields(strings.TrimPrefix(line, goal)), " "); got != strings.Join(strings.Fields(want), " ") {
			t.Errorf("%s: got %q, want %q", goal, got, want)
		}
	}
	// A run without any goal's row (ceilings only) prints no summary.
	rows, _ = parse(strings.NewReader("BenchmarkCeiling/retr/os/plain-2 1 1 ns/op 1000 MB/s\n"))
	out.Reset()
	if err := writeGoals(&out, rows); err != nil || out.Len() != 0 {
		t.Errorf("summary without figures: %q %v", out.String(), err)
	}
}
