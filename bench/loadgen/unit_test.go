package loadgen

import (
	"bufio"
	"bytes"
	"errors"
	"net"
	"strings"
	"testing"
	"time"
)

func TestParseEPSV(t *testing.T) {
	for text, want := range map[string]int{
		"Entering Extended Passive Mode (|||51234|).": 51234,
		"EPSV ok (!!!2121!)":                          2121,
	} {
		if got, err := parseEPSV(text); err != nil || got != want {
			t.Errorf("parseEPSV(%q) = %d, %v; want %d", text, got, err, want)
		}
	}
	for _, text := range []string{"", "()", "(|||x|)", "(|||0|)", "(||1|)", "(|||70000|)"} {
		if _, err := parseEPSV(text); err == nil {
			t.Errorf("parseEPSV(%q) succeeded", text)
		}
	}
}

func TestParsePASV(t *testing.T) {
	host, port, err := parsePASV("Entering Passive Mode (127,0,0,1,200,10).")
	if err != nil || host != "127.0.0.1" || port != 200*256+10 {
		t.Fatalf("parsePASV = %s %d %v", host, port, err)
	}
	for _, text := range []string{"no numbers", "(1,2,3)", "(1,2,3,4,5,256)"} {
		if _, _, err := parsePASV(text); err == nil {
			t.Errorf("parsePASV(%q) succeeded", text)
		}
	}
}

func TestReadReply(t *testing.T) {
	in := "211-Features:\r\n EPSV\r\n211 End\r\n200 OK\r\n500\r\nbad\r\n"
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	go func() { _, _ = b.Write([]byte(in)) }()
	c := &Client{conn: a, r: bufio.NewReader(a), cfg: Config{Timeout: 5 * time.Second}}
	for _, want := range []Reply{{211, "End"}, {200, "OK"}, {500, ""}} {
		got, err := c.readReply()
		if err != nil || got != want {
			t.Fatalf("readReply = %+v, %v; want %+v", got, err, want)
		}
	}
	if _, err := c.readReply(); err == nil || !strings.Contains(err.Error(), "malformed") {
		t.Fatalf("readReply of a bad line: %v", err)
	}
}

func TestPayloadAndSum(t *testing.T) {
	a, b := Payload(300_000, 1), Payload(300_000, 1)
	if !bytes.Equal(a, b) {
		t.Fatal("Payload is not deterministic")
	}
	if bytes.Equal(a, Payload(300_000, 2)) {
		t.Fatal("Payload ignores the seed")
	}
	// Blocks differ even though the random block repeats.
	if bytes.Equal(a[:4096], a[64<<10:64<<10+4096]) {
		t.Fatal("repeated blocks are identical")
	}
	var h Hasher
	_, _ = h.Write(a[:1000])
	_, _ = h.Write(a[1000:])
	if h.Sum() != SumOf(a) {
		t.Fatal("Hasher and SumOf disagree")
	}
	if s, err := SumReader(bytes.NewReader(a)); err != nil || s != SumOf(a) {
		t.Fatal("SumReader and SumOf disagree")
	}
	c := bytes.Clone(a)
	c[12345] ^= 1
	if err := Verify(SumOf(c), SumOf(a)); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Verify of a flipped bit: %v", err)
	}
	if err := Verify(SumOf(a[:len(a)-1]), SumOf(a)); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Verify of a short stream: %v", err)
	}
	if err := Verify(SumOf(a), SumOf(a)); err != nil {
		t.Fatal(err)
	}
}

func TestPercentile(t *testing.T) {
	var l Latencies
	if l.Percentile(50) != 0 {
		t.Fatal("empty Percentile")
	}
	for i := 100; i >= 1; i-- {
		l.Add(time.Duration(i))
	}
	for p, want := range map[float64]time.Duration{50: 50, 99: 99, 100: 100, 1: 1} {
		if got := l.Percentile(p); got != want {
			t.Errorf("Percentile(%v) = %v, want %v", p, got, want)
		}
	}
}

func TestWorkloadNeedsALimit(t *testing.T) {
	if _, err := Sessions(Config{}, Workload{}, "/"); err == nil {
		t.Fatal("a workload without Ops or Duration ran")
	}
}
