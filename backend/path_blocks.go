package backend

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
)

// blockEntry is a stored block, at blockStoragePrefix + name: the identity
// (entity_id or common_name, exactly one) that gets no certificate while
// it exists, and who put it there when.
type blockEntry struct {
	Name              string    `json:"name"`
	EntityID          string    `json:"entity_id,omitempty"`
	CommonName        string    `json:"common_name,omitempty"`
	Reason            string    `json:"reason,omitempty"`
	CreatedAt         time.Time `json:"created_at"`
	CreatedBy         string    `json:"created_by"`
	CreatedByEntityID string    `json:"created_by_entity_id,omitempty"`
}

// responseData is the block as blocks/:name shows it.
func (e *blockEntry) responseData() map[string]any {
	return map[string]any{
		"name":                 e.Name,
		"entity_id":            e.EntityID,
		"common_name":          e.CommonName,
		"reason":               e.Reason,
		"created_at":           e.CreatedAt.UTC().Format(time.RFC3339),
		"created_by":           e.CreatedBy,
		"created_by_entity_id": e.CreatedByEntityID,
	}
}

// selector is the field and value of the identity the block covers.
func (e *blockEntry) selector() (string, string) {
	if e.EntityID != "" {
		return fieldEntityID, e.EntityID
	}
	return fieldCommonName, e.CommonName
}

// revocationNote is what the record of a certificate the block revokes
// says of the revocation.
func (e *blockEntry) revocationNote() revocationNote {
	return revocationNote{by: e.CreatedBy, byEntityID: e.CreatedByEntityID, block: e.Name}
}

// isBlocked reports whether err refuses a certificate because of a block.
func isBlocked(err error) bool {
	var be *blockedError
	return errors.As(err, &be)
}

// blockedRefusal is the answer to an issue a block refuses: HTTP 403 with
// a message naming the block.
func blockedRefusal(err error) error {
	return logical.CodedError(http.StatusForbidden, err.Error())
}

// loadBlocks reads every stored block.
func loadBlocks(ctx context.Context, s logical.Storage) ([]*blockEntry, error) {
	names, err := s.List(ctx, blockStoragePrefix)
	if err != nil {
		return nil, fmt.Errorf("list blocks: %w", err)
	}
	out := make([]*blockEntry, 0, len(names))
	for _, name := range names {
		var e blockEntry
		ok, err := getJSON(ctx, s, blockStoragePrefix+name, &e)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, &e)
		}
	}
	return out, nil
}

func pathBlocks(b *backend) []*framework.Path {
	return []*framework.Path{
		{
			Pattern: "blocks/" + framework.GenericNameRegex("name"),
			DisplayAttrs: &framework.DisplayAttributes{
				OperationPrefix: operationPrefixWireGuard,
				OperationSuffix: "block",
			},
			Fields: map[string]*framework.FieldSchema{
				"name": {Type: framework.TypeString, Description: "Name of the block.", Required: true},
				"entity_id": {
					Type:        framework.TypeString,
					Description: "Vault entity id to block: every certificate issued to it. Give this or common_name.",
				},
				"common_name": {
					Type:        framework.TypeString,
					Description: "Common name to block: every certificate bearing it, whoever asked. Give this or entity_id.",
				},
				"reason":  {Type: framework.TypeString, Description: "Why the identity is blocked, for the record."},
				"confirm": confirmField(),
			},
			ExistenceCheck: b.pathBlockExists,
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.ReadOperation:   &framework.PathOperation{Callback: b.pathBlockRead},
				logical.CreateOperation: &framework.PathOperation{Callback: b.withConfirm(b.pathBlockWrite)},
				logical.UpdateOperation: &framework.PathOperation{Callback: b.withConfirm(b.pathBlockWrite)},
				logical.DeleteOperation: &framework.PathOperation{Callback: b.pathBlockDelete},
			},
			HelpSynopsis:    pathBlocksHelpSyn,
			HelpDescription: pathBlocksHelpDesc,
		},
		{
			Pattern: "blocks/?$",
			DisplayAttrs: &framework.DisplayAttributes{
				OperationPrefix: operationPrefixWireGuard,
				OperationVerb:   "list",
				OperationSuffix: "blocks",
			},
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.ListOperation: &framework.PathOperation{Callback: b.pathBlockList},
			},
			HelpSynopsis:    pathBlocksHelpSyn,
			HelpDescription: pathBlocksHelpDesc,
		},
	}
}

func (b *backend) pathBlockExists(ctx context.Context, req *logical.Request, d *framework.FieldData) (bool, error) {
	if err := b.reg.wait(ctx, req.Storage); err != nil {
		return false, err
	}
	return b.reg.block(d.Get("name").(string)) != nil, nil
}

func (b *backend) pathBlockRead(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	if err := b.reg.wait(ctx, req.Storage); err != nil {
		return nil, err
	}
	e := b.reg.block(d.Get("name").(string))
	if e == nil {
		return nil, nil
	}
	return &logical.Response{Data: e.responseData()}, nil
}

func (b *backend) pathBlockList(ctx context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	if err := b.reg.wait(ctx, req.Storage); err != nil {
		return nil, err
	}
	blocks := b.reg.blockList()
	keys := make([]string, 0, len(blocks))
	info := make(map[string]any, len(blocks))
	for _, e := range blocks {
		keys = append(keys, e.Name)
		info[e.Name] = e.responseData()
	}
	return logical.ListResponseWithInfo(keys, info), nil
}

// pathBlockWrite stores the block, then revokes every live certificate of
// the identity. Writing it again (a new reason) revokes again whatever
// escaped a write that failed half-way; its identity cannot change.
func (b *backend) pathBlockWrite(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	name := d.Get("name").(string)
	b.blocksMu.Lock()
	defer b.blocksMu.Unlock()
	if err := b.reg.wait(ctx, req.Storage); err != nil {
		return nil, err
	}

	entityID := strings.TrimSpace(d.Get("entity_id").(string))
	commonName := d.Get("common_name").(string)
	e := b.reg.block(name)
	if e == nil {
		if (entityID == "") == (commonName == "") {
			return logical.ErrorResponse("entity_id or common_name: give exactly one"), nil
		}
		e = &blockEntry{
			Name: name, EntityID: entityID, CommonName: commonName,
			CreatedAt: b.now().UTC().Truncate(time.Second), CreatedBy: req.DisplayName, CreatedByEntityID: req.EntityID,
		}
	} else if (entityID != "" && entityID != e.EntityID) || (commonName != "" && commonName != e.CommonName) {
		field, value := e.selector()
		return logical.ErrorResponse("entity_id or common_name: block %q covers %s %q; delete it and create another to block someone else", name, field, value), nil
	}
	if v, ok := d.GetOk("reason"); ok {
		e.Reason = v.(string)
	}
	if err := putJSON(ctx, req.Storage, blockStoragePrefix+name, e); err != nil {
		return nil, err
	}
	// From here on no certificate of the identity commits (see
	// registry.commit), so the ones found next are all there are.
	b.reg.putBlock(e)

	field, value := e.selector()
	note := e.revocationNote()
	serials := []string{}
	for _, rec := range b.reg.find(b.now(), certQuery{filters: map[string]string{field: value}, live: true}) {
		if err := b.revokeSerialAs(ctx, req.Storage, rec.SerialNumber, note); err != nil {
			return nil, fmt.Errorf("block %s: %w", name, err)
		}
		serials = append(serials, rec.SerialNumber)
	}
	data := e.responseData()
	data["serial_numbers"] = serials
	return &logical.Response{Data: data}, nil
}

func (b *backend) pathBlockDelete(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	name := d.Get("name").(string)
	b.blocksMu.Lock()
	defer b.blocksMu.Unlock()
	if err := b.reg.wait(ctx, req.Storage); err != nil {
		return nil, err
	}
	if err := deleteKey(ctx, req.Storage, blockStoragePrefix+name); err != nil {
		return nil, err
	}
	b.reg.removeBlock(name)
	return nil, nil
}

const pathBlocksHelpSyn = `Block an identity: revoke its certificates and issue it no new one.`

const pathBlocksHelpDesc = `
A block names one identity, by entity_id (every certificate issued to that
Vault entity) or by common_name (every certificate bearing that name). Writing
blocks/:name revokes each of the identity's live certificates at once (listed
in serial_numbers; their records say revoked_by and block) and from then on
issue refuses it with HTTP 403 naming the block, until the block is deleted.
The record keeps who created the block (created_by, created_by_entity_id),
when and why (reason). Blocks are stored: they outlive restarts and leader
changes. Writing an existing block changes only its reason and revokes again.
With confirm, the answer waits until the revocations are enforced by every
gateway instance, as revoke's does (enforced, instances, laggards, stale).
`
