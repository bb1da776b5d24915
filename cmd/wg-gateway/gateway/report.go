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

// offerStatus hands the latest status to the reporter, replacing one it
// has not sent yet. It never blocks the apply loop.
func (d *Daemon) offerStatus(st Status) {
	select {
	case <-d.statusCh:
	default:
	}
	d.statusCh <- st
}

// reportStatus writes the latest status to Vault, at most once per
// StatusInterval; after a failure it backs off and sends the latest
// status again.
func (d *Daemon) reportStatus(ctx context.Context) {
	b := newBackoff()
	for {
		var st Status
		select {
		case <-ctx.Done():
			return
		case st = <-d.statusCh:
		}
		wctx, cancel := context.WithTimeout(ctx, statusTimeout)
		err := d.vault.Report(wctx, st)
		cancel()
		if err != nil {
			d.logger.Warn("reporting status failed", "error", err)
			d.metrics.vaultErrors.WithLabelValues("status").Inc()
			d.offerStatusIfNone(st)
			if !b.Sleep(ctx) {
				return
			}
			continue
		}
		b.Reset()
		select {
		case <-ctx.Done():
			return
		case <-time.After(d.cfg.StatusInterval):
		}
	}
}

// offerStatusIfNone puts st back unless a newer status is waiting.
func (d *Daemon) offerStatusIfNone(st Status) {
	select {
	case d.statusCh <- st:
	default:
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
