package flagkey

import (
	"bytes"
	"errors"
	"flag"
	"strings"
	"testing"
	"time"

	"github.com/ftpgate/ftpgate/engine/conf"
)

// TestBinderSetsFieldsAndKeys: each kind of field is set from its flag,
// its current value is the default shown in the help, and Keys maps
// every flag to its key or to NoKey and the reason.
func TestBinderSetsFieldsAndKeys(t *testing.T) {
	var cfg struct {
		S     string
		B     bool
		I     int
		U     uint
		F     float64
		D     time.Duration
		CD    conf.Duration
		Secs  conf.Duration
		Size  conf.Size
		Funcs []string
	}
	cfg.S, cfg.CD = "x", conf.Duration(time.Minute)
	var help bytes.Buffer
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(&help)
	b := New(fs)
	b.Key("s", "a.s", &cfg.S, "a `string`")
	b.Key("b", "a.b", &cfg.B, "a bool")
	b.Key("i", "a.i", &cfg.I, "an int")
	b.Key("u", "a.u", &cfg.U, "a uint")
	b.Key("f", "a.f", &cfg.F, "a float")
	b.Key("d", "a.d", &cfg.D, "a duration")
	b.Key("cd", "a.cd", &cfg.CD, "a conf.Duration")
	b.Key("secs", "a.secs", (*Seconds)(&cfg.Secs), "seconds")
	b.Key("size", "a.size", (*SizeOrNoLimit)(&cfg.Size), "a size")
	b.None("fn", "file only", func(v string) error { cfg.Funcs = append(cfg.Funcs, v); return nil }, "repeatable")
	err := fs.Parse([]string{"-b", "-i", "-3", "-u", "4", "-f", "1.5", "-d", "2s", "-secs", "7", "-size", "-1", "-fn", "p", "-fn", "q", "-s", "y"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.S != "y" || !cfg.B || cfg.I != -3 || cfg.U != 4 || cfg.F != 1.5 || cfg.D != 2*time.Second ||
		cfg.CD != conf.Duration(time.Minute) || cfg.Secs != conf.Duration(7*time.Second) || cfg.Size != -1 ||
		strings.Join(cfg.Funcs, ",") != "p,q" {
		t.Fatalf("fields after parse: %+v", cfg)
	}
	keys := b.Keys()
	if len(keys) != 10 || keys["s"] != "a.s" || keys["secs"] != "a.secs" || keys["fn"] != NoKey+"file only" {
		t.Fatalf("Keys: %v", keys)
	}
	fs.PrintDefaults()
	for _, want := range []string{`a string (default "x")`, "a conf.Duration (default 1m0s)"} {
		if !strings.Contains(help.String(), want) {
			t.Errorf("help lacks %q:\n%s", want, help.String())
		}
	}
	if err := fs.Parse([]string{"-secs", "1.5"}); err == nil || !strings.Contains(err.Error(), "want a number of seconds") {
		t.Errorf("-secs 1.5: %v", err)
	}
}

// TestBinderRefusesAnUnknownType: a field of a type it cannot bind is a
// mistake in the program, reported at registration.
func TestBinderRefusesAnUnknownType(t *testing.T) {
	defer func() {
		if r := recover(); r == nil || !strings.Contains(r.(string), "--c: unsupported type *complex128") {
			t.Errorf("recover() = %v", r)
		}
	}()
	var c complex128
	New(flag.NewFlagSet("t", flag.ContinueOnError)).Key("c", "a.c", &c, "")
}

// TestErrorsNameFlags: a key in a conf.Errors entry or in any other error
// becomes its flag, as a whole word only; a path or a longer name that
// contains a key stays, and a flag without a key names nothing.
func TestErrorsNameFlags(t *testing.T) {
	keys := map[string]string{"tls-cert": "tls.cert", "tls-key": "tls.key", "root": NoKey + "tls.cert"}
	got := Errors(keys, conf.Errors{{Key: "tls.cert", Msg: `cannot read "/etc/tls.cert"`}, {Key: "tls", Msg: "my-tls.cert stays; «tls.key» goes"}})
	if want := "--tls-cert: cannot read \"/etc/tls.cert\"\ntls: my-tls.cert stays; «--tls-key» goes"; got == nil || got.Error() != want {
		t.Errorf("Errors = %v\nwant %s", got, want)
	}
	if got := Errors(keys, errors.New("tls.key: open /x/tls.key: no such file")); got == nil || got.Error() != "--tls-key: open /x/tls.key: no such file" {
		t.Errorf("plain error: %v", got)
	}
	if Errors(keys, nil) != nil {
		t.Error("Errors(nil) != nil")
	}
}
