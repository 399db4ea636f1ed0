package s3fs

import "testing"

// TestPartSizes: from any allowed first size, 10,000 parts carry more than
// S3's 5 TiB object limit, and no part leaves S3's part bounds.
func TestPartSizes(t *testing.T) {
	for _, first := range []int64{MinPartSize, DefaultPartSize, 64 << 20, 1 << 30} {
		total := int64(0)
		for n := 1; n <= maxParts; n++ {
			s := partSizeFor(first, n)
			if s < MinPartSize || s > MaxPartSize {
				t.Fatalf("first %d: part %d is %d bytes", first, n, s)
			}
			total += s
		}
		if total < 5<<40 {
			t.Fatalf("first %d: 10,000 parts carry %d bytes, under 5 TiB", first, total)
		}
	}
}
