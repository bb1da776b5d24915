package device

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/stretchr/testify/require"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/cmd/internal/backoff"
)

// fakeSource issues grants of a fixed lifetime, failing with the queued
// errors first, and records every call in a shared log.
type fakeSource struct {
	ttl time.Duration
	log *eventLog

	mu        sync.Mutex
	obtainErr []error // returned, in turn, before grants
	retireErr []error
	serial    int
}

func (s *fakeSource) Obtain(_ context.Context, public wgtypes.Key, replaces string) (*Grant, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.obtainErr) > 0 {
		err := s.obtainErr[0]
		s.obtainErr = s.obtainErr[1:]
		s.log.add("obtain failed")
		return nil, err
	}
	s.serial++
	serial := fmt.Sprint(s.serial)
	if replaces != "" {
		s.log.add("obtain " + serial + " replacing " + replaces)
	} else {
		s.log.add("obtain " + serial)
	}
	now := time.Now()
	return &Grant{Lease: &Lease{SerialNumber: serial, PublicKey: public, Received: now, TTL: s.ttl, Expiration: now.Add(s.ttl)}}, nil
}

func (s *fakeSource) Retire(_ context.Context, g *Grant) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.retireErr) > 0 {
		err := s.retireErr[0]
		s.retireErr = s.retireErr[1:]
		s.log.add("retire failed")
		return err
	}
	s.log.add("retire " + g.Lease.SerialNumber)
	return nil
}

// fakeSink records installs; it checks the grant's key is the certified
// one. It fails Prepare with prepareErr, Install with installErr, and
// holds replaced from an earlier run.
type fakeSink struct {
	t          *testing.T
	log        *eventLog
	prepareErr error
	installErr error
	replaced   *Grant
}

func (k fakeSink) Prepare(context.Context) error {
	if k.prepareErr != nil {
		k.log.add("prepare failed")
	}
	return k.prepareErr
}

func (k fakeSink) Replaced() (*Grant, error) { return k.replaced, nil }

func (k fakeSink) Install(_ context.Context, g *Grant) error {
	require.Equal(k.t, g.Lease.PublicKey, g.Private.PublicKey(), "installed with the certified key")
	if k.installErr != nil {
		k.log.add("install failed")
		return k.installErr
	}
	k.log.add("install " + g.Lease.SerialNumber)
	return nil
}

type eventLog struct {
	mu     sync.Mutex
	events []string
}

func (l *eventLog) add(e string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, e)
}

func (l *eventLog) get() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.events...)
}

func testDevice(t *testing.T, ttl time.Duration) (*Device, *fakeSource, *eventLog) {
	log := &eventLog{}
	src := &fakeSource{ttl: ttl, log: log}
	return &Device{
		Source:         src,
		Sinks:          []Sink{fakeSink{t: t, log: log}},
		RetireReplaced: true,
		SwitchDelay:    5 * time.Millisecond,
		RetryFor:       100 * time.Millisecond,
		Backoff:        backoff.Backoff{Min: time.Millisecond, Max: 5 * time.Millisecond},
		Logger:         hclog.NewNullLogger(),
		Jitter:         func() float64 { return 0 },
	}, src, log
}

// runFor runs d until it returns or until want events were logged, then
// stops it and returns its error.
func runFor(t *testing.T, d *Device, log *eventLog, want int) error {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case err := <-done:
			return err
		case <-deadline:
			t.Fatalf("Run did not get to %d events: %q", want, log.get())
		case <-time.After(time.Millisecond):
			if len(log.get()) >= want {
				cancel()
				return <-done
			}
		}
	}
}

func TestRunRotatesMakeBeforeBreak(t *testing.T) {
	d, _, log := testDevice(t, 150*time.Millisecond)
	start := time.Now()
	require.NoError(t, runFor(t, d, log, 8))
	require.Equal(t, []string{
		"obtain 1", "install 1",
		"obtain 2 replacing 1", "install 2", "retire 1", // the new one is in place before the old one goes
		"obtain 3 replacing 2", "install 3", "retire 2",
	}, log.get()[:8])
	// Two rotations at two thirds of 150ms each, plus the switch delays.
	require.GreaterOrEqual(t, time.Since(start), 200*time.Millisecond)
}

func TestRunWithoutInterfaceLeavesReplacedCertificates(t *testing.T) {
	d, _, log := testDevice(t, 60*time.Millisecond)
	d.RetireReplaced = false
	require.NoError(t, runFor(t, d, log, 4))
	require.Equal(t, []string{"obtain 1", "install 1", "obtain 2", "install 2"}, log.get()[:4])
}

func TestRunRetriesWhileVaultIsUnreachable(t *testing.T) {
	d, src, log := testDevice(t, time.Hour)
	unreachable := errors.New(`Put "http://127.0.0.1:8200/v1/auth/approle/login": connection refused`)
	src.obtainErr = []error{unreachable, unreachable, fmt.Errorf("%w: gateway full", ErrPoolExhausted)}
	require.NoError(t, runFor(t, d, log, 5))
	require.Equal(t, []string{"obtain failed", "obtain failed", "obtain failed", "obtain 1", "install 1"}, log.get())
}

func TestRunRetriesRevocation(t *testing.T) {
	d, src, log := testDevice(t, 60*time.Millisecond)
	src.retireErr = []error{errors.New("connection refused")}
	require.NoError(t, runFor(t, d, log, 6))
	require.Equal(t, []string{"obtain 1", "install 1", "obtain 2 replacing 1", "install 2", "retire failed", "retire 1"}, log.get()[:6])
}

func TestRunExitsWhenRefused(t *testing.T) {
	refused := fmt.Errorf("%w: approle login at auth/approle: invalid role or secret ID", ErrCredentialsRefused)

	d, src, log := testDevice(t, time.Hour)
	src.obtainErr = []error{refused}
	err := runFor(t, d, log, 100)
	require.ErrorIs(t, err, ErrCredentialsRefused)
	require.Equal(t, []string{"obtain failed"}, log.get(), "a refusal is not retried")

	// Refused at rotation: Run ends, and the installed certificate is left
	// in place (not revoked) for as long as it lasts.
	d, src, log = testDevice(t, 60*time.Millisecond)
	go func() {
		for len(log.get()) < 2 {
			time.Sleep(time.Millisecond)
		}
		src.mu.Lock()
		src.obtainErr = []error{refused}
		src.mu.Unlock()
	}()
	err = runFor(t, d, log, 100)
	require.ErrorIs(t, err, ErrCredentialsRefused)
	require.Equal(t, []string{"obtain 1", "install 1", "obtain failed"}, log.get())
}

func TestIssue(t *testing.T) {
	d, src, log := testDevice(t, time.Hour)
	src.obtainErr = []error{errors.New("connection refused")}
	g, err := d.Issue(t.Context())
	require.NoError(t, err)
	require.Equal(t, "1", g.Lease.SerialNumber)
	require.Equal(t, []string{"obtain failed", "obtain 1", "install 1"}, log.get())

	// Issue gives up on a pool that is full, and on Vault after RetryFor.
	d, src, _ = testDevice(t, time.Hour)
	src.obtainErr = []error{fmt.Errorf("%w: full", ErrPoolExhausted), nil}
	_, err = d.Issue(t.Context())
	require.ErrorIs(t, err, ErrPoolExhausted)

	d, src, _ = testDevice(t, time.Hour)
	for range 1000 {
		src.obtainErr = append(src.obtainErr, errors.New("connection refused"))
	}
	start := time.Now()
	_, err = d.Issue(t.Context())
	require.ErrorContains(t, err, "still failing after retrying for 100ms: connection refused")
	require.Less(t, time.Since(start), time.Second)
}

func TestRunDoesNotRetryARefusedRevocation(t *testing.T) {
	d, src, log := testDevice(t, 60*time.Millisecond)
	src.retireErr = []error{fmt.Errorf("%w: auth/token/revoke-self", ErrPermissionDenied)}
	require.NoError(t, runFor(t, d, log, 7))
	require.Equal(t, []string{"obtain 1", "install 1", "obtain 2 replacing 1", "install 2", "retire failed",
		"obtain 3 replacing 2", "install 3"}, log.get()[:7], "a refused revocation is reported once, not retried")
}

// Nothing is asked of Vault when a sink cannot take the certificate, and a
// certificate that could not be installed is revoked: no certificate is
// left live that nothing uses.
func TestDeviceNeverStrandsACertificate(t *testing.T) {
	notThere := errors.New("-interface wgnosuch0: no WireGuard interface of that name")
	for name, run := range map[string]func(d *Device) error{
		"issue": func(d *Device) error { _, err := d.Issue(t.Context()); return err },
		"run":   func(d *Device) error { return d.Run(t.Context()) },
	} {
		t.Run(name, func(t *testing.T) {
			d, _, log := testDevice(t, time.Hour)
			d.Sinks = []Sink{fakeSink{t: t, log: log, prepareErr: notThere}}
			require.ErrorIs(t, run(d), notThere)
			require.Equal(t, []string{"prepare failed"}, log.get())

			d, _, log = testDevice(t, time.Hour)
			d.Sinks = []Sink{fakeSink{t: t, log: log, installErr: errors.New("disk full")}}
			require.ErrorContains(t, run(d), "install certificate 1: disk full")
			require.Equal(t, []string{"obtain 1", "install failed", "retire 1"}, log.get())
		})
	}
}

// A certificate that a sink held from an earlier run is revoked once its
// replacement is installed; one that has ended, or has no token to revoke
// it with, is left alone.
func TestIssueRetiresTheCertificateItReplaces(t *testing.T) {
	now := time.Now()
	for _, tc := range []struct {
		name string
		old  *Grant
		want []string
	}{
		{"live", &Grant{Lease: &Lease{SerialNumber: "old", Expiration: now.Add(time.Hour)}, Token: "t"},
			[]string{"obtain 1 replacing old", "install 1", "retire old"}},
		{"expired", &Grant{Lease: &Lease{SerialNumber: "old", Expiration: now.Add(-time.Second)}, Token: "t"},
			[]string{"obtain 1", "install 1"}},
		{"token ended", &Grant{Lease: &Lease{SerialNumber: "old", Expiration: now.Add(time.Hour)}, Token: "t", TokenEnd: now.Add(-time.Second)},
			[]string{"obtain 1", "install 1"}},
		{"no token", &Grant{Lease: &Lease{SerialNumber: "old", Expiration: now.Add(time.Hour)}},
			[]string{"obtain 1 replacing old", "install 1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, _, log := testDevice(t, time.Hour)
			d.Sinks = []Sink{fakeSink{t: t, log: log, replaced: tc.old}}
			_, err := d.Issue(t.Context())
			require.NoError(t, err)
			require.Equal(t, tc.want, log.get())
		})
	}
}
