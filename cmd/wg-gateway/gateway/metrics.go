package gateway

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the daemon's Prometheus metrics, on a registry of its own.
type metrics struct {
	registry     *prometheus.Registry
	peers        prometheus.Gauge
	appliedIndex prometheus.Gauge
	lastSync     prometheus.Gauge
	applySeconds prometheus.Histogram
	rejected     *prometheus.CounterVec
	// signatureRefused counts feed answers whose signature no trusted
	// CA's key verifies.
	signatureRefused prometheus.Counter
	vaultErrors      *prometheus.CounterVec
	expired          prometheus.Counter
	caExpiry         *prometheus.GaugeVec
	caRefused        prometheus.Counter

	firewallSeconds prometheus.Histogram
}

func newMetrics() *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		peers: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "wg_gateway_peers", Help: "Peers on the WireGuard interface that the daemon manages.",
		}),
		appliedIndex: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "wg_gateway_applied_index", Help: "The peer feed revision applied to the interface.",
		}),
		lastSync: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "wg_gateway_last_sync_timestamp_seconds", Help: "When the interface was last brought up to date with Vault.",
		}),
		applySeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "wg_gateway_apply_duration_seconds",
			Help:    "Time to verify a feed response and apply it to the interface.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 10),
		}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wg_gateway_rejected_certificates_total", Help: "Feed entries not applied, by reason.",
		}, []string{"reason"}),
		signatureRefused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "wg_gateway_feed_signature_refused_total",
			Help: "Feed answers whose signature no trusted CA's key verifies (their certificates were each verified on their own).",
		}),
		vaultErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wg_gateway_vault_errors_total", Help: "Failed calls to Vault, by operation.",
		}, []string{"op"}),
		expired: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "wg_gateway_expired_peers_total", Help: "Peers removed because their certificate expired.",
		}),
		caExpiry: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "wg_gateway_ca_expiry_seconds", Help: "When each trusted CA expires (its NotAfter, Unix time), by subject key id.",
		}, []string{"subject_key_id"}),
		caRefused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "wg_gateway_ca_refused_total", Help: "CAs of the mount's bundle not trusted: neither pinned nor cross-signed by a pinned CA.",
		}),
		firewallSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "wg_gateway_firewall_apply_duration_seconds",
			Help:    "Time to apply one phase of a change to the firewall's rules (adding before peers come, removing after they go).",
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 10),
		}),
	}
	m.registry.MustRegister(m.peers, m.appliedIndex, m.lastSync, m.applySeconds, m.rejected, m.signatureRefused, m.vaultErrors, m.expired,
		m.caExpiry, m.caRefused, m.firewallSeconds,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
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
