package engine

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/spf13/afero"
)

func TestLoginSequences(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	for _, tc := range []struct {
		name  string
		steps []ptStep
	}{
		{"USER then PASS logs in", []ptStep{
			{"USER test", 331, ""}, {"PASS test", 230, "test"}, {"PWD", 257, `"/"`},
		}},
		{"wrong password is refused", []ptStep{
			{"USER test", 331, ""}, {"PASS wrong", 530, ""}, {"PWD", 530, ""},
		}},
		{"unknown user is refused at PASS", []ptStep{
			{"USER nobody", 331, ""}, {"PASS test", 530, ""},
		}},
		{"PASS before USER is a bad sequence", []ptStep{
			{"PASS test", 503, ""},
		}},
		{"a failed PASS needs USER again", []ptStep{
			{"USER test", 331, ""}, {"PASS wrong", 530, ""}, {"PASS test", 503, ""},
			{"USER test", 331, ""}, {"PASS test", 230, ""},
		}},
		{"USER again before PASS replaces the name", []ptStep{
			{"USER nobody", 331, ""}, {"USER test", 331, ""}, {"PASS test", 230, ""},
		}},
		{"USER after login is refused and the login stays", []ptStep{
			{"USER test", 331, ""}, {"PASS test", 230, ""}, {"USER other", 530, "REIN"},
			{"PASS test", 503, ""}, {"PWD", 257, ""},
		}},
		{"USER needs a name", []ptStep{
			{"USER", 501, ""},
		}},
		{"commands other than the public ones need a login", []ptStep{
			{"PWD", 530, ""}, {"CWD /", 530, ""}, {"CDUP", 530, ""}, {"MKD d", 530, ""},
			{"RMD d", 530, ""}, {"DELE f", 530, ""}, {"RNFR f", 530, ""}, {"SIZE f", 530, ""},
			{"MDTM f", 530, ""}, {"LIST", 530, ""}, {"NLST", 530, ""}, {"MLSD", 530, ""},
			{"MLST", 530, ""}, {"RETR f", 530, ""}, {"STOR f", 530, ""}, {"APPE f", 530, ""},
			{"STOU", 530, ""}, {"PASV", 530, ""}, {"EPSV", 530, ""}, {"TYPE I", 530, ""},
			{"REST 0", 530, ""}, {"STAT", 530, ""}, {"STAT /", 530, ""}, {"ABOR", 530, ""},
		}},
		{"public commands work before login", []ptStep{
			{"SYST", 215, ""}, {"NOOP", 200, ""}, {"FEAT", 211, ""}, {"HELP", 214, ""},
			{"OPTS UTF8 ON", 200, ""}, {"CLNT test client 1.0", 200, ""},
		}},
		{"REIN logs out and resets the session", []ptStep{
			{"USER test", 331, ""}, {"PASS test", 230, ""}, {"MKD /rein", 257, ""},
			{"CWD /rein", 250, ""}, {"TYPE A", 200, ""}, {"REIN", 220, ""}, {"PWD", 530, ""},
			{"USER test", 331, ""}, {"PASS test", 230, ""}, {"PWD", 257, `"/"`},
			{"STAT", 211, "TYPE: BINARY"},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ptRun(t, ts.dial(t), tc.steps)
		})
	}
}

func TestQUITSays221AndCloses(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	for _, login := range []bool{false, true} {
		c := ts.dial(t)
		if login {
			c = ts.login(t)
		}
		c.expect("QUIT", 221)
		ptExpectClosed(t, c)
	}
}

func TestSimpleCommandReplies(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ptRun(t, ts.login(t), []ptStep{
		{"SYST", 215, "UNIX Type: L8"},
		{"NOOP", 200, ""},
		{"noop", 200, ""},
		{"OPTS UTF8 ON", 200, ""},
		{"OPTS UTF-8 ON", 200, ""},
		{"OPTS UTF8", 200, ""},
		{"OPTS UTF8 OFF", 504, ""},
		{"OPTS NOSUCH ON", 501, ""},
		{"OPTS", 501, ""},
		{"HELP NOOP", 214, "NOOP"},
		{"HELP nosuch", 502, ""},
		{"ALLO 1000", 202, ""},
		{"ALLO 1000 R 10", 202, ""},
		{"ALLO lots", 501, ""},
		{"ACCT x", 202, ""},
		{"CCC", 534, ""},
		{"NOSUCHVERB", 502, ""},
		{"XCRC f", 502, ""},
		{"PWD extra", 501, ""},
		{"CWD", 501, ""},
		{"RETR", 501, ""},
		{"NOOP", 200, ""},
	})
}

func TestHELPListsEnabledCommandsOnly(t *testing.T) {
	t.Parallel()
	help := func(t *testing.T, opts ...serverOption) string {
		c := newTestServer(t, opts...).dial(t)
		return c.expect("HELP", 214)
	}
	words := func(s string) map[string]bool {
		m := map[string]bool{}
		for _, w := range strings.Fields(s) {
			m[w] = true
		}
		return m
	}
	all := words(help(t))
	for _, verb := range []string{"USER", "PASS", "RETR", "STOR", "EPSV", "MLSD", "MLST", "SYST", "PORT", "MFMT", "FEAT", "SITE"} {
		if !all[verb] {
			t.Errorf("HELP does not list %s", verb)
		}
	}
	some := words(help(t, withSettings(func(s *Settings) {
		s.DisableSYST, s.DisableMLSD, s.DisableMLST, s.DisableActiveMode, s.DisableMFMT = true, true, true, true, true
		s.DisableSite = true
	})))
	for _, verb := range []string{"SYST", "MLSD", "MLST", "PORT", "EPRT", "MFMT", "SITE"} {
		if some[verb] {
			t.Errorf("HELP lists disabled %s", verb)
		}
	}
	if !some["RETR"] {
		t.Error("HELP with disabled commands lost RETR")
	}
}

// ptFeatures returns the feature lines of FEAT, checking the reply's shape:
// every feature line starts with one space (RFC 2389 3.2).
func ptFeatures(t *testing.T, c *rawClient) map[string]bool {
	t.Helper()
	text := c.expect("FEAT", 211)
	lines := strings.Split(text, "\n")
	if len(lines) < 3 || lines[len(lines)-1] != "End" {
		t.Fatalf("FEAT reply %q", text)
	}
	feats := map[string]bool{}
	for _, l := range lines[1 : len(lines)-1] {
		if !strings.HasPrefix(l, " ") || strings.HasPrefix(l, "  ") {
			t.Fatalf("FEAT line %q does not start with one space", l)
		}
		feats[l[1:]] = true
	}
	return feats
}

func TestFEATListsWhatIsEnabled(t *testing.T) {
	t.Parallel()
	const allFacts = "MLST type*;size*;modify*;perm*;unique*;UNIX.mode*;"
	for _, tc := range []struct {
		name    string
		opts    []serverOption
		present []string
		absent  []string
	}{
		{"defaults without TLS", nil,
			[]string{"UTF8", "EPSV", "EPRT", allFacts, "SIZE", "MDTM", "REST STREAM", "MFMT", "TVFS", "CLNT", "HOST"},
			[]string{"AUTH TLS", "PBSZ", "PROT"}},
		{"with TLS", []serverOption{withTLS()},
			[]string{"AUTH TLS", "PBSZ", "PROT", "UTF8", "EPSV"}, nil},
		{"MFMT disabled", []serverOption{withSettings(func(s *Settings) { s.DisableMFMT = true })},
			[]string{"MDTM"}, []string{"MFMT"}},
		{"active mode disabled", []serverOption{withSettings(func(s *Settings) { s.DisableActiveMode = true })},
			[]string{"EPSV"}, []string{"EPRT"}},
		{"MLSD disabled keeps MLST", []serverOption{withSettings(func(s *Settings) { s.DisableMLSD = true })},
			[]string{allFacts}, nil},
		{"MLSD and MLST disabled", []serverOption{withSettings(func(s *Settings) { s.DisableMLSD, s.DisableMLST = true, true })},
			nil, []string{"MLST"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			feats := ptFeatures(t, newTestServer(t, tc.opts...).dial(t))
			for _, f := range tc.present {
				if !feats[f] {
					t.Errorf("FEAT lacks %q: %v", f, feats)
				}
			}
			for _, a := range tc.absent {
				for f := range feats {
					if f == a || strings.HasPrefix(f, a+" ") {
						t.Errorf("FEAT lists %q", f)
					}
				}
			}
		})
	}
}

func TestDisabledCommandsAreNotImplemented(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, withSettings(func(s *Settings) {
		s.DisableSYST, s.DisableSTAT, s.DisableMLSD, s.DisableMLST = true, true, true, true
		s.DisableSite, s.DisableActiveMode, s.DisableMFMT = true, true, true
	}))
	ptWriteFile(t, ts.driver.fs, "/f", []byte("x"))
	before := ts.dial(t)
	before.expect("SYST", 502)
	c := ts.login(t)
	ptRun(t, c, []ptStep{
		{"SYST", 502, ""},
		{"STAT", 502, ""},
		{"STAT /f", 213, "f"}, // the path form stays
		{"MLSD", 502, ""},
		{"MLST /f", 502, ""},
		{"SITE CHMOD 600 /f", 502, ""},
		{"HELP SITE", 502, ""},
		{"PORT 127,0,0,1,200,1", 502, ""},
		{"EPRT |1|127.0.0.1|51201|", 502, ""},
		{"MFMT 20200101000000 /f", 502, ""},
		// Without MFMT, MDTM's set form is refused as such (unless a
		// file has the whole argument as its name).
		{"MDTM 20200101000000 /f", 501, "disabled"},
		{"OPTS MLST type;", 501, ""},
		{"MDTM /f", 213, ""},
		{"NOOP", 200, ""},
	})
}

func TestSTATServerForm(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, withSettings(func(s *Settings) { s.Banner = "ftpgate-test" }))
	c := ts.login(t)
	text := c.expect("STAT", 211)
	for _, want := range []string{"ftpgate-test status:", "Logged in as test", "TYPE: BINARY", "No transfer in progress", "End of status"} {
		if !strings.Contains(text, want) {
			t.Errorf("STAT lacks %q:\n%s", want, text)
		}
	}
	c.expect("TYPE A", 200)
	if text := c.expect("STAT", 211); !strings.Contains(text, "TYPE: ASCII") {
		t.Errorf("STAT after TYPE A:\n%s", text)
	}
}

func TestSTATPathForm(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	fs := ts.driver.fs
	ptWriteFile(t, fs, "/dir/one.txt", []byte("12345"))
	ptWriteFile(t, fs, "/dir/two.txt", []byte("1"))
	c := ts.login(t)

	text := c.expect("STAT /dir/one.txt", 213)
	lines := strings.Split(text, "\n")
	if len(lines) != 3 || lines[0] != "Status of /dir/one.txt:" || !ptLSLine.MatchString(lines[1][1:]) ||
		!strings.HasPrefix(lines[1], " -rw-r--r-- 1 ftp      ftp                 5 ") || !strings.HasSuffix(lines[1], " one.txt") {
		t.Errorf("STAT of a file:\n%s", text)
	}

	text = c.expect("STAT /dir", 213)
	lines = strings.Split(text, "\n")
	if len(lines) != 4 || !strings.HasSuffix(lines[1], " one.txt") || !strings.HasSuffix(lines[2], " two.txt") {
		t.Errorf("STAT of a directory:\n%s", text)
	}
	c.expect("STAT /missing", 550)
}

func TestDirectoryCommands(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	fs := ts.driver.fs
	ptWriteFile(t, fs, "/file", []byte("data"))
	c := ts.login(t)
	ptRun(t, c, []ptStep{
		{"PWD", 257, `"/" is the current directory.`},
		{"MKD d", 257, `"/d" directory created.`},
		{"MKD d", 550, ""},
		{"CWD d", 250, ""},
		{"PWD", 257, `"/d"`},
		{"XMKD e", 257, `"/d/e"`},
		{"XCWD e", 250, ""},
		{"XPWD", 257, `"/d/e"`},
		{"CDUP", 250, ""},
		{"PWD", 257, `"/d"`},
		{"XCUP", 250, ""},
		{"PWD", 257, `"/"`},
		{"CDUP", 250, ""}, // at the root CDUP stays there
		{"PWD", 257, `"/"`},
		{"CWD /nowhere", 550, ""},
		{"CWD /file", 550, "not a directory"},
		{"PWD", 257, `"/"`},
		{"CWD /d/e/", 250, ""},
		{"PWD", 257, `"/d/e"`},
		{"CWD /", 250, ""},
		{"RMD /d", 550, "not empty"},
		{"RMD /file", 550, "not a directory"},
		{"RMD /nowhere", 550, ""},
		{"RMD /", 550, ""},
		{"XRMD /d/e", 250, ""},
		{"RMD d", 250, ""},
		{"CWD /d", 550, ""},
	})
	ptAssertMissing(t, fs, "/d")
	if data := ptReadFile(t, fs, "/file"); string(data) != "data" {
		t.Fatalf("/file changed: %q", data)
	}
}

func TestDELE(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	fs := ts.driver.fs
	ptWriteFile(t, fs, "/sub/victim", []byte("x"))
	c := ts.login(t)
	ptRun(t, c, []ptStep{
		{"DELE /nowhere", 550, ""},
		{"DELE /sub", 550, "RMD"},
		{"CWD sub", 250, ""},
		{"DELE victim", 250, ""},
		{"DELE victim", 550, ""},
	})
	ptAssertMissing(t, fs, "/sub/victim")
	if fi, err := fs.Stat("/sub"); err != nil || !fi.IsDir() {
		t.Fatalf("/sub after DELE of a directory: %v", err)
	}
}

func TestRename(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	fs := ts.driver.fs
	ptWriteFile(t, fs, "/a", []byte("content of a"))
	ptMkdir(t, fs, "/dir")
	c := ts.login(t)
	ptRun(t, c, []ptStep{
		{"RNFR a", 350, ""},
		{"RNTO b", 250, ""},
		{"RNFR b", 350, ""},
		{"RNTO /dir/c", 250, ""},
	})
	ptAssertMissing(t, fs, "/a")
	ptAssertMissing(t, fs, "/b")
	if got := ptReadFile(t, fs, "/dir/c"); string(got) != "content of a" {
		t.Fatalf("renamed file holds %q", got)
	}
}

func TestRNTOWithoutRNFRIsBadSequence(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ptWriteFile(t, ts.driver.fs, "/a", []byte("x"))
	ptRun(t, ts.login(t), []ptStep{
		{"RNTO b", 503, ""},
		// Any command between RNFR and RNTO cancels the rename.
		{"RNFR a", 350, ""},
		{"NOOP", 200, ""},
		{"RNTO b", 503, ""},
		// A rename is used once.
		{"RNFR a", 350, ""},
		{"RNTO b", 250, ""},
		{"RNTO c", 503, ""},
	})
	ptAssertMissing(t, ts.driver.fs, "/c")
}

func TestRNFROfMissingFileIs550(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ptRun(t, ts.login(t), []ptStep{
		{"RNFR nothing", 550, ""},
		{"RNTO something", 503, ""},
		{"RNFR /", 550, ""},
	})
	ptAssertMissing(t, ts.driver.fs, "/something")
}

func TestSIZE(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ptWriteFile(t, ts.driver.fs, "/f", make([]byte, 12345))
	ptWriteFile(t, ts.driver.fs, "/empty", nil)
	ptMkdir(t, ts.driver.fs, "/d")
	ptRun(t, ts.login(t), []ptStep{
		{"SIZE f", 213, "12345"},
		{"SIZE /empty", 213, "0"},
		{"SIZE d", 550, ""},
		{"SIZE missing", 550, ""},
	})
}

func TestMDTMAndMFMT(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	fs := ts.driver.fs
	ptWriteFile(t, fs, "/f", []byte("x"))
	when := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := fs.Chtimes("/f", when, when); err != nil {
		t.Fatal(err)
	}
	c := ts.login(t)
	if got := c.expect("MDTM f", 213); got != "20200102030405" {
		t.Fatalf("MDTM: %q", got)
	}
	c.expect("MDTM missing", 550)

	// The set form of MDTM.
	if got := c.expect("MDTM 20210304050607 f", 213); got != "20210304050607" {
		t.Fatalf("MDTM set: %q", got)
	}
	ptAssertModTime(t, fs, "/f", time.Date(2021, 3, 4, 5, 6, 7, 0, time.UTC))

	if got := c.expect("MFMT 20220506070809 f", 213); got != "Modify=20220506070809; /f" {
		t.Fatalf("MFMT: %q", got)
	}
	ptAssertModTime(t, fs, "/f", time.Date(2022, 5, 6, 7, 8, 9, 0, time.UTC))
	if got := c.expect("MDTM f", 213); got != "20220506070809" {
		t.Fatalf("MDTM after MFMT: %q", got)
	}
	ptRun(t, c, []ptStep{
		{"MFMT 20220506070809.123 f", 213, ""},
		{"MFMT 2022 f", 501, ""},
		{"MFMT 20221306070809 f", 501, ""}, // month 13
		{"MFMT 20220506070809", 501, ""},
		{"MFMT 20220506070809 missing", 550, ""},
	})
}

func ptAssertModTime(t *testing.T, fs afero.Fs, name string, want time.Time) {
	t.Helper()
	fi, err := fs.Stat(name)
	if err != nil {
		t.Fatal(err)
	}
	if !fi.ModTime().Equal(want) {
		t.Fatalf("%s modified at %v, want %v", name, fi.ModTime().UTC(), want)
	}
}

// ptLSLine matches a line of an ls -l style listing.
var ptLSLine = regexp.MustCompile(`^[-dl][-rwxsStT]{9} 1 ftp +ftp +\d+ [A-Z][a-z]{2} [ \d]\d ( \d{4}|\d\d:\d\d) \S.*$`)

func TestTransferParameters(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ptRun(t, ts.login(t), []ptStep{
		{"TYPE A", 200, ""},
		{"TYPE A N", 200, ""},
		{"TYPE I", 200, ""},
		{"TYPE L 8", 200, ""},
		{"type i", 200, ""},
		{"TYPE E", 504, ""},
		{"TYPE A T", 504, ""},
		{"TYPE L 7", 504, ""},
		{"TYPE X", 504, ""},
		{"TYPE", 501, ""},
		{"MODE S", 200, ""},
		{"MODE B", 504, ""},
		{"MODE C", 504, ""},
		{"STRU F", 200, ""},
		{"STRU R", 504, ""},
		{"STRU P", 504, ""},
		{"REST 100", 350, "100"},
		{"REST 0", 350, ""},
		{"REST -1", 501, ""},
		{"REST +5", 501, ""},
		{"REST abc", 501, ""},
		{"REST 99999999999999999999", 501, ""},
	})
}

func TestRESTThenRETRStartsAtOffset(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ptWriteFile(t, ts.driver.fs, "/f", []byte("0123456789"))
	c := ts.login(t)
	c.expect("REST 4", 350)
	if got := c.retr("f"); string(got) != "456789" {
		t.Fatalf("RETR after REST 4: %q", got)
	}
	// The offset is used once.
	if got := c.retr("f"); string(got) != "0123456789" {
		t.Fatalf("RETR after the resumed one: %q", got)
	}
}

func TestDotDotCannotClimbAboveRoot(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	fs := ts.driver.fs
	ptWriteFile(t, fs, "/etc/passwd", []byte("root:x:0:0:in the ftp filesystem\n"))
	ptMkdir(t, fs, "/a/b")
	c := ts.login(t)
	ptRun(t, c, []ptStep{
		{"CWD ../../..", 250, ""},
		{"PWD", 257, `"/"`},
		{"CWD /a/b", 250, ""},
		{"CWD ../../../../..", 250, ""},
		{"PWD", 257, `"/"`},
		{"CWD a/b", 250, ""},
		{"SIZE ../../../../etc/passwd", 213, "33"},
	})
	if got := c.retr("../../etc/passwd"); string(got) != "root:x:0:0:in the ftp filesystem\n" {
		t.Fatalf("RETR ../../etc/passwd: %q", got)
	}
	if got := c.retr("/../../../../etc/passwd"); string(got) != "root:x:0:0:in the ftp filesystem\n" {
		t.Fatalf("RETR /../../../../etc/passwd: %q", got)
	}
}

func TestDotDotCannotLeaveTheBaseDirectory(t *testing.T) {
	t.Parallel()
	fs, dir := ptOSFs(t)
	ptMkdir(t, fs, "/sub")
	ts := newTestServer(t, withFs(fs))
	c := ts.login(t)
	c.expect("CWD sub", 250)
	// The host has an /etc/passwd; the session's filesystem has none.
	for _, p := range []string{"../../../../../../etc/passwd", "/../../../../etc/passwd"} {
		c.epsv()
		c.expect("RETR "+p, 550)
		c.expect("SIZE "+p, 550)
	}
	c.expect("CWD ../../../../..", 250)
	if text := c.expect("PWD", 257); !strings.HasPrefix(text, `"/"`) {
		t.Fatalf("PWD: %q", text)
	}
	c.stor("../../../escaped", []byte("x"))
	if _, err := os.Stat(filepath.Join(dir, "escaped")); err != nil {
		t.Fatalf("the upload did not land in the base directory: %v", err)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(dir), "escaped")); err == nil {
		t.Fatal("the upload escaped the base directory")
	}
}

func TestNamesWithSpacesAndQuotes(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	fs := ts.driver.fs
	c := ts.login(t)
	ptRun(t, c, []ptStep{
		{"MKD my dir", 257, `"/my dir" directory created.`},
		{"CWD my dir", 250, ""},
		{"PWD", 257, `"/my dir" is the current directory.`},
		{`MKD say "hi"`, 257, `"/my dir/say ""hi""" directory created.`},
		{`CWD say "hi"`, 250, ""},
		{"PWD", 257, `"/my dir/say ""hi""" is the current directory.`},
		{"CWD /", 250, ""},
	})
	c.stor("name with  two spaces.txt", []byte("spaced"))
	if got := ptReadFile(t, fs, "/name with  two spaces.txt"); string(got) != "spaced" {
		t.Fatalf("stored %q", got)
	}
	ptRun(t, c, []ptStep{
		{"SIZE name with  two spaces.txt", 213, "6"},
		{"RNFR name with  two spaces.txt", 350, ""},
		{"RNTO my dir/renamed file", 250, ""},
	})
	if got := c.retr("my dir/renamed file"); string(got) != "spaced" {
		t.Fatalf("RETR: %q", got)
	}
}

func TestUTF8Names(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	fs := ts.driver.fs
	c := ts.login(t)
	ptRun(t, c, []ptStep{
		{"OPTS UTF8 ON", 200, ""},
		{"MKD répertoire", 257, `"/répertoire"`},
		{"CWD répertoire", 250, ""},
		{"PWD", 257, `"/répertoire"`},
	})
	c.stor("日本語 ファイル.txt", []byte("こんにちは"))
	if got := ptReadFile(t, fs, "/répertoire/日本語 ファイル.txt"); string(got) != "こんにちは" {
		t.Fatalf("stored %q", got)
	}
	c.expect("SIZE 日本語 ファイル.txt", 213)
	if got := c.list("NLST"); got != "日本語 ファイル.txt\r\n" {
		t.Fatalf("NLST: %q", got)
	}
	if got := c.list("MLSD"); !strings.HasSuffix(got, "; 日本語 ファイル.txt\r\n") {
		t.Fatalf("MLSD: %q", got)
	}
	if got := c.retr("/répertoire/日本語 ファイル.txt"); string(got) != "こんにちは" {
		t.Fatalf("RETR: %q", got)
	}
}
