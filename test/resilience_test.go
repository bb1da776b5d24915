package test

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	vault "github.com/hashicorp/vault/api"
	"github.com/stretchr/testify/require"

	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/test/internal/harness"
)

// issueMany issues n certificates on role with distinct keys, 16 at a time,
// and returns the answers.
func issueMany(t *testing.T, c *vault.Client, role string, n int) []*vault.Secret {
	t.Helper()
	out := make([]*vault.Secret, n)
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			sec, err := c.Logical().Write("wg/issue/"+role, map[string]any{"public_key": mustPub(t)})
			if err != nil {
				t.Errorf("issue %d: %v", i, err)
				return
			}
			out[i] = sec
		}()
	}
	wg.Wait()
	require.False(t, t.Failed())
	return out
}

// requireAllRevoked checks on node n that every certificate of issued
// reads revoked (cert/) and is listed on the CRL.
func requireAllRevoked(t *testing.T, n *vaultNode, issued []*vault.Secret) {
	t.Helper()
	crl := openssl(t, "crl", "-inform", "DER", "-noout", "-text", "-in", writeTemp(t, httpGet(t, n.addr+"/v1/wg/crl")))
	listed := map[string]bool{}
	for _, s := range crlSerials(t, crl) {
		listed[s] = true
	}
	for _, sec := range issued {
		serial := sec.Data["serial_number"].(string)
		requireRevoked(t, n.vaultServer, serial)
		require.True(t, listed[normalizeHex(serial)], "serial %s on the CRL", serial)
	}
}

// TestRevocationSurvivesVaultCrash kills Vault (file storage) while it is
// revoking a few hundred leases in the background, starts it again, and
// checks that every lease still ends revoked: certificate marked, serial on
// the CRL, peer out of the feed, address back in the pool, no lease left;
// also once the revocation journal is written into the records.
func TestRevocationSurvivesVaultCrash(t *testing.T) {
	// The raw storage endpoint shows the mount's revocation journal.
	n := &vaultNode{wrapVault(t, harness.StartVault(t, harness.VaultOptions{Storage: harness.File, Config: "raw_storage_endpoint = true\n"}))}
	setUpEngine(t, n.vaultServer)
	n.cli("write", "wg/roles/laptop", "gateway=gw1", "ttl=1h")
	const count = 300
	issued := issueMany(t, n.root, "laptop", count)

	// Queue the revocations (the CLI's default), and crash while they
	// run, once some were stored together in the revocation journal.
	n.cli("lease", "revoke", "-prefix", "wg/issue/laptop")
	require.Eventually(t, func() bool { return len(journalEntries(t, n)) > 0 },
		10*time.Second, 5*time.Millisecond, "revocations stored together")
	n.kill()
	n.restart()
	if left, err := n.root.Logical().List("sys/leases/lookup/wg/issue/laptop/"); err == nil && left != nil {
		t.Logf("%d of %d leases were not yet revoked when Vault crashed", len(left.Data["keys"].([]any)), count)
	}

	require.Eventually(t, func() bool {
		leases, err := n.root.Logical().List("sys/leases/lookup/wg/issue/laptop/")
		return err == nil && (leases == nil || len(leases.Data["keys"].([]any)) == 0)
	}, 60*time.Second, 200*time.Millisecond, "leases left after the restart")

	requireAllRevoked(t, n, issued)
	feed, err := n.root.Logical().Read("wg/gateways/gw1/peers")
	require.NoError(t, err)
	require.Empty(t, feed.Data["peers"])
	again, err := n.root.Logical().Write("wg/issue/laptop", map[string]any{"public_key": mustPub(t)})
	require.NoError(t, err)
	require.Equal(t, []any{"10.77.0.2/32", "fd77::2/128"}, again.Data["addresses"], "the addresses came back to the pool")

	// Tidy writes the journal into the records (unless Vault's periodic
	// call did) and deletes its entries; the certificates stay revoked
	// across another crash.
	n.cli("write", "-f", "wg/tidy")
	require.Empty(t, journalEntries(t, n), "the journal after tidy")
	n.kill()
	n.restart()
	for _, sec := range issued {
		requireRevoked(t, n.vaultServer, sec.Data["serial_number"].(string))
	}
}

// TestIssuanceSurvivesVaultCrash: every issuance that returned before a
// crash is there after it, with its address still taken.
func TestIssuanceSurvivesVaultCrash(t *testing.T) {
	n := startFileVault(t)
	setUpEngine(t, n.vaultServer)
	n.cli("write", "wg/roles/laptop", "gateway=gw1", "ttl=1h")
	issued := issueMany(t, n.root, "laptop", 100)
	n.kill()
	n.restart()

	feed, err := n.root.Logical().Read("wg/gateways/gw1/peers")
	require.NoError(t, err)
	require.Len(t, feed.Data["peers"], len(issued))
	taken := map[string]bool{}
	for _, sec := range issued {
		rec, err := n.root.Logical().Read("wg/cert/" + sec.Data["serial_number"].(string))
		require.NoError(t, err)
		require.Equal(t, false, rec.Data["revoked"])
		for _, a := range sec.Data["addresses"].([]any) {
			taken[a.(string)] = true
		}
	}
	more := issueMany(t, n.root, "laptop", 20)
	for _, sec := range more {
		for _, a := range sec.Data["addresses"].([]any) {
			require.False(t, taken[a.(string)], "address %s handed out twice across a restart", a)
		}
	}
}

// TestConcurrentIssuesExhaustPool sends 2,500 concurrent issues against a
// /21 pool: exactly as many succeed as the pool has free addresses, every
// other one is refused as exhausted, and no address is handed out twice.
func TestConcurrentIssuesExhaustPool(t *testing.T) {
	s := startVault(t)
	setUpEngine(t, s)
	s.cli("write", "wg/gateways/small", "endpoint=198.51.100.9:51820", "public_key="+mustPub(t),
		"address=10.60.0.1", "address_pool=10.60.0.0/21")
	s.cli("write", "wg/roles/small", "gateway=small", "ttl=1h")
	const requests = 2500
	const free = 2048 - 3 // less the network, broadcast and gateway addresses

	var (
		mu        sync.Mutex
		ok        int
		exhausted int
		other     []string
		owner     = map[string]string{}
		dupes     []string
		wg        sync.WaitGroup
		start     = make(chan struct{})
	)
	for range requests {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			sec, err := s.root.Logical().Write("wg/issue/small", map[string]any{"public_key": mustPub(t)})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
				for _, a := range sec.Data["addresses"].([]any) {
					if prev, taken := owner[a.(string)]; taken {
						dupes = append(dupes, fmt.Sprintf("%s: %s and %s", a, prev, sec.Data["serial_number"]))
					}
					owner[a.(string)] = sec.Data["serial_number"].(string)
				}
			case strings.Contains(err.Error(), `address_pool: address pool exhausted for gateway "small"`):
				exhausted++
			default:
				other = append(other, err.Error())
			}
		}()
	}
	close(start)
	wg.Wait()
	require.Empty(t, other, "unexpected errors")
	require.Empty(t, dupes)
	require.Equal(t, free, ok)
	require.Equal(t, requests-free, exhausted)

	// No orphaned record: one per success, and the feed lists exactly them.
	certs, err := s.root.Logical().List("wg/certs/")
	require.NoError(t, err)
	require.Len(t, certs.Data["keys"], free)
	feed, err := s.root.Logical().Read("wg/gateways/small/peers")
	require.NoError(t, err)
	require.Len(t, feed.Data["peers"], free)
}

// writeTemp writes data to a file in the test's temporary directory.
func writeTemp(t *testing.T, data []byte) string {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "data-*")
	require.NoError(t, err)
	defer f.Close()
	_, err = f.Write(data)
	require.NoError(t, err)
	return f.Name()
}

// TestMassRevocationOnANewLeader: a revoke -prefix on a 3-node raft
// cluster stores its revocations together in the journal; after a
// step-down, the new leader's mount, loaded from the replicated storage,
// has every certificate revoked (cert/, CRL, feed) and the addresses free.
func TestMassRevocationOnANewLeader(t *testing.T) {
	c := startVaultClusterWith(t, 3, harness.VaultOptions{Config: "raw_storage_endpoint = true\n"})
	leader := c.leader()
	setUpEngine(t, leader.vaultServer)
	leader.cli("write", "wg/roles/laptop", "gateway=gw1", "ttl=1h")
	issued := issueMany(t, leader.root, "laptop", 200)

	leader.cli("lease", "revoke", "-prefix", "wg/issue/laptop")
	require.Eventually(t, func() bool { return len(journalEntries(t, leader)) > 0 },
		10*time.Second, 5*time.Millisecond, "revocations stored together")
	require.Eventually(t, func() bool {
		leases, err := leader.root.Logical().List("sys/leases/lookup/wg/issue/laptop/")
		return err == nil && (leases == nil || len(leases.Data["keys"].([]any)) == 0)
	}, 60*time.Second, 100*time.Millisecond, "leases left")

	require.NoError(t, leader.root.Sys().StepDown())
	var next *vaultNode
	require.Eventually(t, func() bool {
		if next = c.activeNode(leader); next == nil {
			return false
		}
		_, err := next.root.Logical().Read("wg/gateways/gw1/peers")
		return err == nil
	}, 60*time.Second, 50*time.Millisecond, "no new leader serving the mount")
	feed, err := next.root.Logical().Read("wg/gateways/gw1/peers")
	require.NoError(t, err)
	require.Empty(t, feed.Data["peers"])
	requireAllRevoked(t, next, issued)
	again, err := next.root.Logical().Write("wg/issue/laptop", map[string]any{"public_key": mustPub(t)})
	require.NoError(t, err)
	require.Equal(t, []any{"10.77.0.2/32", "fd77::2/128"}, again.Data["addresses"], "the addresses came back to the pool")
}

// journalEntries lists the wg/ mount's revocation journal through the raw
// storage endpoint.
func journalEntries(t *testing.T, n *vaultNode) []any {
	t.Helper()
	mount, err := n.root.Logical().Read("sys/mounts/wg")
	require.NoError(t, err)
	list, err := n.root.Logical().List("sys/raw/logical/" + mount.Data["uuid"].(string) + "/revocations/")
	require.NoError(t, err)
	if list == nil {
		return nil
	}
	return list.Data["keys"].([]any)
}
