package bench

import "testing"

// BenchmarkSmallFilesFresh is BenchmarkSmallFiles with every upload to a
// new file name (loadgen.Workload.FreshNames). BenchmarkSmallFiles
// overwrites one name per client, as the peers table does, and on ext4
// about half of its server CPU is the filesystem freeing the old blocks
// and starting writeback at close; this one measures the server without
// that. It leaves b.N/2 files of 64 KiB in the temp dir until it ends.
func BenchmarkSmallFilesFresh(b *testing.B) { benchSmallFiles(b, true) }
