package test

import (
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	vault "github.com/hashicorp/vault/api"
	"github.com/stretchr/testify/require"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// haLedger records what the operations against the cluster were told.
type haLedger struct {
	mu        sync.Mutex
	live      map[string]*vault.Secret // issued (200) and not revoked, by key
	revoked   map[string]bool          // keys whose revocation returned success
	uncertain map[string]bool          // keys whose revocation failed: state unknown
	issues    int
	failures  int
}

// TestHAFailover runs issues and revocations through whichever node of a
// 3-node raft cluster answers while the leader is killed and later comes
// back, with wg-gateway following the cluster through a standby. Nothing
// that returned success is lost, and the gateway follows the new leader.
func TestHAFailover(t *testing.T) {
	requireNetTools(t)
	c := startVaultCluster(t, 3)
	leader := c.leader()
	setUpEngine(t, leader.vaultServer)
	leader.cli("write", "wg/roles/laptop", "gateway=gw1", "ttl=1h")
	leader.cli("auth", "enable", "approle")
	roleID, secretID := gatewayAppRole(t, leader.vaultServer, t.TempDir())

	// The gateway talks to a standby, which forwards to the active node.
	var standby *vaultNode
	for _, n := range c.nodes {
		if n != leader {
			standby = n
			break
		}
	}
	ns := newNetns(t)
	gwIf := newWG(t, ns, "10.77.0.1/16", 0)
	daemon := startGateway(t, standby.addr, "-gateway", "gw1", "-interface", gwIf.name,
		"-role-id-file", roleID, "-secret-id-file", secretID, "-poll-wait", "30s")
	daemon.waitHealthy()

	ledger := &haLedger{live: map[string]*vault.Secret{}, revoked: map[string]bool{}, uncertain: map[string]bool{}}
	stop := make(chan struct{})
	var workers sync.WaitGroup
	for w := range 2 {
		workers.Add(1)
		go func() {
			defer workers.Done()
			c.runOperations(t, w, ledger, stop)
		}()
	}

	// The workers issue and revoke through the cluster before the leader
	// goes.
	ledger.waitFor(t, 10, 1, 60*time.Second)
	killedAt := time.Now()
	leader.kill()
	newLeader := waitNewLeader(t, c, leader)
	electedAt := time.Now()
	t.Logf("leader killed; %s elected after %v", newLeader.addr, electedAt.Sub(killedAt))

	// The gateway follows the new leader: a certificate issued through it
	// reaches the interface.
	_, probe, _ := wgtypesGenerate()
	require.Eventually(t, func() bool {
		_, err := newLeader.root.Logical().Write("wg/issue/laptop", map[string]any{"public_key": probe.String()})
		return err == nil
	}, 30*time.Second, 50*time.Millisecond, "the new leader never issued")
	require.Eventually(t, func() bool { return gwIf.hasPeer(t, probe) }, 30*time.Second, 10*time.Millisecond)
	follow := time.Since(electedAt)
	t.Logf("the gateway applied a change made through the new leader %v after the election (goal ≤ 5s)", follow)
	require.Less(t, follow, 15*time.Second)

	// The workers go on through the new leader, then through the old one
	// back as a standby.
	issued, revoked := ledger.counts()
	ledger.waitFor(t, issued+5, revoked+1, 60*time.Second)
	leader.restart()
	require.Eventually(t, func() bool {
		l, err := leader.root.Sys().Leader()
		return err == nil && l.HAEnabled && !l.IsSelf && l.LeaderAddress == newLeader.addr
	}, 60*time.Second, 50*time.Millisecond, "the old leader did not come back as a standby of the new one")
	t.Logf("the old leader is back as a standby")
	issued, revoked = ledger.counts()
	ledger.waitFor(t, issued+5, revoked+1, 60*time.Second)
	close(stop)
	workers.Wait()

	ledger.mu.Lock()
	defer ledger.mu.Unlock()
	t.Logf("%d issues, %d revocations returned success, %d uncertain, %d failed operations",
		ledger.issues, len(ledger.revoked), len(ledger.uncertain), ledger.failures)
	require.Greater(t, ledger.issues, 20)

	// Every issuance that returned has its record; the gateway converges on
	// exactly what the ledger knows.
	active := c.leader()
	certs, err := active.root.Logical().List("wg/certs/")
	require.NoError(t, err)
	recorded := map[string]bool{}
	for _, k := range certs.Data["keys"].([]any) {
		recorded[k.(string)] = true
	}
	for _, sec := range ledger.live {
		require.True(t, recorded[sec.Data["serial_number"].(string)], "issued certificate lost")
	}
	require.Eventually(t, func() bool {
		on := map[wgtypes.Key]bool{}
		for _, p := range gwIf.peers(t) {
			on[p.PublicKey] = true
		}
		for k := range ledger.live {
			if !on[mustKey(t, k)] {
				return false
			}
		}
		for k := range ledger.revoked {
			if on[mustKey(t, k)] {
				return false
			}
		}
		return true
	}, 20*time.Second, 50*time.Millisecond, "the gateway did not converge on the live set")

	// No address is held by two live certificates.
	feed, err := active.root.Logical().Read("wg/gateways/gw1/peers")
	require.NoError(t, err)
	holder := map[string]string{}
	for _, p := range feed.Data["peers"].([]any) {
		peer := p.(map[string]any)
		for _, a := range peer["allowed_ips"].([]any) {
			require.NotContains(t, holder, a.(string), "address held twice")
			holder[a.(string)] = peer["serial_number"].(string)
		}
	}
}

// counts returns how many issues and revocations returned success so far.
func (l *haLedger) counts() (issued, revoked int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.issues, len(l.revoked)
}

// waitFor waits until at least issued issues and revoked revocations have
// returned success.
func (l *haLedger) waitFor(t *testing.T, issued, revoked int, limit time.Duration) {
	t.Helper()
	require.Eventually(t, func() bool {
		i, r := l.counts()
		return i >= issued && r >= revoked
	}, limit, 20*time.Millisecond, "the workers did not reach %d issues and %d revocations", issued, revoked)
}

// runOperations issues, and now and then revokes, through whichever node
// answers, recording in the ledger what returned success.
func (c *vaultCluster) runOperations(t *testing.T, worker int, ledger *haLedger, stop <-chan struct{}) {
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		default:
		}
		start := rand.IntN(len(c.nodes))
		if i%3 == 2 {
			ledger.mu.Lock()
			var key string
			var sec *vault.Secret
			for key, sec = range ledger.live {
				break
			}
			if sec != nil {
				delete(ledger.live, key)
			}
			ledger.mu.Unlock()
			if sec == nil {
				continue
			}
			err := c.anyNode(start, func(v *vault.Client) error { return v.Sys().Revoke(sec.LeaseID) })
			ledger.mu.Lock()
			if err == nil {
				ledger.revoked[key] = true
			} else {
				ledger.uncertain[key] = true
				ledger.failures++
			}
			ledger.mu.Unlock()
			continue
		}
		key := mustPub(t)
		var sec *vault.Secret
		err := c.anyNode(start, func(v *vault.Client) error {
			var err error
			sec, err = v.Logical().Write("wg/issue/laptop", map[string]any{"public_key": key})
			return err
		})
		ledger.mu.Lock()
		if err == nil {
			ledger.live[key] = sec
			ledger.issues++
		} else {
			ledger.failures++
		}
		ledger.mu.Unlock()
		if err != nil {
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// waitNewLeader waits for a node other than old to become active.
func waitNewLeader(t *testing.T, c *vaultCluster, old *vaultNode) *vaultNode {
	t.Helper()
	var n *vaultNode
	require.Eventually(t, func() bool {
		n = c.activeNode(old)
		return n != nil
	}, 60*time.Second, 20*time.Millisecond, "no new leader")
	return n
}

func mustKey(t *testing.T, s string) wgtypes.Key {
	t.Helper()
	k, err := wgtypes.ParseKey(s)
	require.NoError(t, err)
	return k
}
