package metrics

import "testing"

func TestBatchBuckets(t *testing.T) {
	tests := []struct {
		n    int
		want float64 // the smallest bound counting it; 0: +Inf; -1: not recorded
	}{
		{-1, -1}, {0, -1}, {1, 1}, {2, 2}, {3, 4}, {4, 4}, {5, 8}, {64, 64}, {65, 128}, {128, 128}, {256, 256}, {257, 0}, {100000, 0},
	}
	for _, tt := range tests {
		var s BatchSizes
		s.Observe(UDPWrite, tt.n)
		count, sum, buckets := s.snapshot(UDPWrite)
		if tt.want < 0 {
			if count != 0 || sum != 0 {
				t.Errorf("Observe(%d): got count %d, sum %d; want nothing recorded", tt.n, count, sum)
			}
			continue
		}
		if count != 1 || sum != uint64(tt.n) {
			t.Errorf("Observe(%d): got count %d, sum %d; want 1, %d", tt.n, count, sum, tt.n)
		}
		for _, le := range batchBounds {
			want := uint64(0)
			if tt.want != 0 && le >= tt.want {
				want = 1
			}
			if buckets[le] != want {
				t.Errorf("Observe(%d): bucket le=%v got %d; want %d", tt.n, le, buckets[le], want)
			}
		}
		for _, d := range []Direction{TapRead, UDPRead} {
			if c, _, _ := s.snapshot(d); c != 0 {
				t.Errorf("Observe(%d) on udp_write: %s counted %d", tt.n, d, c)
			}
		}
	}
}

func TestDirectionStrings(t *testing.T) {
	for d, want := range map[Direction]string{TapRead: "tap_read", UDPRead: "udp_read", UDPWrite: "udp_write", 9: "unknown"} {
		if got := d.String(); got != want {
			t.Errorf("Direction(%d).String(): got %q; want %q", d, got, want)
		}
	}
}

func TestBatchAllocs(t *testing.T) {
	var s BatchSizes
	if n := testing.AllocsPerRun(100, func() { s.Observe(TapRead, 7); s.Observe(UDPWrite, 300) }); n != 0 {
		t.Fatalf("allocs: got %v; want 0", n)
	}
}
