package engine

import (
	"testing"

	"github.com/spf13/afero"
)

// STOR, APPE and a resumed STOR onto a directory get 553 and leave the
// directory as it was, whether the driver's open refuses the directory
// (the OS: EISDIR) or opens it (afero.MemMapFs).
func TestUploadOntoADirectoryIs553(t *testing.T) {
	t.Parallel()
	osFS, _ := ptOSFs(t)
	for name, fs := range map[string]afero.Fs{"os": osFS, "mem": afero.NewMemMapFs()} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ptMkdir(t, fs, "/dir")
			ptWriteFile(t, fs, "/dir/inside", []byte("kept"))
			c := newTestServer(t, withFs(fs)).login(t)
			for _, cmds := range [][]string{{"STOR dir"}, {"APPE dir"}, {"REST 3", "STOR dir"}, {"STOR /dir/"}} {
				data := c.epsv()
				for _, line := range cmds[:len(cmds)-1] {
					c.expect(line, 350)
				}
				c.expect(cmds[len(cmds)-1], 553)
				ptAssertDataClosed(t, data)
			}
			fi, err := fs.Stat("/dir")
			if err != nil || !fi.IsDir() {
				t.Fatalf("/dir after the uploads: %v, %v", fi, err)
			}
			ptAssertBytes(t, "/dir/inside", ptReadFile(t, fs, "/dir/inside"), []byte("kept"))
			// The REST offset was dropped with the refusal.
			c.stor("f", []byte("whole"))
			ptAssertBytes(t, "/f", ptReadFile(t, fs, "/f"), []byte("whole"))
		})
	}
}

// noStatHandleFs hands out upload handles (GetHandle) that cannot Stat
// themselves, and opens directories for writing (afero.MemMapFs does), as
// a driver of its own might.
type noStatHandleFs struct{ afero.Fs }

// noStatFile hides everything of a file but FileTransfer.
type noStatFile struct{ FileTransfer }

func (fs noStatHandleFs) GetHandle(name string, flags int, offset int64) (FileTransfer, error) {
	f, err := fs.OpenFile(name, flags, 0o644)
	if err != nil {
		return nil, err
	}
	return noStatFile{f}, nil
}

func TestUploadOntoADirectoryThroughHandlesWithoutStat(t *testing.T) {
	t.Parallel()
	mem := afero.NewMemMapFs()
	ptMkdir(t, mem, "/dir")
	c := newTestServer(t, withFs(noStatHandleFs{mem})).login(t)
	c.epsv()
	c.expect("STOR dir", 553)
	c.stor("f", []byte("ok"))
	ptAssertBytes(t, "/f", ptReadFile(t, mem, "/f"), []byte("ok"))
}
