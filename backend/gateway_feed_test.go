package backend

import (
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
	"github.com/stretchr/testify/require"
)

// A full peer set being built holds nothing an issue or a revocation
// needs: both complete while a full read is stopped in the middle of its
// build.
func TestFullReadDoesNotBlockIssueOrRevoke(t *testing.T) {
	env := newTestEnv(t)
	first := env.issue("alice")
	building, release := make(chan struct{}), make(chan struct{})
	env.b.reg.buildHook = func() {
		close(building)
		<-release
	}
	read := make(chan error, 1)
	go func() {
		_, err := env.do(logical.ReadOperation, "gateways/gw1/peers", nil)
		read <- err
	}()
	select {
	case <-building:
	case <-time.After(10 * time.Second):
		require.FailNow(t, "the full read never started building")
	}

	done := make(chan struct{})
	go func() {
		defer close(done)
		env.issue("bob")
		env.revokeLease(first)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		close(release)
		<-done
		require.FailNow(t, "an issue and a revocation waited for a full read being built")
	}
	close(release)
	require.NoError(t, <-read)
}
