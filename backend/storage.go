package backend

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/hashicorp/vault/sdk/logical"
)

// Storage layout. Every key a mount writes starts with one of these.
const (
	// caStorageKey holds the CA certificate and key (caEntry).
	caStorageKey = "config/ca"
	// gatewayStoragePrefix + name holds a gatewayEntry.
	gatewayStoragePrefix = "gateways/"
	// roleStoragePrefix + name holds a roleEntry.
	roleStoragePrefix = "roles/"
	// certStoragePrefix + serial holds a certRecord: one write per issue and
	// one per revocation, whatever the number of live certificates.
	certStoragePrefix = "certs/"
	// certPackStoragePrefix + id holds a certPack: the full records of up
	// to packBudget bytes of certificates, written by the pack fold once
	// their loose entries under certStoragePrefix were written, so that a
	// mount's start reads a few hundred entries instead of one per
	// certificate. A serial's loose entry, when there is one, is as new as
	// its packed copy or newer (see certPack).
	certPackStoragePrefix = "certpacks/"
	// revocationStoragePrefix + id holds a revocationJournalEntry: the
	// revocations of a batch persisted by one write, until tidy writes
	// them into their records.
	revocationStoragePrefix = "revocations/"
	// statusStoragePrefix + gateway + "/" + instance holds a statusEntry.
	statusStoragePrefix = "status/"
	// blockStoragePrefix + name holds a blockEntry.
	blockStoragePrefix = "blocks/"
	// tidyScheduleKey holds the tidySchedule: when the periodic tidy is
	// next due.
	tidyScheduleKey = "tidy/schedule"
)

// getJSON reads key into out and reports whether it existed.
func getJSON(ctx context.Context, s logical.Storage, key string, out any) (bool, error) {
	entry, err := s.Get(ctx, key)
	if err != nil {
		return false, fmt.Errorf("read %s: %w", key, err)
	}
	if entry == nil {
		return false, nil
	}
	if err := entry.DecodeJSON(out); err != nil {
		return false, fmt.Errorf("decode %s: %w", key, err)
	}
	return true, nil
}

// getRecord reads the certificate record of serial; nil when there is none.
func getRecord(ctx context.Context, s logical.Storage, serial string) (*certRecord, error) {
	return getRecordEntry[certRecord](ctx, s, certStoragePrefix+serial)
}

// getRecordEntry reads key, a certificate record or a pack of them, as
// decodeEntry decodes it; nil when there is none. A mount's load reads
// every one of them: getJSON's DecodeJSON would cost each a copy.
func getRecordEntry[T any](ctx context.Context, s logical.Storage, key string) (*T, error) {
	entry, err := s.Get(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", key, err)
	}
	if entry == nil {
		return nil, nil
	}
	var out T
	if err := decodeEntry(key, entry, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// decodeEntry decodes the storage entry read at key into out. JSON as
// putJSON wrote it is decoded with json.Unmarshal, which spares each of a
// mount's records the SDK's DecodeJSON (a decompression check, then a
// json.Decoder refilling its own copy); anything else (a compressed entry)
// goes through DecodeJSON.
func decodeEntry(key string, entry *logical.StorageEntry, out any) error {
	var err error
	if len(entry.Value) > 0 && entry.Value[0] == '{' {
		err = json.Unmarshal(entry.Value, out)
	} else {
		err = entry.DecodeJSON(out)
	}
	if err != nil {
		return fmt.Errorf("decode %s: %w", key, err)
	}
	return nil
}

// putJSON writes v at key.
func putJSON(ctx context.Context, s logical.Storage, key string, v any) error {
	buf, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", key, err)
	}
	if err := s.Put(ctx, &logical.StorageEntry{Key: key, Value: buf}); err != nil {
		return fmt.Errorf("write %s: %w", key, err)
	}
	return nil
}

// deleteKey removes key.
func deleteKey(ctx context.Context, s logical.Storage, key string) error {
	if err := s.Delete(ctx, key); err != nil {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	return nil
}
