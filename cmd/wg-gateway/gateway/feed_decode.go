package gateway

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/backend/peerfeed"
)

// maxFeedValue is the most bytes one value of a feed answer may take: a
// peer, a removal, a header field. A peer is about a kilobyte (its
// certificate with a few access rules); a value larger than this ends the
// read (ErrBadFeed) before it is buffered whole.
const maxFeedValue = 64 << 10

// decodeFeed reads one answer of the feed, Vault's envelope
// {"data": {...}}, from r as a stream: each peer is handed to each as
// soon as it is decoded, with head, the answer's fields decoded before it
// (the engine writes gateway, address_pool, index, full and signature
// first), and is not kept: the answer returned has no Peers. Removals are kept. Memory
// stays within about maxFeedValue whatever the answer's size; a value
// larger than that, a field given twice, or what is not such an object is
// ErrBadFeed. An error of each ends the read with that error.
func decodeFeed(r io.Reader, each func(head *peerfeed.Response, p peerfeed.Peer) error) (*peerfeed.Response, error) {
	lr := &valueLimitReader{r: r}
	dec := json.NewDecoder(lr)
	lr.dec = dec
	resp := &peerfeed.Response{}
	err := decodeObject(dec, func(key string) error {
		if key != "data" {
			return skipValue(dec)
		}
		return decodeData(dec, resp, each)
	})
	if err != nil {
		return nil, err
	}
	return resp, nil
}

// decodeData decodes the "data" object into resp, streaming its peers.
func decodeData(dec *json.Decoder, resp *peerfeed.Response, each func(*peerfeed.Response, peerfeed.Peer) error) error {
	seen := make(map[string]bool)
	return decodeObject(dec, func(key string) error {
		if seen[key] {
			return fmt.Errorf("%w: field %q given twice", ErrBadFeed, key)
		}
		seen[key] = true
		switch key {
		case "gateway":
			return decodeValue(dec, key, &resp.Gateway)
		case "address_pool":
			return decodeValue(dec, key, &resp.AddressPool)
		case "index":
			return decodeValue(dec, key, &resp.Index)
		case "full":
			return decodeValue(dec, key, &resp.Full)
		case "next":
			return decodeValue(dec, key, &resp.Next)
		case "signature":
			return decodeValue(dec, key, &resp.Signature)
		case "peers":
			return decodeArray(dec, key, func() error {
				var p peerfeed.Peer
				if err := decodeValue(dec, key, &p); err != nil {
					return err
				}
				return each(resp, p)
			})
		case "removed":
			return decodeArray(dec, key, func() error {
				var r peerfeed.Removal
				if err := decodeValue(dec, key, &r); err != nil {
					return err
				}
				resp.Removed = append(resp.Removed, r)
				return nil
			})
		default:
			return skipValue(dec)
		}
	})
}

// decodeObject reads a JSON object (or null), calling field for each key
// with the decoder before the key's value, which field must consume.
func decodeObject(dec *json.Decoder, field func(key string) error) error {
	tok, err := dec.Token()
	if err != nil {
		return feedSyntax(err)
	}
	if tok == nil {
		return nil
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return fmt.Errorf("%w: %v where an object was expected", ErrBadFeed, tok)
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return feedSyntax(err)
		}
		key, ok := tok.(string)
		if !ok {
			return fmt.Errorf("%w: %v where a field name was expected", ErrBadFeed, tok)
		}
		if err := field(key); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return feedSyntax(err)
	}
	return nil
}

// decodeArray reads a JSON array (or null), calling elem for each element
// with the decoder before it, which elem must consume.
func decodeArray(dec *json.Decoder, key string, elem func() error) error {
	tok, err := dec.Token()
	if err != nil {
		return feedSyntax(err)
	}
	if tok == nil {
		return nil
	}
	if d, ok := tok.(json.Delim); !ok || d != '[' {
		return fmt.Errorf("%w: %s: %v where an array was expected", ErrBadFeed, key, tok)
	}
	for dec.More() {
		if err := elem(); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil { // the closing bracket
		return feedSyntax(err)
	}
	return nil
}

// decodeValue decodes the next value into v.
func decodeValue(dec *json.Decoder, key string, v any) error {
	if err := dec.Decode(v); err != nil {
		if _, ok := err.(*json.UnmarshalTypeError); ok {
			return fmt.Errorf("%w: %s: %v", ErrBadFeed, key, err)
		}
		return feedSyntax(err)
	}
	return nil
}

// skipValue reads the next value and drops it.
func skipValue(dec *json.Decoder) error {
	var skip json.RawMessage
	if err := dec.Decode(&skip); err != nil {
		return feedSyntax(err)
	}
	return nil
}

// feedSyntax wraps a decoding error: the limit's own error as it is,
// JSON syntax as ErrBadFeed, the connection's failures as they are.
func feedSyntax(err error) error {
	if _, ok := err.(*json.SyntaxError); ok || err == io.ErrUnexpectedEOF || err == io.EOF {
		return fmt.Errorf("%w: %v", ErrBadFeed, err)
	}
	return err
}

// A valueLimitReader reads for a JSON decoder and fails once the decoder
// holds more than maxFeedValue bytes it has not consumed: the value it is
// decoding (plus its read-ahead) is too large.
type valueLimitReader struct {
	r    io.Reader
	dec  *json.Decoder
	read int64
}

// Read reads from r at most what keeps the decoder's unconsumed bytes
// within maxFeedValue.
func (l *valueLimitReader) Read(p []byte) (int, error) {
	room := maxFeedValue - (l.read - l.dec.InputOffset())
	if room <= 0 {
		return 0, fmt.Errorf("%w: a value of the answer is larger than %d bytes", ErrBadFeed, maxFeedValue)
	}
	if int64(len(p)) > room {
		p = p[:room]
	}
	n, err := l.r.Read(p)
	l.read += int64(n)
	return n, err
}
