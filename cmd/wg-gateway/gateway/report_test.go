package gateway

import (
	"slices"
	"testing"
	"time"

	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/backend/peerfeed"
)

// TestReportCarriesTheAppliedIndex: after each apply the daemon reports
// the feed revision it applied, the peers it holds and the entries it
// rejected.
func TestReportCarriesTheAppliedIndex(t *testing.T) {
	f := newDaemonFixture(t, false, Interface{})
	pools := []string{"10.77.0.0/24"}
	a, _ := f.entry(t, "10.77.0.2", time.Hour)
	b, _ := f.entry(t, "10.77.0.3", time.Hour)
	outside, _ := f.entry(t, "10.99.0.2", time.Hour)
	f.run(t)

	f.v.answer(&peerfeed.Response{Index: 7, Full: true, AddressPool: pools, Peers: []peerfeed.Peer{a, b, outside}}, nil)
	want := Status{Index: 7, Peers: 2, Rejected: 1}
	f.v.waitFor(t, "a report of index 7", func() bool { return slices.Contains(f.v.reports, want) })

	f.v.answer(&peerfeed.Response{Index: 8, AddressPool: pools, Removed: []peerfeed.Removal{removal(b)}}, nil)
	want = Status{Index: 8, Peers: 1, Rejected: 1}
	f.v.waitFor(t, "a report of index 8", func() bool { return slices.Contains(f.v.reports, want) })
}

// TestReportFollowsARemovalPromptly: with reports otherwise at most one
// per StatusInterval (an hour here), the report of an apply that removed a
// peer goes within removalReportGap of the last one, so that a revoke with
// confirm hears of it at once; an addition alone still waits its turn.
func TestReportFollowsARemovalPromptly(t *testing.T) {
	f := newDaemonFixture(t, false, Interface{})
	f.d.cfg.StatusInterval = time.Hour
	pools := []string{"10.77.0.0/24"}
	a, _ := f.entry(t, "10.77.0.2", time.Hour)
	b, _ := f.entry(t, "10.77.0.3", time.Hour)
	c, _ := f.entry(t, "10.77.0.4", time.Hour)
	f.run(t)

	f.v.answer(&peerfeed.Response{Index: 7, Full: true, AddressPool: pools, Peers: []peerfeed.Peer{a, b}}, nil)
	f.v.waitFor(t, "the first report, at once", func() bool { return slices.Contains(f.v.reports, Status{Index: 7, Peers: 2}) })

	start := time.Now()
	f.v.answer(&peerfeed.Response{Index: 8, AddressPool: pools, Removed: []peerfeed.Removal{removal(b)}}, nil)
	f.v.waitFor(t, "the removal's report", func() bool { return slices.Contains(f.v.reports, Status{Index: 8, Peers: 1}) })
	if took := time.Since(start); took > time.Second {
		t.Errorf("the removal was reported after %s, want within tens of ms", took)
	}

	// An addition waits for StatusInterval; a removal right after it takes
	// its place and goes at once: 9 is never reported, 10 is.
	f.v.answer(&peerfeed.Response{Index: 9, AddressPool: pools, Peers: []peerfeed.Peer{c}}, nil)
	f.v.answer(&peerfeed.Response{Index: 10, AddressPool: pools, Removed: []peerfeed.Removal{removal(a)}}, nil)
	f.v.waitFor(t, "the second removal's report", func() bool { return slices.Contains(f.v.reports, Status{Index: 10, Peers: 1}) })
	f.v.mu.Lock()
	defer f.v.mu.Unlock()
	if slices.Contains(f.v.reports, Status{Index: 9, Peers: 2}) {
		t.Errorf("an addition alone was reported before StatusInterval: %v", f.v.reports)
	}
}

// TestReportRetriesAfterAFailure: a report Vault did not take is counted
// and sent again.
func TestReportRetriesAfterAFailure(t *testing.T) {
	f := newDaemonFixture(t, false, Interface{})
	a, _ := f.entry(t, "10.77.0.2", time.Hour)
	f.v.reportErrs = 1
	f.run(t)
	f.v.answer(&peerfeed.Response{Index: 3, Full: true, AddressPool: []string{"10.77.0.0/24"}, Peers: []peerfeed.Peer{a}}, nil)
	want := Status{Index: 3, Peers: 1}
	f.v.waitFor(t, "the report sent again", func() bool { return slices.Contains(f.v.reports, want) })
	if n := vaultErrors(t, f.d, "status"); n != 1 {
		t.Errorf("wg_gateway_vault_errors_total{op=status} = %v, want 1", n)
	}
}

func TestReportInterval(t *testing.T) {
	for _, tc := range []struct {
		resync time.Duration
		want   int
	}{
		{5 * time.Minute, 300},
		{30 * time.Minute, 1800},
		{1500 * time.Millisecond, 2},
		{100 * time.Millisecond, 1},
		{24 * time.Hour, 86400},
		{48 * time.Hour, 86400},
	} {
		if got := reportInterval(tc.resync); got != tc.want {
			t.Errorf("reportInterval(%s) = %d, want %d", tc.resync, got, tc.want)
		}
	}
}
