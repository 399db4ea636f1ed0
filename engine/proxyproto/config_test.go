package proxyproto

import (
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
)

// TestConfigFromTOML: a [proxy_protocol] section decodes into Config with
// header_timeout as a duration string, the grammar of
// --proxy-header-timeout; a bare integer, which BurntSushi/toml would
// read into a time.Duration as nanoseconds, is refused.
func TestConfigFromTOML(t *testing.T) {
	t.Parallel()
	var c Config
	md, err := toml.Decode(`mode = "required"
trusted = ["10.0.0.0/8"]
untrusted = "ignore"
header_timeout = "2s"
`, &c)
	if err != nil {
		t.Fatal(err)
	}
	if u := md.Undecoded(); len(u) > 0 {
		t.Fatalf("keys not in Config: %v", u)
	}
	if c.Mode != Required || c.Untrusted != Ignore || time.Duration(c.HeaderTimeout) != 2*time.Second {
		t.Fatalf("decoded %+v", c)
	}
	w, err := New(c, nil)
	if err != nil || w.timeout != 2*time.Second {
		t.Fatalf("wrapper %+v, %v", w, err)
	}
	for _, doc := range []string{"header_timeout = 5", `header_timeout = "5"`, `header_timeout = "soon"`} {
		var c Config
		if _, err := toml.Decode(doc, &c); err == nil || !strings.Contains(err.Error(), "want a duration") {
			t.Errorf("%s: decoded to %v, %v; want an error", doc, time.Duration(c.HeaderTimeout), err)
		}
	}
}
