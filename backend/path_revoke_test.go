package backend

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
	"github.com/stretchr/testify/require"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/backend/peerfeed"
	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/backend/wgkey"
)

// peers reads the gateway gw1's feed from index since.
func (e *testEnv) peers(since string) peerfeed.Response {
	e.t.Helper()
	return e.peersWait(since, "")
}

func (e *testEnv) peersWait(since, wait string) peerfeed.Response {
	e.t.Helper()
	data := map[string]any{"index": since}
	if wait != "" {
		data["wait"] = wait
	}
	resp := e.ok(logical.ReadOperation, "gateways/gw1/peers", data)
	require.Equal(e.t, "application/json", resp.Data[logical.HTTPContentType])
	var body struct {
		Data peerfeed.Response `json:"data"`
	}
	require.NoError(e.t, json.Unmarshal(resp.Data[logical.HTTPRawBody].([]byte), &body))
	return body.Data
}

// crlSerials returns the serials listed in the mount's CRL.
func (e *testEnv) crlSerials() map[string]bool {
	e.t.Helper()
	resp := e.ok(logical.ReadOperation, "crl", nil)
	crl, err := x509.ParseRevocationList(resp.Data[logical.HTTPRawBody].([]byte))
	require.NoError(e.t, err)
	ca := e.b.config.ca.cert
	require.NoError(e.t, crl.CheckSignatureFrom(ca))
	out := map[string]bool{}
	for _, r := range crl.RevokedCertificateEntries {
		out[formatSerial(r.SerialNumber)] = true
	}
	return out
}

func TestRevocationPathsConverge(t *testing.T) {
	revokers := map[string]func(env *testEnv, resp *logical.Response){
		"lease": func(env *testEnv, resp *logical.Response) { env.revokeLease(resp) },
		"serial": func(env *testEnv, resp *logical.Response) {
			env.ok(logical.UpdateOperation, "revoke", map[string]any{"serial_number": resp.Data["serial_number"]})
		},
		"public key": func(env *testEnv, resp *logical.Response) {
			env.ok(logical.UpdateOperation, "revoke", map[string]any{"public_key": resp.Data["public_key"]})
		},
	}
	for name, revoke := range revokers {
		t.Run(name, func(t *testing.T) {
			env := newTestEnv(t)
			resp := env.issue("alice")
			serial := resp.Data["serial_number"].(string)
			before := env.peers("0")
			require.Len(t, before.Peers, 1)

			revoke(env, resp)
			revoke(env, resp) // idempotent
			env.revokeLease(resp)

			rec := env.ok(logical.ReadOperation, "cert/"+serial, nil)
			require.Equal(t, true, rec.Data["revoked"])
			require.NotEmpty(t, rec.Data["revoked_at"])
			require.True(t, env.crlSerials()[serial], "serial on the CRL")

			delta := env.peers(itoa(before.Index))
			require.False(t, delta.Full)
			require.Greater(t, delta.Index, before.Index, "revision bumped")
			require.Empty(t, delta.Peers)
			require.Equal(t, []peerfeed.Removal{{SerialNumber: serial, PublicKey: resp.Data["public_key"].(string)}}, delta.Removed)
			require.Empty(t, env.peers("0").Peers)

			// The address is free again.
			again := env.issue("bob")
			require.Equal(t, resp.Data["addresses"], again.Data["addresses"])
		})
	}
}

func TestRevokeBadInput(t *testing.T) {
	env := newTestEnv(t)
	env.fails(logical.UpdateOperation, "revoke", map[string]any{}, "serial_number or public_key: give exactly one")
	env.fails(logical.UpdateOperation, "revoke", map[string]any{"serial_number": "zz"}, `serial_number: "zz" is not a hex serial number`)
	env.fails(logical.UpdateOperation, "revoke", map[string]any{"serial_number": "01:02"}, "serial_number: no certificate with serial 01:02")
	env.fails(logical.UpdateOperation, "revoke", map[string]any{"public_key": "AAAA"}, "public_key: not 32 bytes")
}

func TestPeersLongPoll(t *testing.T) {
	env := newTestEnv(t)
	resp := env.issue("alice")
	start := env.peers("0")

	// Up to date, nothing happens: the wait runs out with an empty delta.
	began := time.Now()
	idle := env.peersWait(itoa(start.Index), "1s")
	require.GreaterOrEqual(t, time.Since(began), time.Second)
	require.Equal(t, start.Index, idle.Index)
	require.False(t, idle.Full)
	require.Empty(t, idle.Peers)

	// A revocation wakes the waiter at once.
	go func() {
		time.Sleep(200 * time.Millisecond)
		env.revokeLease(resp)
	}()
	began = time.Now()
	woke := env.peersWait(itoa(start.Index), "30s")
	require.Less(t, time.Since(began), 5*time.Second)
	require.Len(t, woke.Removed, 1)

	// An index the feed does not know gets the full set.
	require.True(t, env.peers("12345").Full)
	require.True(t, env.peers(itoa(woke.Index+100)).Full)
	env.fails(logical.ReadOperation, "gateways/gw1/peers", map[string]any{"index": "x"}, `index: "x" is not a revision number`)
	env.fails(logical.ReadOperation, "gateways/nope/peers", nil, `name: unknown gateway "nope"`)
}

func TestPeersLongPollReturnsOnCancel(t *testing.T) {
	env := newTestEnv(t)
	start := env.peers("0")
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	began := time.Now()
	_, err := env.b.HandleRequest(ctx, &logical.Request{
		Operation: logical.ReadOperation, Path: "gateways/gw1/peers", Storage: env.storage,
		Data: map[string]any{"index": itoa(start.Index), "wait": "60s"},
	})
	require.NoError(t, err)
	require.Less(t, time.Since(began), 5*time.Second)
}

func TestReloadKeepsState(t *testing.T) {
	env := newTestEnv(t)
	kept := env.issue("alice")
	gone := env.issue("bob")
	env.revokeLease(gone)
	before := env.peers("0")

	// A new backend over the same storage: a plugin restart or leader change.
	conf := logical.TestBackendConfig()
	conf.System = env.sys
	conf.StorageView = env.storage
	be, err := NewFactory("v1.2.3")(t.Context(), conf)
	require.NoError(t, err)
	require.NoError(t, be.Initialize(t.Context(), &logical.InitializationRequest{Storage: env.storage}))
	env.b = be.(*backend)

	after := env.peers(itoa(before.Index))
	require.True(t, after.Full, "an index from before the restart gets the full set")
	require.Greater(t, after.Index, before.Index, "revisions keep growing across restarts")
	require.Len(t, after.Peers, 1)
	require.Equal(t, kept.Data["serial_number"], after.Peers[0].SerialNumber)
	require.True(t, env.crlSerials()[gone.Data["serial_number"].(string)])

	// The live address stays taken, the revoked one is reused.
	next := env.issue("carol")
	require.Equal(t, gone.Data["addresses"], next.Data["addresses"])
	require.NotEqual(t, kept.Data["addresses"], next.Data["addresses"])
}

func TestTidy(t *testing.T) {
	env := newTestEnv(t)
	short := env.ok(logical.UpdateOperation, "issue/laptop", map[string]any{"public_key": mustKey(t), "ttl": "1h"})
	long := env.ok(logical.UpdateOperation, "issue/laptop", map[string]any{"public_key": mustKey(t), "ttl": "20h"})

	resp := env.ok(logical.UpdateOperation, "tidy", nil)
	require.Equal(t, 0, resp.Data["deleted"])

	env.b.now = func() time.Time { return time.Now().Add(10 * time.Hour) }
	resp = env.ok(logical.UpdateOperation, "tidy", map[string]any{"safety_buffer": "1h"})
	require.Equal(t, 1, resp.Data["deleted"])
	require.Nil(t, env.ok(logical.ReadOperation, "cert/"+short.Data["serial_number"].(string), nil))
	require.NotNil(t, env.ok(logical.ReadOperation, "cert/"+long.Data["serial_number"].(string), nil))
	require.Len(t, env.peers("0").Peers, 1)
}

func TestGatewayStatus(t *testing.T) {
	env := newTestEnv(t)
	env.issue("alice")
	index := env.peers("0").Index
	env.ok(logical.UpdateOperation, "gateways/gw1/status", map[string]any{
		"instance_id": "gw-a", "applied_index": itoa(index), "peer_count": 1,
	})
	env.ok(logical.UpdateOperation, "gateways/gw1/status", map[string]any{
		"instance_id": "gw-b", "applied_index": itoa(index - 1), "peer_count": 0,
	})
	st := env.ok(logical.ReadOperation, "gateways/gw1/status", nil)
	require.Equal(t, index, st.Data["index"])
	require.Equal(t, false, st.Data["enforced"], "gw-b is behind")
	env.ok(logical.UpdateOperation, "gateways/gw1/status", map[string]any{
		"instance_id": "gw-b", "applied_index": itoa(index), "peer_count": 1,
	})
	st = env.ok(logical.ReadOperation, "gateways/gw1/status", nil)
	require.Equal(t, true, st.Data["enforced"])
	env.fails(logical.UpdateOperation, "gateways/gw1/status", map[string]any{"instance_id": "../x"}, "instance_id")
}

func itoa(n uint64) string { return new(big.Int).SetUint64(n).String() }

func mustKey(t *testing.T) string {
	t.Helper()
	return mustGenerate(t).String()
}

func mustGenerate(t *testing.T) wgtypes.Key {
	t.Helper()
	_, pub, err := wgkey.Generate()
	require.NoError(t, err)
	return pub
}

// A long-poll never holds Vault for long, whatever wait asks: Vault waits
// for requests in flight before it seals or steps down.
func TestPeersLongPollHeldAtMostASecond(t *testing.T) {
	env := newTestEnv(t)
	start := env.peers("0")
	began := time.Now()
	idle := env.peersWait(itoa(start.Index), "60s")
	held := time.Since(began)
	require.GreaterOrEqual(t, held, time.Second, "held until the wait is cut")
	require.Less(t, held, 1500*time.Millisecond, "a seal must not wait for it")
	require.Equal(t, start.Index, idle.Index, "nothing changed: same index, poll again")
	require.False(t, idle.Full)
	require.Empty(t, idle.Peers)
	require.Empty(t, idle.Removed)
}

// TestRevokeUnknownSerialAsWritten: the message about a serial that names
// no certificate shows the serial the caller wrote, in the form cert/:serial
// shows serials (lowercase, colon-separated bytes), leading zeros kept.
func TestRevokeUnknownSerialAsWritten(t *testing.T) {
	env := newTestEnv(t)
	for in, want := range map[string]string{
		"00:11":    "serial_number: no certificate with serial 00:11",
		"00-AB-CD": "serial_number: no certificate with serial 00:ab:cd",
		"0011":     "serial_number: no certificate with serial 00:11",
		"abc":      "serial_number: no certificate with serial 0a:bc",
		" 7f:01 ":  "serial_number: no certificate with serial 7f:01",
	} {
		resp, err := env.do(logical.UpdateOperation, "revoke", map[string]any{"serial_number": in})
		require.NoError(t, err)
		require.True(t, resp.IsError(), in)
		require.Equal(t, want, resp.Error().Error(), in)
	}
	// A serial written with leading zeros still finds its certificate.
	serial := env.issue("bob").Data["serial_number"].(string)
	resp := env.ok(logical.UpdateOperation, "revoke", map[string]any{"serial_number": "00:" + strings.ToUpper(serial)})
	require.Equal(t, []string{serial}, resp.Data["serial_numbers"])
}
