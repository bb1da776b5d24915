package gateway

import "testing"

// TestMemoryPolicy: a small live heap gets the floor (GOGC=200 paces it),
// a large one half as much again, as GOGC=50 lets it grow.
func TestMemoryPolicy(t *testing.T) {
	const mib = 1 << 20
	p := memoryPolicy()
	for _, tt := range []struct {
		live, want uint64
	}{
		{0, 64 * mib},
		{10 * mib, 64 * mib},
		{42 * mib, 64 * mib},
		{44 * mib, 66 * mib},
		{200 * mib, 300 * mib},
	} {
		if got := p.Limit(tt.live, tt.live); got != tt.want {
			t.Errorf("limit for %d MiB live = %d MiB, want %d MiB", tt.live/mib, got/mib, tt.want/mib)
		}
	}
	if p.GCPercent != 200 {
		t.Errorf("GOGC %d, want 200", p.GCPercent)
	}
}
