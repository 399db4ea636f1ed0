package tenancy

import (
	"bytes"
	"fmt"
	"path/filepath"
	"testing"
)

// daveTOML is a user of acme (append to acmeTOML) with every right over
// the tenant's whole storage, sharing /incoming with bob, who may upload
// there but not overwrite.
func daveTOML(t testing.TB) string {
	return fmt.Sprintf(`
[[users]]
name = "dave"
password = %q
`, testHash(t, "acme-dave"))
}

// TestAttackUploadWithoutOverwriteRightRacesANewName: bob may upload new
// files to /incoming but not overwrite. He starts STOR of a name no file
// has yet (so only the upload right is asked) and holds the upload open;
// dave then stores his own file under that name. When bob's upload ends,
// its commit must not replace dave's file, since that needs the
// overwrite right bob lacks: bob gets a refusal, dave's bytes stay,
// nothing temporary is left and the counts equal the disk. Without the
// check, bob's commit replaced (renamed or exchanged over) dave's file
// with 226. A user who has the overwrite right still wins such a race
// (the last complete upload), and bob's plain STOR onto an existing name
// is refused at once.
func TestAttackUploadWithoutOverwriteRightRacesANewName(t *testing.T) {
	t.Parallel()
	f := newFixture(t, map[string]string{
		"server.toml":       serverTOML("default = \"acme\"\n"),
		"tenants/acme.toml": acmeTOML(t, "[quota]\nbytes = 10000000\n"+daveTOML(t)),
	})
	incoming := filepath.Join(f.dir, "data", "acme", "incoming")
	dave := f.mustLogin("dave", "acme-dave")
	if err := dave.MakeDir("/incoming"); err != nil {
		t.Fatal(err)
	}
	bobsBytes, davesBytes := pattern(60_000, 1), pattern(20_000, 2)

	up := f.startUpload(f.rawLoginAs("bob", "acme-bob"), "STOR", "/incoming/report.bin")
	up.send(bobsBytes[:30_000])
	waitFor(t, "bob's first bytes", func() bool { return uploadLanded(t, filepath.Join(incoming, "report.bin"), 30_000) })
	if err := dave.Stor("/incoming/report.bin", bytes.NewReader(davesBytes)); err != nil {
		t.Fatalf("dave's STOR: %v", err)
	}
	up.send(bobsBytes[30_000:])
	if code, msg := up.finish(); code == 226 || code < 400 {
		t.Fatalf("bob's upload over dave's file: %d %s; want a refusal", code, msg)
	}
	assertFile(t, "dave's file", filepath.Join(incoming, "report.bin"), davesBytes)
	if left := tempFiles(t, incoming); len(left) != 0 {
		t.Fatalf("temporary files left: %v", left)
	}
	used, files := f.usageOf()
	if db, de := diskBytes(t, f), diskEntries(t, f); used != db || files != de {
		t.Fatalf("counted %d bytes, %d entries; on disk %d, %d", used, files, db, de)
	}

	// bob's STOR onto the existing name: refused at once.
	bob := f.mustLogin("bob", "acme-bob")
	if err := bob.Stor("/incoming/report.bin", bytes.NewReader(bobsBytes)); replyCode(err) != 550 {
		t.Fatalf("bob's STOR over an existing file: %v; want 550", err)
	}
	// The same race with dave's rights: the last complete upload wins.
	up = f.startUpload(f.rawLoginAs("dave", "acme-dave"), "STOR", "/incoming/other.bin")
	up.send(bobsBytes[:1000])
	waitFor(t, "dave's first bytes", func() bool { return uploadLanded(t, filepath.Join(incoming, "other.bin"), 1000) })
	if err := bob.Stor("/incoming/other.bin", bytes.NewReader(davesBytes)); err != nil {
		t.Fatalf("bob's STOR of a new name: %v", err)
	}
	if code, msg := up.finish(); code != 226 {
		t.Fatalf("dave's upload over bob's new file: %d %s; want 226", code, msg)
	}
	assertFile(t, "other.bin", filepath.Join(incoming, "other.bin"), bobsBytes[:1000])
}

// TestAttackUploadWithoutOverwriteRightRacesANewNameS3: the same race on
// object storage, where the upload appears whole at its Close
// (finishWhole): bob's upload of a name that was free when it began is
// aborted once dave's object holds the name, which keeps dave's bytes.
func TestAttackUploadWithoutOverwriteRightRacesANewNameS3(t *testing.T) {
	t.Parallel()
	s := newFakeS3(t)
	f := newS3Fixture(t, s, "", daveTOML(t))
	dave := f.mustLogin("dave", "acme-dave")
	if err := dave.MakeDir("/incoming"); err != nil {
		t.Fatal(err)
	}
	davesBytes := "dave's report"
	up := f.startUpload(f.rawLoginAs("bob", "bob-pw"), "STOR", "/incoming/report.bin")
	up.send(pattern(30_000, 1))
	if err := dave.Stor("/incoming/report.bin", bytes.NewReader([]byte(davesBytes))); err != nil {
		t.Fatalf("dave's STOR: %v", err)
	}
	up.send(pattern(30_000, 2))
	if code, msg := up.finish(); code == 226 || code < 400 {
		t.Fatalf("bob's upload over dave's object: %d %s; want a refusal", code, msg)
	}
	if got, ok := s.get(t, "tenants/acme/incoming/report.bin"); !ok || got != davesBytes {
		t.Fatalf("dave's object holds %d bytes (there: %v); want his %d", len(got), ok, len(davesBytes))
	}
}
