package backend

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestOneClock: the mount's clock, set in one place, is the time of every
// part of the mount: the handlers, the cached system view (whose answers
// age by it) and the registry (whose revisions start at it).
func TestOneClock(t *testing.T) {
	env := newTestEnv(t)
	start := time.Now().Add(48 * time.Hour).Truncate(time.Microsecond)
	env.b.clock.set(func() time.Time { return start })

	sys := env.b.System()
	require.Equal(t, 720*time.Hour, sys.MaxLeaseTTL())
	env.sys.MaxLeaseTTLVal = 10 * time.Hour
	require.Equal(t, 720*time.Hour, sys.MaxLeaseTTL(), "answered from the cache")
	env.b.clock.set(func() time.Time { return start.Add(maxLeaseTTLTTL) })
	require.Equal(t, 10*time.Hour, sys.MaxLeaseTTL(), "the cached answer aged by the mount's clock")

	// Another node wrote a certificate: the registry loads again, and its
	// revisions start at the mount's clock in microseconds.
	env.b.invalidate(context.Background(), certStoragePrefix+"01")
	require.Equal(t, uint64(start.Add(maxLeaseTTLTTL).UnixMicro()), env.peers("0").Index)
}
