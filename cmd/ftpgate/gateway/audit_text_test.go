package gateway

import (
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/ftpgate/ftpgate/engine/enginetest"
)

// TestAuditTextShowsNoInvisibleText: anyone who connects chooses the
// login name of a failed login, which the text audit log writes. A
// right-to-left override in it would make a terminal or viewer show the
// rest of the line reversed (a status= or remote= that reads as another
// value), and a zero-width or no-break space would hide where a value
// ends; so such characters are quoted and escaped as the line's control
// characters are, and the value unquotes to the name sent.
func TestAuditTextShowsNoInvisibleText(t *testing.T) {
	f := newFiles(t)
	f.write(t, "[timeouts]\nlogin_failure_delay = \"0s\"\n[audit]\nfile = \"audit.log\"\nformat = \"text\"\n", "")
	g, _ := newGateway(t, f, Options{})
	ran := runGateway(g)
	const name = "ali\u202ekO-sutats\u202c\u200b\u00a0\u2066x\u2069\ufeff"
	c, _, _ := enginetest.Dial(t, g.Addr().String(), "127.0.0.1")
	c.Expect("USER "+name, 331)
	c.Expect("PASS wrong", 530)
	c.Expect("QUIT", 221)
	stopGateway(t, g, ran)
	lines := readLines(t, filepath.Join(f.dir, "audit.log"))
	if len(lines) != 1 {
		t.Fatalf("audit lines: %q", lines)
	}
	line := lines[0]
	if strings.ContainsAny(line, "\u202e\u202c\u200b\u00a0\u2066\u2069\ufeff") {
		t.Fatalf("the line holds the login name's invisible characters raw: %+q", line)
	}
	_, rest, ok := strings.Cut(line, " login=")
	q, err := strconv.QuotedPrefix(rest)
	if !ok || err != nil {
		t.Fatalf("no quoted login= in %+q", line)
	}
	if got, _ := strconv.Unquote(q); got != name {
		t.Fatalf("login= %+q, want %+q", got, name)
	}
}
