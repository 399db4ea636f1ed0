package bench

import (
	"testing"

	"github.com/ftpgate/ftpgate/bench/loadgen"
)

// BenchmarkSmallFilesFresh is BenchmarkSmallFiles with every upload to a
// new file name (loadgen.Workload.FreshNames). BenchmarkSmallFiles
// overwrites one name per client, as the peers table does, and on ext4
// about half of its server CPU is the filesystem freeing the old blocks
// and starting writeback at close; this one measures the server without
// that. It leaves b.N/2 files of 64 KiB in the temp dir until it ends.
func BenchmarkSmallFilesFresh(b *testing.B) {
	h := startHelper(b, OSFS, b.TempDir())
	payload := loadgen.Payload(64<<10, 5)
	c := concurrency(b)
	b.ResetTimer()
	cpu0 := h.cpu(b)
	res, err := loadgen.SmallFiles(h.config(), loadgen.Workload{Workers: c, Ops: int64(b.N), FreshNames: true}, "", payload)
	cpu := h.cpu(b) - cpu0
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(payload)))
	reportOps(b, res, cpu, "files", res.Bytes)
}
