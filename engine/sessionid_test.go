package engine

import "testing"

// TestSessionIDsUniqueAndUnordered: ids from one server never repeat
// nor are 0 (a sample of 2^16; the Feistel network is a bijection by
// construction), and consecutive ones are not neighbours.
func TestSessionIDsUniqueAndUnordered(t *testing.T) {
	t.Parallel()
	var g sessionIDs
	seen := make(map[uint32]bool, 1<<16)
	neighbours := 0
	var prev uint32
	for i := range 1 << 16 {
		id := g.next()
		if id == 0 || seen[id] {
			t.Fatalf("id %d (the %dth) is 0 or repeats", id, i)
		}
		seen[id] = true
		if i > 0 && (id == prev+1 || id+1 == prev) {
			neighbours++
		}
		prev = id
	}
	if neighbours > 4 {
		t.Fatalf("%d of 2^16 consecutive ids are neighbours: a counter shows through", neighbours)
	}
}
