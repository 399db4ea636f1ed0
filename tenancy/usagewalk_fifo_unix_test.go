//go:build unix

package tenancy

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestOrphanRemovalDoesNotWaitOnAFIFO: the usage walk lstat'ed a
// temporary upload file as regular, and a FIFO was put at its name before
// the walk opened it to take its lock (an outside process's swap). The
// open must not wait for a writer that never comes (the walk, and with it
// the storage's count that uploads wait for, would hang for good): the
// FIFO is left alone, at once.
func TestOrphanRemovalDoesNotWaitOnAFIFO(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	name := tempPrefix + "fifo"
	regular := filepath.Join(dir, "regular")
	if err := os.WriteFile(regular, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Lstat(regular) // what the walk saw at the name before the swap
	if err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, name)
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	root := testRoot(t, dir)
	done := make(chan bool, 1)
	go func() { done <- removeOrphan(root, name, fi) }()
	select {
	case removed := <-done:
		if removed {
			t.Fatal("the FIFO was taken for the orphan and removed")
		}
	case <-time.After(5 * time.Second):
		// Release the blocked open so the goroutine ends with the test.
		if w, err := os.OpenFile(fifo, os.O_WRONLY, 0); err == nil {
			_ = w.Close()
		}
		<-done
		t.Fatal("removeOrphan waited on a FIFO for a writer")
	}
	if _, err := os.Lstat(fifo); err != nil {
		t.Fatalf("the FIFO is gone: %v", err)
	}
}
