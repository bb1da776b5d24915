package backend

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// A blockedError refuses a certificate to an identity an operator blocked.
// Its message names the block and when it was written, not who wrote it.
type blockedError struct {
	block blockEntry
}

func (e *blockedError) Error() string {
	b := e.block
	what := fmt.Sprintf("common_name %q", b.CommonName)
	if b.EntityID != "" {
		what = fmt.Sprintf("entity_id %q", b.EntityID)
	}
	// Who wrote the block is not said: the caller may be the thief.
	return fmt.Sprintf("permission denied: %s is blocked by block %q (since %s); no certificate is issued until the block is deleted",
		what, b.Name, b.CreatedAt.UTC().Format(time.RFC3339))
}

// A blockSet holds a mount's blocks by name and by the identity they block.
type blockSet struct {
	byName       map[string]*blockEntry
	byCommonName map[string]map[string]struct{}
	byEntityID   map[string]map[string]struct{}
}

func newBlockSet() blockSet {
	return blockSet{
		byName:       make(map[string]*blockEntry),
		byCommonName: make(map[string]map[string]struct{}),
		byEntityID:   make(map[string]map[string]struct{}),
	}
}

// index returns the map of blocks by the identity b blocks, and its key.
func (s blockSet) index(b *blockEntry) (map[string]map[string]struct{}, string) {
	if b.EntityID != "" {
		return s.byEntityID, b.EntityID
	}
	return s.byCommonName, b.CommonName
}

func (s blockSet) put(b *blockEntry) {
	s.remove(b.Name)
	s.byName[b.Name] = b
	m, k := s.index(b)
	if m[k] == nil {
		m[k] = make(map[string]struct{})
	}
	m[k][b.Name] = struct{}{}
}

func (s blockSet) remove(name string) {
	b, ok := s.byName[name]
	if !ok {
		return
	}
	delete(s.byName, name)
	m, k := s.index(b)
	delete(m[k], name)
	if len(m[k]) == 0 {
		delete(m, k)
	}
}

// match returns the block, first by name, that blocks a certificate for
// rec's common name or entity, or nil.
func (s blockSet) match(rec *certRecord) *blockEntry {
	var names []string
	for n := range s.byCommonName[rec.CommonName] {
		names = append(names, n)
	}
	if rec.EntityID != "" {
		for n := range s.byEntityID[rec.EntityID] {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		return nil
	}
	return s.byName[slices.Min(names)]
}

// putBlock adds or replaces a block.
func (r *registry) putBlock(b *blockEntry) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.blocks.put(b)
}

// removeBlock lifts a block.
func (r *registry) removeBlock(name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.blocks.remove(name)
}

// block returns a copy of the named block, or nil.
func (r *registry) block(name string) *blockEntry {
	r.mu.Lock()
	defer r.mu.Unlock()
	if b, ok := r.blocks.byName[name]; ok {
		c := *b
		return &c
	}
	return nil
}

// blockList returns copies of every block, sorted by name.
func (r *registry) blockList() []blockEntry {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]blockEntry, 0, len(r.blocks.byName))
	for _, b := range r.blocks.byName {
		out = append(out, *b)
	}
	slices.SortFunc(out, func(a, b blockEntry) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// blockedErr is the refusal for rec when a block covers it, or nil; the
// caller holds mu.
func (r *registry) blockedErr(rec *certRecord) error {
	if b := r.blocks.match(rec); b != nil {
		return &blockedError{block: *b}
	}
	return nil
}
