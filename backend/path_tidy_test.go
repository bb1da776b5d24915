package backend

import (
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
	"github.com/stretchr/testify/require"
)

func TestTidy(t *testing.T) {
	env := newTestEnv(t)
	short := env.ok(logical.UpdateOperation, "issue/laptop", map[string]any{"public_key": mustKey(t), "ttl": "1h"})
	long := env.ok(logical.UpdateOperation, "issue/laptop", map[string]any{"public_key": mustKey(t), "ttl": "20h"})

	resp := env.ok(logical.UpdateOperation, "tidy", nil)
	require.Equal(t, 0, resp.Data["deleted"])

	env.b.clock.set(func() time.Time { return time.Now().Add(10 * time.Hour) })
	resp = env.ok(logical.UpdateOperation, "tidy", map[string]any{"safety_buffer": "1h"})
	require.Equal(t, 1, resp.Data["deleted"])
	require.Nil(t, env.ok(logical.ReadOperation, "cert/"+short.Data["serial_number"].(string), nil))
	require.NotNil(t, env.ok(logical.ReadOperation, "cert/"+long.Data["serial_number"].(string), nil))
	require.Len(t, env.peers("0").Peers, 1)
}
