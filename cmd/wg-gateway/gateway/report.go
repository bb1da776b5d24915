package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// offerStatus hands the latest status to the reporter, replacing one it
// has not sent yet. It never blocks the apply loop.
func (d *Daemon) offerStatus(st status) {
	select {
	case <-d.statusCh:
	default:
	}
	d.statusCh <- st
}

// reportStatus writes the latest status to Vault, at most once per
// StatusInterval.
func (d *Daemon) reportStatus(ctx context.Context) {
	b := newBackoff()
	for {
		var st status
		select {
		case <-ctx.Done():
			return
		case st = <-d.statusCh:
		}
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := d.vault.report(wctx, st)
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
func (d *Daemon) offerStatusIfNone(st status) {
	select {
	case d.statusCh <- st:
	default:
	}
}

// serveMetrics serves /metrics and /healthz until ctx is done.
func (d *Daemon) serveMetrics(ctx context.Context) {
	if d.cfg.MetricsAddr == "" {
		return
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(d.metrics.registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", d.serveHealth)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	l, err := net.Listen("tcp", d.cfg.MetricsAddr)
	if err != nil {
		d.logger.Error("metrics listener", "address", d.cfg.MetricsAddr, "error", err)
		return
	}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
		d.logger.Error("metrics server", "error", err)
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
