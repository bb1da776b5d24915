package gateway

import (
	"context"
	"encoding/json"
	"net/http"
	"time"
)

// A Status is what the daemon reports to the gateway's status in Vault
// after each apply that brought the interface up to date.
type Status struct {
	// Index is the feed revision applied.
	Index uint64
	// Peers is the number of peer keys the daemon put on the interface.
	Peers int
	// Rejected is the number of feed entries not applied.
	Rejected int
}

// The engine accepts a report_interval from 1 s to 24 h.
const (
	minReportInterval = time.Second
	maxReportInterval = 24 * time.Hour
)

// reportInterval is the report_interval the daemon sends, in seconds: the
// most time between two of its reports when idle, which is its resync
// interval (it reports at each full resync), within what the engine
// accepts. The engine lists an instance as stale after three of them
// without a report, so a daemon resyncing every 10 min does not show as
// stale after the default 3 × 5 min. A resync interval over 24 h is sent as
// 24 h: such a daemon shows as stale between its reports.
func reportInterval(resync time.Duration) int {
	d := min(max(resync, minReportInterval), maxReportInterval)
	return int((d + time.Second - 1) / time.Second)
}

// statusTimeout bounds one status report.
const statusTimeout = 10 * time.Second

// removalReportGap is the least time between two reports when the later
// one follows a removal: an operator waiting for a revocation to be
// enforced (revoke with confirm) hears of it within tens of milliseconds,
// while a burst of removals still costs Vault at most one status write
// per gap and instance. Reports of additions alone keep StatusInterval.
const removalReportGap = 25 * time.Millisecond

// A statusOffer is a status waiting to be reported; urgent when it, or one
// it replaced, follows a removal.
type statusOffer struct {
	Status
	urgent bool
}

// offerStatus hands the latest status to the reporter, replacing one it
// has not taken yet (keeping its urgency). It never blocks the apply loop,
// its only caller.
func (d *Daemon) offerStatus(st Status, urgent bool) {
	o := statusOffer{Status: st, urgent: urgent}
	select {
	case old := <-d.statusCh:
		o.urgent = o.urgent || old.urgent
	default:
	}
	d.statusCh <- o
}

// reportGap is the least time between the last report and the next one.
func (d *Daemon) reportGap(urgent bool) time.Duration {
	if urgent {
		return min(d.cfg.StatusInterval, removalReportGap)
	}
	return d.cfg.StatusInterval
}

// reportStatus writes the latest status to Vault: at once when the last
// report is older than the gap (removalReportGap after a removal,
// StatusInterval otherwise), else when the gap has passed, with whatever
// status is latest then. After a failure it backs off and sends the latest
// status again.
func (d *Daemon) reportStatus(ctx context.Context) {
	b := newBackoff()
	var last time.Time // of the last report sent; the limit is real time
	var pending *statusOffer
	take := func(o statusOffer) {
		if pending != nil {
			o.urgent = o.urgent || pending.urgent
		}
		pending = &o
	}
	for {
		if pending == nil {
			select {
			case <-ctx.Done():
				return
			case o := <-d.statusCh:
				take(o)
			}
		}
		if wait := time.Until(last.Add(d.reportGap(pending.urgent))); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case o := <-d.statusCh:
				t.Stop()
				take(o) // newer, perhaps urgent: judge the gap again
				continue
			case <-t.C:
			}
		}
		select { // the latest status goes
		case o := <-d.statusCh:
			take(o)
		default:
		}
		wctx, cancel := context.WithTimeout(ctx, statusTimeout)
		err := d.vault.Report(wctx, pending.Status)
		cancel()
		if err != nil {
			d.logger.Warn("reporting status failed", "error", err)
			d.metrics.vaultErrors.WithLabelValues("status").Inc()
			if !b.Sleep(ctx) {
				return
			}
			continue
		}
		b.Reset()
		last, pending = time.Now(), nil
	}
}

// setHealthy records whether the last apply succeeded, and when the
// interface was last brought up to date.
func (d *Daemon) setHealthy(ok bool) {
	d.health.Lock()
	defer d.health.Unlock()
	d.healthy = ok
	if ok {
		d.lastSync = d.now()
	}
}

// serveHealth answers 200 once the interface has been brought up to date
// and the last apply succeeded, 503 otherwise.
func (d *Daemon) serveHealth(w http.ResponseWriter, _ *http.Request) {
	d.health.Lock()
	ok, last := d.healthy, d.lastSync
	d.health.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if !ok {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"healthy": ok, "last_sync": last})
}
