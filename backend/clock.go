package backend

import (
	"sync/atomic"
	"time"
)

// A clock is the time of one mount: every part of it (the handlers, the
// registry, the cached system view) reads it, so a test that sets it sets
// the time of the whole mount.
type clock struct {
	now atomic.Pointer[func() time.Time]
}

// newClock returns a clock reading now.
func newClock(now func() time.Time) *clock {
	c := &clock{}
	c.set(now)
	return c
}

// Now is the clock's time.
func (c *clock) Now() time.Time {
	return (*c.now.Load())()
}

// set makes the clock read now from here on.
func (c *clock) set(now func() time.Time) {
	c.now.Store(&now)
}
