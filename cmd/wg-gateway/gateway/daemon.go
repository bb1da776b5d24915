package gateway

import (
	"context"
	"net/netip"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/cmd/internal/backoff"
)

// A Daemon keeps one WireGuard interface equal to the certified,
// unrevoked peers of one gateway. Its state is owned by Run's goroutine.
//
// The daemon's rooms: the run loop (this file), its set-up (setup.go),
// the poll of the feed (poll.go), the sync of the interface with the
// feed (sync.go), the trusted CAs (ca.go), the status report and health
// (report.go), and Vault behind the Vault interface (vault.go).
type Daemon struct {
	cfg     Config
	logger  hclog.Logger
	device  Device
	vault   Vault
	metrics *metrics
	now     func() time.Time

	// reloadCh holds a reload asked for by Reload until Run takes it.
	reloadCh chan struct{}

	verifier Verifier
	pools    []netip.Prefix // of the last feed answer: what certificates' addresses must lie in
	managed  []netip.Prefix // every pool ever seen: with -keep-unmanaged, the peers the daemon manages

	lastCAResync time.Time // when a certificate of an unknown CA last asked for a full resync
	peers        *peerState
	index        uint64
	rejected     map[string]string // serial → reason
	applied      Interface         // what the interface holds; nil: read it first
	// reading is set while a full read is applied: the state then mixes
	// two revisions and no status is offered.
	reading bool
	// firewall enforces the certificates' access policy; nil: the
	// daemon cannot, and refuses certificates that carry one.
	firewall Firewall

	// retry re-reads and re-applies the interface after a device error,
	// with retryBackoff between attempts; retryPending says it is armed.
	retry        *time.Timer
	retryBackoff backoff.Backoff
	retryPending bool

	health   sync.Mutex
	healthy  bool
	lastSync time.Time

	statusCh chan statusOffer
	// removalUnreported is set when the apply loop removed peers (or
	// was told of a removal) since its last status offer.
	removalUnreported bool

	pollMu     sync.Mutex
	wantFull   bool
	cancelPoll context.CancelFunc
}

// New returns a daemon configuring dev as cfg says, with the peers,
// the CAs and the login that v gets from Vault (NewVaultClient in the
// command; a fake in tests).
func New(cfg Config, v Vault, dev Device, logger hclog.Logger) (*Daemon, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	return &Daemon{
		cfg:          cfg,
		logger:       logger,
		device:       dev,
		vault:        v,
		metrics:      newMetrics(),
		now:          time.Now,
		reloadCh:     make(chan struct{}, 1),
		verifier:     Verifier{Gateway: cfg.Gateway, ruleSets: newRuleSets()},
		peers:        newPeerState(),
		rejected:     make(map[string]string),
		statusCh:     make(chan statusOffer, 1),
		retry:        retry,
		retryBackoff: newBackoff(),
	}, nil
}

// Run sets the interface up and logs in (setUp), then follows the feed
// and applies it until ctx is done. It returns nil when ctx ends after
// the set-up, the error of the set-up otherwise (ctx's own when it ended
// during the login).
func (d *Daemon) Run(ctx context.Context) error {
	if err := d.setUp(ctx); err != nil {
		return err
	}

	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	results := make(chan pollResult)
	for _, loop := range []func(context.Context){
		d.vault.KeepLoggedIn,
		func(ctx context.Context) { d.poll(ctx, results) },
		d.reportStatus,
		d.serveMetrics,
	} {
		wg.Add(1)
		go func() { defer wg.Done(); loop(ctx) }()
	}

	expiry := time.NewTimer(time.Hour)
	defer expiry.Stop()
	resync := time.NewTicker(d.cfg.ResyncInterval)
	defer resync.Stop()
	for {
		select {
		case <-ctx.Done():
			d.logger.Info("stopping")
			return nil
		case r := <-results:
			switch {
			case r.err != nil:
				d.metrics.vaultErrors.WithLabelValues("peers").Inc()
				continue
			case r.full != nil:
				start := d.now()
				if d.handleFull(ctx, r.full) {
					d.metrics.applySeconds.Observe(d.now().Sub(start).Seconds())
				}
			default:
				d.handle(ctx, r.resp)
			}
		case <-expiry.C:
			d.apply(scopeTouched, nil)
		case <-d.retry.C:
			d.retryDevice()
		case <-resync.C:
			d.requestFull()
		case <-d.reloadCh:
			d.reload()
		}
		d.schedule(expiry)
	}
}

// Reload asks Run to re-read its files (private key, CA file,
// credentials) and resync, as on SIGHUP. It never blocks: reloads asked
// for before Run gets to them are one reload.
func (d *Daemon) Reload() {
	select {
	case d.reloadCh <- struct{}{}:
	default:
	}
}

// reload re-reads the files (private key, CA file, credentials) and asks
// for the full set, which is verified again with the CAs read.
func (d *Daemon) reload() {
	d.logger.Info("reloading files")
	if err := d.configureInterface(); err != nil {
		d.logger.Error("reload private key", "error", err)
	}
	if d.cfg.CAFile != "" {
		if err := d.readCAFile(); err != nil {
			d.logger.Error("reload CA file; keeping the CAs we trust", "error", err)
		}
	}
	d.vault.ForgetCredentials()
	d.requestFull()
}

// schedule sets the expiry timer to the earliest NotAfter of a peer.
func (d *Daemon) schedule(t *time.Timer) {
	wait := time.Hour
	if next := d.peers.nextExpiry(); !next.IsZero() {
		// NotAfter is inclusive: the peer goes just after it.
		wait = max(next.Sub(d.now())+time.Millisecond, 0)
	}
	t.Reset(wait)
}
