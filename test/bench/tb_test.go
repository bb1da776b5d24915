package main

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestTryTurnsHarnessFailuresIntoErrors: a Fatalf, or a require failure
// (Errorf then FailNow), inside the harness becomes the error of try; any
// other panic goes on.
func TestTryTurnsHarnessFailuresIntoErrors(t *testing.T) {
	tb := &runTB{}
	require.NoError(t, try(func() {}))

	err := try(func() { tb.Fatalf("no vault: %s", "gone") })
	require.EqualError(t, err, "no vault: gone")
	require.True(t, tb.Failed())

	err = try(func() { require.NoError(tb, errors.New("boom"), "start wireguard-go") })
	require.ErrorContains(t, err, "boom")
	require.ErrorContains(t, err, "start wireguard-go")

	require.PanicsWithValue(t, "other", func() { _ = try(func() { panic("other") }) })
}
