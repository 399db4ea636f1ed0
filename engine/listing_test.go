package engine

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/afero"
)

// ptListingTime is the modification time of the listing fixtures: older
// than six months, so ls shows the year.
var ptListingTime = time.Date(2020, 3, 4, 5, 6, 7, 0, time.UTC)

// ptListingServer serves a small tree:
//
//	/a.txt (5 bytes)  /b.txt (1)  /c.log (3)  /.hidden (2)
//	/sub/  /sub/inner.txt (4)  /sub/.dot (0)
func ptListingServer(t *testing.T, opts ...serverOption) *testServer {
	t.Helper()
	ts := newTestServer(t, opts...)
	fs := ts.driver.fs
	for name, content := range map[string]string{
		"/a.txt": "aaaaa", "/b.txt": "b", "/c.log": "log", "/.hidden": "hh",
		"/sub/inner.txt": "inne", "/sub/.dot": "",
	} {
		ptWriteFile(t, fs, name, []byte(content))
	}
	for _, name := range []string{"/a.txt", "/b.txt", "/c.log", "/.hidden", "/sub", "/sub/inner.txt", "/sub/.dot"} {
		if err := fs.Chtimes(name, ptListingTime, ptListingTime); err != nil {
			t.Fatal(err)
		}
	}
	if err := fs.Chmod("/sub", os.ModeDir|0o755); err != nil {
		t.Fatal(err)
	}
	return ts
}

// ptNames returns the last field of each ls -l line, checking the format.
func ptNames(t *testing.T, listing string) []string {
	t.Helper()
	var names []string
	for _, l := range ptLines(t, listing) {
		if !ptLSLine.MatchString(l) {
			t.Fatalf("not an ls -l line: %q", l)
		}
		f := strings.Fields(l)
		names = append(names, f[len(f)-1])
	}
	return names
}

func TestLISTFormat(t *testing.T) {
	t.Parallel()
	ts := ptListingServer(t)
	c := ts.login(t)
	lines := ptLines(t, c.list("LIST"))
	want := []string{
		"-rw-r--r-- 1 ftp      ftp                 5 Mar  4  2020 a.txt",
		"-rw-r--r-- 1 ftp      ftp                 1 Mar  4  2020 b.txt",
		"-rw-r--r-- 1 ftp      ftp                 3 Mar  4  2020 c.log",
	}
	if len(lines) != 4 || !slices.Equal(lines[:3], want) {
		t.Fatalf("LIST:\n%s", strings.Join(lines, "\n"))
	}
	if !strings.HasPrefix(lines[3], "drwxr-xr-x 1 ftp      ftp ") || !strings.HasSuffix(lines[3], " Mar  4  2020 sub") {
		t.Fatalf("LIST line of a directory: %q", lines[3])
	}

	// A recent file shows the time of day instead of the year.
	now := time.Now().UTC().Add(-time.Hour)
	if err := ts.driver.fs.Chtimes("/b.txt", now, now); err != nil {
		t.Fatal(err)
	}
	lines = ptLines(t, c.list("LIST b.txt"))
	if want := now.Format("Jan _2 15:04") + " b.txt"; len(lines) != 1 || !strings.HasSuffix(lines[0], want) {
		t.Fatalf("LIST of a recent file: %q, want suffix %q", lines, want)
	}
}

func TestLISTAndNLSTArguments(t *testing.T) {
	t.Parallel()
	ts := ptListingServer(t)
	for _, tc := range []struct {
		line  string
		names []string
	}{
		{"LIST", []string{"a.txt", "b.txt", "c.log", "sub"}},
		{"LIST /", []string{"a.txt", "b.txt", "c.log", "sub"}},
		{"LIST -a", []string{".hidden", "a.txt", "b.txt", "c.log", "sub"}},
		{"LIST -la", []string{".hidden", "a.txt", "b.txt", "c.log", "sub"}},
		{"LIST -l -A", []string{".hidden", "a.txt", "b.txt", "c.log", "sub"}},
		{"LIST -l", []string{"a.txt", "b.txt", "c.log", "sub"}},
		{"LIST *.txt", []string{"a.txt", "b.txt"}},
		{"LIST -l *.txt", []string{"a.txt", "b.txt"}},
		{"LIST ?.log", []string{"c.log"}},
		{"LIST .h*", []string{".hidden"}}, // a glob that names dot files shows them
		{"LIST *.none", nil},
		{"LIST a.txt", []string{"a.txt"}},
		{"LIST /sub/inner.txt", []string{"inner.txt"}},
		{"LIST sub", []string{"inner.txt"}},
		{"LIST -a sub", []string{".dot", "inner.txt"}},
		{"LIST sub/*.txt", []string{"inner.txt"}},
	} {
		t.Run(tc.line, func(t *testing.T) {
			t.Parallel()
			c := ts.login(t)
			if got := ptNames(t, c.list(tc.line)); !slices.Equal(got, tc.names) {
				t.Fatalf("%s: %q, want %q", tc.line, got, tc.names)
			}
		})
	}
	for _, tc := range []struct {
		line    string
		listing string
	}{
		{"NLST", "a.txt\r\nb.txt\r\nc.log\r\nsub\r\n"},
		{"NLST -a", ".hidden\r\na.txt\r\nb.txt\r\nc.log\r\nsub\r\n"},
		{"NLST *.txt", "a.txt\r\nb.txt\r\n"},
		{"NLST a.txt", "a.txt\r\n"},
		// With a directory argument the names carry it, so that they can
		// be used in RETR as they are.
		{"NLST sub", "sub/inner.txt\r\n"},
		{"NLST sub/", "sub/inner.txt\r\n"},
		{"NLST /sub", "/sub/inner.txt\r\n"},
		{"NLST sub/*.txt", "sub/inner.txt\r\n"},
		{"NLST sub/inner.txt", "sub/inner.txt\r\n"},
		{"NLST *.none", ""},
	} {
		t.Run(tc.line, func(t *testing.T) {
			t.Parallel()
			c := ts.login(t)
			if got := c.list(tc.line); got != tc.listing {
				t.Fatalf("%s: %q, want %q", tc.line, got, tc.listing)
			}
		})
	}
}

func TestNLSTNamesCanBeRetrieved(t *testing.T) {
	t.Parallel()
	ts := ptListingServer(t)
	c := ts.login(t)
	names := ptLines(t, c.list("NLST sub"))
	if len(names) != 1 {
		t.Fatalf("NLST sub: %q", names)
	}
	if got := c.retr(names[0]); string(got) != "inne" {
		t.Fatalf("RETR %s: %q", names[0], got)
	}
}

func TestListingOfMissingPathIs550(t *testing.T) {
	t.Parallel()
	ts := ptListingServer(t)
	c := ts.login(t)
	for _, line := range []string{"LIST /missing", "NLST /missing", "MLSD /missing", "LIST /missing/*.txt", "LIST -a /missing"} {
		c.epsv()
		c.expect(line, 550)
	}
	c.expect("MLST /missing", 550)
	// A bad glob pattern is a syntax error.
	c.epsv()
	c.expect("LIST [", 501)
	// The session goes on.
	if got := c.list("NLST"); got == "" {
		t.Fatal("NLST after the failures listed nothing")
	}
}

// ptFacts parses an MLSx entry into its facts and name.
func ptFacts(t *testing.T, entry string) (map[string]string, string) {
	t.Helper()
	factText, name, ok := strings.Cut(entry, " ")
	if !ok {
		t.Fatalf("MLSx entry without a space: %q", entry)
	}
	facts := map[string]string{}
	if factText != "" {
		if !strings.HasSuffix(factText, ";") {
			t.Fatalf("facts do not end in ';': %q", entry)
		}
		for _, f := range strings.Split(strings.TrimSuffix(factText, ";"), ";") {
			k, v, ok := strings.Cut(f, "=")
			if !ok {
				t.Fatalf("fact without '=': %q in %q", f, entry)
			}
			facts[k] = v
		}
	}
	return facts, name
}

func TestMLSDFacts(t *testing.T) {
	t.Parallel()
	ts := ptListingServer(t)
	c := ts.login(t)
	entries := map[string]map[string]string{}
	var order []string
	for _, l := range ptLines(t, c.list("MLSD")) {
		facts, name := ptFacts(t, l)
		entries[name] = facts
		order = append(order, name)
	}
	// MLSD is for machines: it shows dot files, and no cdir or pdir
	// entries.
	if want := []string{".hidden", "a.txt", "b.txt", "c.log", "sub"}; !slices.Equal(order, want) {
		t.Fatalf("MLSD names %q, want %q", order, want)
	}
	want := map[string]map[string]string{
		"a.txt": {"type": "file", "size": "5", "modify": "20200304050607", "perm": "adfwr", "UNIX.mode": "0644"},
		"sub":   {"type": "dir", "modify": "20200304050607", "perm": "cdfmpel", "UNIX.mode": "0755"},
	}
	for name, wantFacts := range want {
		got := entries[name]
		for k, v := range wantFacts {
			if got[k] != v {
				t.Errorf("%s: %s=%q, want %q (all: %v)", name, k, got[k], v, got)
			}
		}
		if got["unique"] == "" {
			t.Errorf("%s has no unique fact: %v", name, got)
		}
	}
	if entries["a.txt"]["unique"] == entries["b.txt"]["unique"] {
		t.Errorf("a.txt and b.txt share unique=%s", entries["a.txt"]["unique"])
	}
	for _, l := range ptLines(t, c.list("MLSD sub")) {
		if _, name := ptFacts(t, l); name != ".dot" && name != "inner.txt" {
			t.Errorf("MLSD sub lists %q", name)
		}
	}
	c.epsv()
	c.expect("MLSD a.txt", 501) // MLSD lists directories only
}

func TestMLSDUniqueFactOnDisk(t *testing.T) {
	t.Parallel()
	fs, dir := ptOSFs(t)
	ptWriteFile(t, fs, "/one", []byte("1"))
	if err := os.Link(filepath.Join(dir, "one"), filepath.Join(dir, "hardlink")); err != nil {
		t.Skip("no hard links here:", err)
	}
	ptWriteFile(t, fs, "/two", []byte("2"))
	c := newTestServer(t, withFs(fs)).login(t)
	unique := map[string]string{}
	for _, l := range ptLines(t, c.list("MLSD")) {
		facts, name := ptFacts(t, l)
		unique[name] = facts["unique"]
	}
	// Two names of one file share the fact; another file has its own.
	if unique["one"] == "" || unique["one"] != unique["hardlink"] || unique["one"] == unique["two"] {
		t.Fatalf("unique facts: %v", unique)
	}
}

func TestMLSTOnFileAndDirectory(t *testing.T) {
	t.Parallel()
	ts := ptListingServer(t)
	c := ts.login(t)
	for _, tc := range []struct {
		arg, path, typ string
	}{
		{"a.txt", "/a.txt", "file"},
		{"/sub/inner.txt", "/sub/inner.txt", "file"},
		{"sub", "/sub", "dir"},
		{"", "/", "dir"},
	} {
		line := strings.TrimSpace("MLST " + tc.arg)
		text := c.expect(line, 250)
		lines := strings.Split(text, "\n")
		if len(lines) != 3 || lines[2] != "End" {
			t.Fatalf("%s: %q", line, text)
		}
		// The entry line starts with exactly one space (RFC 3659 7.2).
		if !strings.HasPrefix(lines[1], " type=") {
			t.Fatalf("%s: entry line %q", line, lines[1])
		}
		facts, name := ptFacts(t, lines[1][1:])
		if name != tc.path || facts["type"] != tc.typ || facts["modify"] == "" || facts["perm"] == "" {
			t.Fatalf("%s: entry %q", line, lines[1])
		}
	}
	c.expect("CWD sub", 250)
	if text := c.expect("MLST inner.txt", 250); !strings.Contains(text, ";size=4;") || !strings.Contains(text, "; /sub/inner.txt\n") {
		t.Fatalf("MLST relative to the working directory: %q", text)
	}
}

func TestOPTSMLSTChoosesFacts(t *testing.T) {
	t.Parallel()
	ts := ptListingServer(t)
	c := ts.login(t)
	ptRun(t, c, []ptStep{
		{"OPTS MLST size;type;", 200, "MLST OPTS type;size;"},
		{"FEAT", 211, "MLST type*;size*;modify;perm;unique;UNIX.mode;"},
	})
	if text := c.expect("MLST a.txt", 250); !strings.Contains(text, "\n type=file;size=5; /a.txt\n") {
		t.Fatalf("MLST with type and size: %q", text)
	}
	if got := ptLines(t, c.list("MLSD sub")); !slices.Equal(got, []string{"type=file;size=0; .dot", "type=file;size=4; inner.txt"}) {
		t.Fatalf("MLSD with type and size: %q", got)
	}
	// Unknown facts are ignored, case does not matter.
	c.expect("OPTS MLST bogus;MODIFY;", 200)
	if text := c.expect("MLST a.txt", 250); !strings.Contains(text, "\n modify=20200304050607; /a.txt\n") {
		t.Fatalf("MLST with modify: %q", text)
	}
	// No facts at all: a space, then the name.
	c.expect("OPTS MLST", 200)
	if text := c.expect("MLST a.txt", 250); !strings.Contains(text, "\n  /a.txt\n") {
		t.Fatalf("MLST without facts: %q", text)
	}
	// REIN brings the default facts back.
	c.expect("REIN", 220)
	c.expect("USER test", 331)
	c.expect("PASS test", 230)
	if text := c.expect("MLST a.txt", 250); !strings.Contains(text, "UNIX.mode=0644;") {
		t.Fatalf("MLST after REIN: %q", text)
	}
}

func TestDisableLISTArgsTreatsOptionsAsNames(t *testing.T) {
	t.Parallel()
	ts := ptListingServer(t, withSettings(func(s *Settings) { s.DisableLISTArgs = true }))
	ptWriteFile(t, ts.driver.fs, "/-a", []byte("dash"))
	c := ts.login(t)
	if got := ptNames(t, c.list("LIST -a")); !slices.Equal(got, []string{"-a"}) {
		t.Fatalf("LIST -a: %q", got)
	}
	// No option can ask for dot files, so they are always shown.
	if got := ptNames(t, c.list("LIST")); !slices.Equal(got, []string{"-a", ".hidden", "a.txt", "b.txt", "c.log", "sub"}) {
		t.Fatalf("LIST: %q", got)
	}
	if got := c.list("NLST -a"); got != "-a\r\n" {
		t.Fatalf("NLST -a: %q", got)
	}
	c.epsv()
	c.expect("LIST -la", 550)
	// Glob characters are part of names too.
	c.epsv()
	c.expect("LIST *.txt", 550)
}

func TestListingOfLargeDirectoryIsComplete(t *testing.T) {
	t.Parallel()
	const n = 3000 // almost three listing batches
	memFs := afero.NewMemMapFs()
	osFs, dir := ptOSFs(t)
	want := make([]string, n)
	for i := range n {
		want[i] = fmt.Sprintf("file-%04d", i)
		ptWriteFile(t, memFs, "/big/"+want[i], []byte("x"))
		if err := os.WriteFile(filepath.Join(dir, want[i]), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name string
		fs   afero.Fs
		dir  string
	}{
		{"memory", memFs, "/big"},
		{"disk", osFs, "/"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := newTestServer(t, withFs(tc.fs)).login(t)
			nlst := ptLines(t, c.list("NLST -a "+tc.dir))
			slices.Sort(nlst)
			prefix := strings.TrimSuffix(tc.dir, "/") + "/"
			for i := range nlst {
				nlst[i] = strings.TrimPrefix(nlst[i], prefix)
			}
			if !slices.Equal(nlst, want) {
				t.Fatalf("NLST listed %d names, want %d", len(nlst), n)
			}
			list := ptNames(t, c.list("LIST "+tc.dir))
			slices.Sort(list)
			if !slices.Equal(list, want) {
				t.Fatalf("LIST listed %d names, want %d", len(list), n)
			}
			var mlsd []string
			for _, l := range ptLines(t, c.list("MLSD "+tc.dir)) {
				_, name := ptFacts(t, l)
				mlsd = append(mlsd, name)
			}
			slices.Sort(mlsd)
			if !slices.Equal(mlsd, want) {
				t.Fatalf("MLSD listed %d names, want %d", len(mlsd), n)
			}
		})
	}
}

func TestListingInASCIIModeIsUnchanged(t *testing.T) {
	t.Parallel()
	ts := ptListingServer(t)
	c := ts.login(t)
	binary := c.list("NLST")
	c.expect("TYPE A", 200)
	if ascii := c.list("NLST"); ascii != binary {
		t.Fatalf("NLST in TYPE A %q, in TYPE I %q", ascii, binary)
	}
}

func TestListingNeedsDataConnection(t *testing.T) {
	t.Parallel()
	ts := ptListingServer(t)
	c := ts.login(t)
	for _, line := range []string{"LIST", "NLST", "MLSD"} {
		c.expect(line, 425)
	}
}
