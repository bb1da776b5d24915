package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/backend/peerfeed"
	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/backend/wgcert"
)

// TestDecodeFeed: an answer decodes to the same fields as a whole
// json.Unmarshal would give, each peer handed over with the fields before
// it, none kept in the answer.
func TestDecodeFeed(t *testing.T) {
	body := `{"request_id":"x","data":{"gateway":"gw1","address_pool":["10.77.0.0/24"],"index":7,"full":true,` +
		`"signature":{"key_id":"ab:cd","digests":"AAEC","value":"AwQ="},"peers":[{"serial_number":"0a","public_key":"k1","allowed_ips":["10.77.0.2/32"],"certificate":"c1","expiration":"2026-11-24T13:00:00Z"},` +
		`{"serial_number":"0b","public_key":"k2","certificate":"c2","unknown":{"nested":[1,2]}}],` +
		`"removed":[{"serial_number":"09","public_key":"k0"}],"next":"0b","extra":[1]},"warnings":null}`
	var got []peerfeed.Peer
	resp, err := decodeFeed(strings.NewReader(body), func(head *peerfeed.Response, p peerfeed.Peer) error {
		if head.Index != 7 || !head.Full || head.Gateway != "gw1" || len(head.AddressPool) != 1 || head.Signature == nil {
			t.Errorf("head before peer %s = %+v", p.SerialNumber, head)
		}
		got = append(got, p)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []peerfeed.Peer{
		{SerialNumber: "0a", PublicKey: "k1", AllowedIPs: []string{"10.77.0.2/32"}, Certificate: "c1", Expiration: time.Date(2026, 11, 24, 13, 0, 0, 0, time.UTC)},
		{SerialNumber: "0b", PublicKey: "k2", Certificate: "c2"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("peers (-want +got):\n%s", diff)
	}
	wantResp := &peerfeed.Response{Gateway: "gw1", AddressPool: []string{"10.77.0.0/24"}, Index: 7, Full: true,
		Signature: &peerfeed.Signature{KeyID: "ab:cd", Digests: []byte{0, 1, 2}, Value: []byte{3, 4}},
		Removed:   []peerfeed.Removal{{SerialNumber: "09", PublicKey: "k0"}}, Next: "0b"}
	if diff := cmp.Diff(wantResp, resp); diff != "" {
		t.Errorf("answer (-want +got):\n%s", diff)
	}
}

// TestDecodeFeedTakesTheLargestSignature: the signature of an answer of
// peerfeed.MaxSigned peers, the largest the engine signs, is within what
// the decoder takes of one value, and is decoded before the peers.
func TestDecodeFeedTakesTheLargestSignature(t *testing.T) {
	resp := &peerfeed.Response{Gateway: "gw1", Index: 1, Full: true, Peers: []peerfeed.Peer{{SerialNumber: "01"}},
		Signature: &peerfeed.Signature{KeyID: strings.Repeat("ab:", 19) + "ab", Digests: make([]byte, peerfeed.MaxSigned*wgcert.DigestSize),
			Value: make([]byte, 72)}}
	body, err := json.Marshal(map[string]any{"data": resp})
	if err != nil {
		t.Fatal(err)
	}
	_, err = decodeFeed(bytes.NewReader(body), func(head *peerfeed.Response, _ peerfeed.Peer) error {
		if head.Signature == nil || len(head.Signature.Digests) != peerfeed.MaxSigned*wgcert.DigestSize {
			t.Errorf("the signature is not decoded before the peers: %+v", head.Signature)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestDecodeFeedStreams: the first peer is handed over before the rest of
// the answer has arrived (a decoder that read the answer whole would wait
// here for ever).
func TestDecodeFeedStreams(t *testing.T) {
	r, w := io.Pipe()
	firstSeen := make(chan struct{})
	go func() {
		_, _ = io.WriteString(w, `{"data":{"index":1,"full":true,"peers":[{"serial_number":"01"},`)
		select {
		case <-firstSeen:
		case <-time.After(10 * time.Second):
		}
		_, _ = io.WriteString(w, `{"serial_number":"02"}]}}`)
		_ = w.Close()
	}()
	n := 0
	_, err := decodeFeed(r, func(_ *peerfeed.Response, p peerfeed.Peer) error {
		n++
		if n == 1 {
			close(firstSeen)
		}
		return nil
	})
	if err != nil || n != 2 {
		t.Fatalf("decoded %d peers, error %v", n, err)
	}
}

// countingReader counts what is read from it.
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// endless is a reader of the same byte for ever.
type endless byte

func (e endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(e)
	}
	return len(p), nil
}

// TestDecodeFeedRefuses: answers an attacker between Vault and the gateway
// could send are refused with ErrBadFeed; a value that never ends is cut
// off after about maxFeedValue bytes instead of being buffered.
func TestDecodeFeedRefuses(t *testing.T) {
	huge := func(prefix string) io.Reader {
		return io.MultiReader(strings.NewReader(prefix), endless('A'))
	}
	for _, tt := range []struct {
		name string
		body io.Reader
	}{
		{"a certificate that never ends", huge(`{"data":{"full":true,"index":1,"peers":[{"serial_number":"01","certificate":"`)},
		{"a field name that never ends", huge(`{"data":{"`)},
		{"an unknown field's value that never ends", huge(`{"data":{"x":"`)},
		{"a removal that never ends", huge(`{"data":{"removed":[{"serial_number":"`)},
		{"a field twice", strings.NewReader(`{"data":{"index":1,"full":true,"index":2}}`)},
		{"peers twice", strings.NewReader(`{"data":{"peers":[],"peers":[]}}`)},
		{"peers not an array", strings.NewReader(`{"data":{"peers":{"a":1}}}`)},
		{"data not an object", strings.NewReader(`{"data":[1]}`)},
		{"an index that is not a number", strings.NewReader(`{"data":{"index":"1"}}`)},
		{"cut short", strings.NewReader(`{"data":{"index":1,"peers":[{"serial_number":"01"}`)},
		{"not JSON", strings.NewReader(`<html>`)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cr := &countingReader{r: tt.body}
			_, err := decodeFeed(cr, func(*peerfeed.Response, peerfeed.Peer) error { return nil })
			if !errors.Is(err, ErrBadFeed) {
				t.Fatalf("error %v, want ErrBadFeed", err)
			}
			if cr.n > 2*maxFeedValue {
				t.Fatalf("read %d bytes before refusing, more than twice maxFeedValue", cr.n)
			}
		})
	}
}

// TestDecodeFeedStopsOnCallbackError: the callback's error ends the read
// as it is.
func TestDecodeFeedStopsOnCallbackError(t *testing.T) {
	stop := errors.New("stop")
	n := 0
	_, err := decodeFeed(strings.NewReader(`{"data":{"peers":[{"serial_number":"01"},{"serial_number":"02"}]}}`),
		func(*peerfeed.Response, peerfeed.Peer) error { n++; return stop })
	if !errors.Is(err, stop) || n != 1 {
		t.Fatalf("error %v after %d peers, want stop after 1", err, n)
	}
}

// BenchmarkDecodeFeed decodes a page of 1,000 peers of certificate size.
func BenchmarkDecodeFeed(b *testing.B) {
	var sb strings.Builder
	sb.WriteString(`{"data":{"gateway":"gw","address_pool":["10.0.0.0/16"],"index":1,"full":true,"peers":[`)
	cert := strings.Repeat("MIIBxjCCAXigAwIBAgIQ", 36) // about a certificate's PEM
	for i := range 1000 {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, `{"serial_number":"%032x","public_key":"dGVzdGtleXRlc3RrZXl0ZXN0a2V5dGVzdGtleXRlc3Q=","allowed_ips":["10.0.%d.%d/32"],"certificate":"-----BEGIN CERTIFICATE-----\n%s\n-----END CERTIFICATE-----\n","expiration":"2026-11-24T13:00:00Z"}`, i, i/256, i%256, cert)
	}
	sb.WriteString(`],"removed":[],"next":"x"}}`)
	body := sb.String()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := decodeFeed(strings.NewReader(body), func(*peerfeed.Response, peerfeed.Peer) error { return nil }); err != nil {
			b.Fatal(err)
		}
	}
}
