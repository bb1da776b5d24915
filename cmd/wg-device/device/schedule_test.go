package device

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestRotateAt(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name   string
		ttl    time.Duration
		jitter float64
		want   time.Duration
	}{
		{"no jitter: two thirds", 30 * time.Second, 0, 20 * time.Second},
		{"most jitter: a tenth earlier", 30 * time.Second, 1, 17 * time.Second},
		{"half jitter", 8 * time.Hour, 0.5, 8*time.Hour*2/3 - 24*time.Minute},
		{"jitter out of range is clamped", 30 * time.Second, 7, 17 * time.Second},
		{"negative jitter is clamped", 30 * time.Second, -1, 20 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, t0.Add(tc.want), RotateAt(t0, tc.ttl, tc.jitter))
		})
	}
}

func TestDeadline(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	grant := func(ttl time.Duration, tokenEnd time.Time) *Grant {
		return &Grant{Lease: &Lease{Received: t0, TTL: ttl}, TokenEnd: tokenEnd}
	}
	for _, tc := range []struct {
		name string
		g    *Grant
		want time.Time
	}{
		{"token outlives the certificate", grant(30*time.Second, t0.Add(90*time.Second)), t0.Add(20 * time.Second)},
		{"token without expiry", grant(30*time.Second, time.Time{}), t0.Add(20 * time.Second)},
		{"token ends first: two thirds of its life", grant(time.Hour, t0.Add(30*time.Second)), t0.Add(20 * time.Second)},
		{"token ends just after two thirds of the certificate", grant(30*time.Second, t0.Add(29*time.Second)), t0.Add(19333 * time.Millisecond)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, Deadline(tc.g, 0))
		})
	}
}
