package audit

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// hostile holds what a client may put in a name: CR/LF with a forged
// record after it, other control characters, invalid UTF-8, a quote and
// the Unicode line separators.
const hostile = "a b\r\n{\"event\":\"login\",\"status\":\"ok\"} status=ok\x00\x1b[31m\xff\xfe\"q\u2028\u0085end"

// TestJSONCannotBeForged: a hostile path and login name give one JSON
// line that decodes back to one event holding them (invalid UTF-8 as
// U+FFFD), never a second record.
func TestJSONCannotBeForged(t *testing.T) {
	t.Parallel()
	e := Event{Time: Time(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)), ID: "x-1", Event: "command", Status: "failed",
		Login: hostile, Path: "/" + hostile, Verb: "DELE", Remote: "192.0.2.1:4000", Session: 7, Code: 550}
	line := e.AppendJSON(nil)
	if bytes.Count(line, []byte("\n")) != 1 || line[len(line)-1] != '\n' || bytes.ContainsAny(line[:len(line)-1], "\r\u2028\u0085") {
		t.Fatalf("not one clean line: %q", line)
	}
	var back map[string]any
	dec := json.NewDecoder(bytes.NewReader(line))
	if err := dec.Decode(&back); err != nil {
		t.Fatal(err)
	}
	if dec.More() {
		t.Fatal("more than one JSON value on the line")
	}
	want := strings.ReplaceAll(hostile, "\xff\xfe", "\uFFFD\uFFFD")
	if back["time"] != "2026-01-02T03:04:05.000000Z" || back["login"] != want || back["path"] != "/"+want || back["event"] != "command" || back["status"] != "failed" {
		t.Fatalf("decoded %v", back)
	}
	if _, ok := back["password"]; ok {
		t.Fatal("a password field")
	}
}

// TestTextCannotBeForged: the text format quotes a hostile value, so the
// line holds one status= pair and no line break.
func TestTextCannotBeForged(t *testing.T) {
	t.Parallel()
	e := Event{Time: Time(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)), ID: "x-1", Event: "command", Status: "failed",
		Login: hostile, Path: "/ok/path", Verb: "SITE CHMOD", Remote: "192.0.2.1:4000", Session: 7, Code: 550, DurationMS: 3}
	line := string(e.AppendText(nil))
	if strings.Count(line, "\n") != 1 || strings.ContainsAny(line[:len(line)-1], "\r\x00\x1b\u2028\u0085") {
		t.Fatalf("not one clean line: %q", line)
	}
	pairs := parseText(t, line[:len(line)-1])
	if pairs["login"] != hostile || pairs["status"] != "failed" || pairs["event"] != "command" {
		t.Fatalf("pairs %q", pairs)
	}
	for _, want := range []string{"time=2026-01-02T03:04:05.000000Z id=x-1 event=command status=failed login=\"", " remote=192.0.2.1:4000 session=7 verb=\"SITE CHMOD\" path=/ok/path bytes=0 duration_ms=3 code=550\n"} {
		if !strings.Contains(line, want) {
			t.Fatalf("%q lacks %q", line, want)
		}
	}
}

// TestXferlogFields: the fourteen fields in the format's order, the time
// as ctime's five words (a day below 10 padded with a space), spaces and
// control characters of names as "_", and every line has the same number
// of words whatever the names hold.
func TestXferlogFields(t *testing.T) {
	t.Parallel()
	e := Event{Time: Time(time.Date(2026, 12, 15, 20, 4, 5, 0, time.UTC)), Event: "transfer", Status: "ok", Tenant: "acme", User: "bob",
		Remote: "[2001:db8::1]:50000", Path: "/home/bob/my report.pdf", Direction: "upload", Bytes: 1234, DurationMS: 2600}
	got := string(AppendXferlog(nil, &e, time.UTC))
	want := "Tue Dec 15 20:04:05 2026 3 2001:db8::1 1234 /home/bob/my_report.pdf b _ i r bob@acme ftp 0 * c\n"
	if got != want {
		t.Fatalf("got  %q\nwant %q", got, want)
	}
	e.Time, e.Direction, e.Status, e.DurationMS = Time(time.Date(2026, 12, 5, 1, 2, 3, 0, time.UTC)), "download", "failed", 0
	e.Path, e.User, e.Tenant = "/"+hostile, "x y\nz", ""
	got = string(AppendXferlog(nil, &e, time.UTC))
	if !strings.HasPrefix(got, "Sat Dec  5 01:02:03 2026 0 2001:db8::1 1234 /a_b__") || !strings.HasSuffix(got, " b _ o r x_y_z ftp 0 * i\n") {
		t.Fatalf("got %q", got)
	}
	if strings.Count(got, "\n") != 1 || len(strings.Fields(got)) != 18 {
		t.Fatalf("%d words in %q", len(strings.Fields(got)), got)
	}
	e.User = ""
	if got := string(AppendXferlog(nil, &e, time.UTC)); len(strings.Fields(got)) != 18 {
		t.Fatalf("an empty user changed the field count: %q", got)
	}
}

// TestClip: a long client-given field is cut on a rune boundary.
func TestClip(t *testing.T) {
	t.Parallel()
	s := strings.Repeat("é", maxField)
	c := clip(s)
	if len(c) > maxField || !strings.HasSuffix(c, "...") || !strings.HasPrefix(c, "éé") || strings.ContainsRune(c, '\uFFFD') {
		t.Fatalf("clip: %d bytes, %q...", len(c), c[:10])
	}
}

// parseText reads a text line's pairs, unquoting quoted values; a key
// given twice fails the test.
func parseText(t *testing.T, line string) map[string]string {
	t.Helper()
	pairs := map[string]string{}
	for line != "" {
		k, rest, ok := strings.Cut(line, "=")
		if !ok || strings.ContainsAny(k, " \"") {
			t.Fatalf("bad pair at %q", line)
		}
		var v string
		if strings.HasPrefix(rest, `"`) {
			q, err := strconv.QuotedPrefix(rest)
			if err != nil {
				t.Fatalf("bad quote at %q: %v", rest, err)
			}
			v, _ = strconv.Unquote(q)
			rest = rest[len(q):]
		} else {
			v, rest, _ = strings.Cut(rest, " ")
			rest = " " + rest
		}
		if _, dup := pairs[k]; dup {
			t.Fatalf("key %s twice", k)
		}
		pairs[k] = v
		line = strings.TrimPrefix(rest, " ")
	}
	return pairs
}

// TestJSONMatchesEncodingJSON: the hand-written encoder writes the bytes
// encoding/json writes for the same event (field order, omitempty, its
// escapes), plus the C1 escapes, for every byte value and the runes that
// need care; so the log's format did not change when it stopped using
// encoding/json.
func TestJSONMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	var all strings.Builder
	for c := range 256 {
		all.WriteByte(byte(c))
	}
	texts := []string{"", "plain", hostile, all.String(), "<a href=\"x\">&amp;</a>", "\u2028\u2029\u0080\u009f\u00a0\u00ff\ufffd\U0001f600",
		"\xc2", "\xc2\x85", "\xe2\x80", "tail\xf0\x9f", "\x7f\u0085\\"}
	for i, s := range texts {
		e := Event{Time: Time(time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.FixedZone("x", 3600))), ID: s, Event: "transfer", Status: s,
			Tenant: s, User: s, Login: s, Remote: s, Balancer: s, Session: uint32(i) * 1000003, Verb: s, Path: s, To: s, Direction: s,
			Bytes: int64(i) - 3, DurationMS: int64(i) * 77, Code: i % 3 * 226, Decision: s, Rule: s, Method: s}
		js, err := json.Marshal(&e)
		if err != nil {
			t.Fatal(err)
		}
		want := string(escapeC1(js)) + "\n"
		if got := string(e.AppendJSON([]byte("prefix"))); got != "prefix"+want {
			t.Fatalf("text %d:\ngot  %q\nwant %q", i, got, "prefix"+want)
		}
	}
}

// escapeC1 writes every C1 control character in the JSON js (they can
// only be inside its strings) as a \u escape.
func escapeC1(js []byte) []byte {
	var b []byte
	for len(js) > 0 {
		r, n := utf8.DecodeRune(js)
		if r >= 0x80 && r <= 0x9f {
			b = fmt.Appendf(b, `\u%04x`, r)
		} else {
			b = append(b, js[:n]...)
		}
		js = js[n:]
	}
	return b
}
