package engine

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzParseCommandLine checks that any line either parses into a clean
// verb and argument or is refused with a 500/501 reply, never a crash.
func FuzzParseCommandLine(f *testing.F) {
	for _, seed := range []string{
		"USER test\r\n", "RETR file name with spaces\r\n", "\xff\xf4\xff\xf2ABOR\r\n",
		"", "\r\n", " \r\n", "NOOP", "noop\n", "X\x00Y\r\n", "\xc3\x28\r\n",
		"STOR a\rb\r\n", "XSHA256 f\r\n", "1ABC\r\n", "\xff\xfb\x01\r\n",
		"\xff\xf4\xffABOR\r\n", "\xffNOOP\r\n", "RETR a\xffb\r\n", "\xff\xfa\x18\xff\xf0NOOP\r\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		verb, arg, err := parseCommandLine(append([]byte(nil), raw...))
		// A Synch before the line, whole or with its urgent DM dropped
		// by a balancer, changes nothing, unless the line itself starts
		// with a byte that reads as a Telnet command after an IAC.
		if len(raw) == 0 || raw[0] < telnetSE {
			for _, synch := range []string{"\xff\xf4\xff\xf2", "\xff\xf4\xff"} {
				v, a, e := parseCommandLine(append([]byte(synch), raw...))
				if v != verb || a != arg || (e == nil) != (err == nil) || e != nil && e.Error() != err.Error() {
					t.Fatalf("%q after %q: got %q %q %v, without it %q %q %v", raw, synch, v, a, e, verb, arg, err)
				}
			}
		}
		if err != nil {
			var re *ReplyError
			if !errors.As(err, &re) || (re.Code != 500 && re.Code != 501) {
				t.Fatalf("error %v is not a 500/501 reply", err)
			}
			return
		}
		if !validVerb(verb) || verb != strings.ToUpper(verb) {
			t.Fatalf("bad verb %q", verb)
		}
		if !utf8.ValidString(arg) || strings.ContainsAny(arg, "\x00\r\n") {
			t.Fatalf("bad argument %q", arg)
		}
	})
}

// FuzzParsePORT checks that PORT parsing never crashes and that what it
// accepts renders back to the same numbers.
func FuzzParsePORT(f *testing.F) {
	for _, seed := range []string{"127,0,0,1,4,1", "1,2,3,4,5", "256,0,0,1,1,1", "a,b,c,d,e,f", ",,,,,", "1,2,3,4,5,6,7", "+1,2,3,4,5,6"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, arg string) {
		ap, err := parsePORT(arg)
		if err != nil {
			return
		}
		if !ap.Addr().Is4() {
			t.Fatalf("%q gave non-IPv4 %v", arg, ap)
		}
		for _, part := range strings.Split(arg, ",") {
			if !isDigits(part) {
				t.Fatalf("%q accepted with non-digit field %q", arg, part)
			}
		}
	})
}

// FuzzParseEPRT checks that EPRT parsing never crashes and that accepted
// addresses match their protocol number.
func FuzzParseEPRT(f *testing.F) {
	for _, seed := range []string{"|1|127.0.0.1|6275|", "|2|::1|5282|", "|3|x|1|", "!1!10.0.0.1!1!", "|1|::1|5|", "|2|fe80::1%eth0|5|", "||||", "|1|1.2.3.4|65536|"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, arg string) {
		ap, err := parseEPRT(arg)
		if err != nil {
			return
		}
		proto := arg[1:2]
		if (proto == "1") != ap.Addr().Is4() || ap.Port() == 0 || ap.Addr().Zone() != "" {
			t.Fatalf("%q accepted as %v", arg, ap)
		}
	})
}

// FuzzResolvePath checks that no argument resolves outside "/" or to an
// unclean path.
func FuzzResolvePath(f *testing.F) {
	for _, seed := range [][2]string{{"/", "../../etc/passwd"}, {"/a/b", ".."}, {"/a", "/../../x"}, {"/", ""}, {"/x", "a//b/./c/"}, {"/", "..\\..\\x"}} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, cwd, arg string) {
		p := resolvePath(cleanPath(cwd), arg)
		if !strings.HasPrefix(p, "/") || cleanPath(p) != p || strings.Contains(p, "/../") || strings.HasSuffix(p, "/..") {
			t.Fatalf("resolvePath(%q, %q) = %q", cwd, arg, p)
		}
	})
}
