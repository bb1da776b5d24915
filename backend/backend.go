package backend

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/helper/locksutil"
	"github.com/hashicorp/vault/sdk/logical"
)

const backendHelp = `
The WireGuard secrets engine issues short-lived certificates that bind a
device's WireGuard public key to its Vault identity, assigns it a tunnel
address from a gateway's pool, and serves each gateway the set of peers it
should accept. Revoking a certificate's lease removes the peer.
`

// operationPrefixWireGuard begins the name of every operation in Vault's
// OpenAPI document (sys/internal/specs/openapi): wireguard-issue-certificate,
// wireguard-read-gateway-peers, ….
const operationPrefixWireGuard = "wireguard"

// backend is one mount of the engine. A multiplexed plugin process serves
// several mounts, so everything a mount knows lives here.
type backend struct {
	*framework.Backend

	// locks serialise the read-modify-write of one record (by storage key).
	locks []*locksutil.LockEntry
	// identityLocks serialise one identity's issues under a role with
	// max_active_per_identity. They are apart from locks, which are taken
	// while one of them is held.
	identityLocks []*locksutil.LockEntry
	// config caches the CA, gateways and roles.
	config *configCache
	// reg is the in-memory registry of certificates, pools and feeds.
	reg *registry
	// revocations persists revocations that arrive together with one
	// storage write.
	revocations *revocationBatcher
	// unfolded holds the records of journaled revocations until folded.
	unfolded unfoldedRecords
	// clock is the mount's time, which the registry and the cached system
	// view read too; tests set it.
	clock *clock
	// statusWaiters wake confirms waiting for gateway status reports.
	statusWaiters statusWaiters

	// blocksMu serialises writes of blocks. It is not one of locks: a
	// block's write takes the locks of the serials it revokes.
	blocksMu sync.Mutex

	// tidyMu serialises the writers of packs: tidy, the pack fold and
	// the journal's fold.
	tidyMu sync.Mutex

	// packAfter is how many records committed since the last pack fold
	// start one in the background (packFoldAfter; tests lower it).
	packAfter int64
	// packingOff is set by a tidy with unpack=true, for a downgrade: the
	// mount packs no more records.
	packingOff atomic.Bool
	// packing is true while a pack fold runs in the background
	// (maybeFoldPacks).
	packing atomic.Bool
	// background is the context of the mount's work in the background;
	// clean cancels it.
	background       context.Context
	cancelBackground context.CancelFunc
}

// NewFactory returns the factory of backends reporting version (with its
// leading "v") as their running version.
func NewFactory(version string, opts ...Option) logical.Factory {
	return func(ctx context.Context, conf *logical.BackendConfig) (logical.Backend, error) {
		b := newBackend(version)
		for _, o := range opts {
			o(b)
		}
		cached := *conf
		cached.System = newCachedSystemView(conf.System, b.clock.Now)
		if err := b.Setup(ctx, &cached); err != nil {
			return nil, err
		}
		return b, nil
	}
}

// An Option sets up the backends a factory makes.
type Option func(*backend)

// WithLoadHold has a mount call hold as it starts loading its certificate
// records and the function hold returns once it is done: the plugin's
// memory limit (internal/memlimit) leaves a heap that grows for good alone.
func WithLoadHold(hold func() (release func())) Option {
	return func(b *backend) { b.reg.loadHold = hold }
}

func newBackend(version string) *backend {
	b := &backend{
		locks:         locksutil.CreateLocks(),
		identityLocks: locksutil.CreateLocks(),
		config:        newConfigCache(),
		revocations:   newRevocationBatcher(maxRevocationBatch),
		clock:         newClock(time.Now),
		packAfter:     packFoldAfter,
	}
	b.background, b.cancelBackground = context.WithCancel(context.Background())
	b.reg = newRegistry(b.clock.Now)
	b.Backend = &framework.Backend{
		Help:        strings.TrimSpace(backendHelp),
		BackendType: logical.TypeLogical,
		PathsSpecial: &logical.Paths{
			Unauthenticated: []string{"ca", "ca/pem", "crl", "crl/pem"},
			SealWrapStorage: []string{caStorageKey},
		},
		Paths: framework.PathAppend(
			pathConfigCAPrevious(b),
			pathConfigCA(b),
			pathCA(b),
			pathCRL(b),
			pathGatewayPeers(b),
			pathGatewayStatus(b),
			pathGateways(b),
			pathRoles(b),
			pathIssue(b),
			pathCerts(b),
			pathRevoke(b),
			pathBlocks(b),
			pathTidy(b),
		),
		Secrets:        []*framework.Secret{secretCertificate(b)},
		InitializeFunc: b.initialize,
		PeriodicFunc:   b.periodic,
		Invalidate:     b.invalidate,
		Clean:          b.clean,
		RunningVersion: version,
	}
	return b
}

// initialize starts loading the registry in the background, so that the
// mount comes up at once and the first request finds it warm.
func (b *backend) initialize(_ context.Context, req *logical.InitializationRequest) error {
	b.reg.startLoad(req.Storage, b.Logger())
	return nil
}

// periodic runs where this node may write, about once a minute: tidy when
// it is due, else the folds that begin every tidy (fold).
func (b *backend) periodic(ctx context.Context, req *logical.Request) error {
	if !b.WriteSafeReplicationState() {
		return nil
	}
	due, err := tidyDue(ctx, req.Storage, b.now())
	if err != nil {
		return err
	}
	if due {
		_, err := b.tidy(ctx, req.Storage, defaultSafetyBuffer)
		return err
	}
	b.tidyMu.Lock()
	defer b.tidyMu.Unlock()
	return b.fold(ctx, req.Storage)
}

// fold packs the records only loose and writes the revocation journal into
// the packs and records. The pack fold goes first: it packs the records a
// mass revocation journaled from memory, revoked, and the journal's fold
// then finds them revoked in their packs. The caller holds tidyMu.
func (b *backend) fold(ctx context.Context, s logical.Storage) error {
	if _, err := b.foldPacksLogged(ctx, s); err != nil {
		return err
	}
	return b.foldJournalLogged(ctx, s)
}

// invalidate drops cached state that another node changed.
func (b *backend) invalidate(_ context.Context, key string) {
	switch {
	case key == caStorageKey:
		b.config.forgetCA()
	case strings.HasPrefix(key, gatewayStoragePrefix):
		b.config.forgetGateway(strings.TrimPrefix(key, gatewayStoragePrefix))
	case strings.HasPrefix(key, roleStoragePrefix):
		b.config.forgetRole(strings.TrimPrefix(key, roleStoragePrefix))
	case strings.HasPrefix(key, certStoragePrefix), strings.HasPrefix(key, certPackStoragePrefix),
		strings.HasPrefix(key, blockStoragePrefix), strings.HasPrefix(key, revocationStoragePrefix):
		b.reg.reset()
	}
}

// now is the mount's time.
func (b *backend) now() time.Time {
	return b.clock.Now()
}

func (b *backend) clean(context.Context) {
	b.cancelBackground()
	b.reg.stop()
}
