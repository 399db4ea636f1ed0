package bench

import "testing"

// TestEnvSize: FTPGATE_BENCH_SIZE and friends take conf.Size's grammar
// (K = 1024) and must be above 0.
func TestEnvSize(t *testing.T) {
	const name = "FTPGATE_TEST_ENV_SIZE"
	for in, want := range map[string]int64{"": 7, "536870912": 512 << 20, "512MiB": 512 << 20, "64M": 64 << 20, "64k": 64 << 10, "1.5G": 3 << 29} {
		t.Setenv(name, in)
		if got, err := EnvSize(name, 7); err != nil || got != want {
			t.Errorf("%q: %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"0", "-1", "lots", "64 M", "9999999T"} {
		t.Setenv(name, in)
		if got, err := EnvSize(name, 7); err == nil {
			t.Errorf("%q: accepted as %d", in, got)
		}
	}
}
