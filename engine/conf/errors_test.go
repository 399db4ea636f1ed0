package conf

import "testing"

// TestErrorFormat: an error reads FILE:LINE: KEY: MSG, without the parts
// it lacks, and a list reads one per line.
func TestErrorFormat(t *testing.T) {
	es := Errors{
		{File: "s.toml", Line: 3, Key: "listen.control", Msg: "want HOST:PORT"},
		{File: "s.toml", Msg: "not a regular file"},
	}
	if got, want := es.Error(), "s.toml:3: listen.control: want HOST:PORT\ns.toml: not a regular file"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// TestKeyLines: keys, tables and arrays of tables are found on their
// lines; a missing key falls back to its table; Indexed adds the index of
// the first entry that has the key.
func TestKeyLines(t *testing.T) {
	doc := "a = 1\n[tls]\ncert = \"x\"\n[[users]]\nname = \"a\"\n[[users]]\nname = \"b\"\nhome = \"/b\"\n[users.limits]\nmax_sessions = 2\n"
	kl := ScanKeyLines(doc)
	for key, want := range map[string]int{
		"a": 1, "tls": 2, "tls.cert": 3, "tls.key": 2, "users[0].name": 5, "users[1].home": 8,
		"users[1].limits.max_sessions": 10, "nothing": 0,
	} {
		if got := kl.Line(key); got != want {
			t.Errorf("Line(%q) = %d, want %d", key, got, want)
		}
	}
	if got := kl.Indexed("users.home"); got != "users[1].home" {
		t.Errorf("Indexed = %q", got)
	}
	var errs Errors
	s := &Sink{File: "f", Lines: kl, Errs: &errs}
	s.Add("tls.cert", "bad %d", 1)
	if errs.Error() != "f:3: tls.cert: bad 1" {
		t.Errorf("Sink.Add: %q", errs.Error())
	}
}
