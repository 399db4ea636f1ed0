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
	if strings.Contains(out.String(), "ns/op") {
		t.Errorf("table shows ns/op:\n%s", out.String())
	}
}
