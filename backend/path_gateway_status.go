package backend

import (
	"context"
	"regexp"
	"sort"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
)

// instanceIDPattern is what an instance id may look like: it becomes part
// of a storage key.
var instanceIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// statusEntry is what one gateway daemon instance last reported applying.
type statusEntry struct {
	InstanceID   string    `json:"instance_id"`
	AppliedIndex uint64    `json:"applied_index"`
	PeerCount    int       `json:"peer_count"`
	Rejected     int       `json:"rejected"`
	Version      string    `json:"version,omitempty"`
	UpdatedAt    time.Time `json:"updated_at"`
}

func pathGatewayStatus(b *backend) []*framework.Path {
	return []*framework.Path{{
		Pattern: "gateways/" + framework.GenericNameRegex("name") + "/status",
		Fields: map[string]*framework.FieldSchema{
			"name":          {Type: framework.TypeString, Description: "Name of the gateway.", Required: true},
			"instance_id":   {Type: framework.TypeString, Description: "Which daemon reports (a host name, say)."},
			"applied_index": {Type: framework.TypeString, Description: "The peer feed revision the daemon has applied."},
			"peer_count":    {Type: framework.TypeInt, Description: "Peers on the daemon's interface."},
			"rejected":      {Type: framework.TypeInt, Description: "Peers the daemon refused (bad certificates)."},
			"version":       {Type: framework.TypeString, Description: "The daemon's version."},
		},
		ExistenceCheck: func(context.Context, *logical.Request, *framework.FieldData) (bool, error) {
			return true, nil // reports always update the gateway's status
		},
		Operations: map[logical.Operation]framework.OperationHandler{
			logical.ReadOperation:   &framework.PathOperation{Callback: b.withGateway(b.pathGatewayStatusRead)},
			logical.UpdateOperation: &framework.PathOperation{Callback: b.withGateway(b.pathGatewayStatusWrite)},
		},
		HelpSynopsis:    pathGatewayStatusHelpSyn,
		HelpDescription: pathGatewayStatusHelpDesc,
	}}
}

func (b *backend) pathGatewayStatusWrite(ctx context.Context, req *logical.Request, d *framework.FieldData, gw *gatewayEntry) (*logical.Response, error) {
	name := gw.Name
	id := d.Get("instance_id").(string)
	if id == "" || len(id) > 128 || !instanceIDPattern.MatchString(id) {
		return logical.ErrorResponse("instance_id: %q must be 1-128 letters, digits, dots, dashes or underscores", id), nil
	}
	applied, err := parseIndex(d.Get("applied_index").(string))
	if err != nil {
		return logical.ErrorResponse("applied_index: %s", err), nil
	}
	st := statusEntry{
		InstanceID:   id,
		AppliedIndex: applied,
		PeerCount:    d.Get("peer_count").(int),
		Rejected:     d.Get("rejected").(int),
		Version:      d.Get("version").(string),
		UpdatedAt:    b.now().UTC(),
	}
	if st.PeerCount < 0 || st.Rejected < 0 {
		return logical.ErrorResponse("peer_count, rejected: must not be negative"), nil
	}
	return nil, putJSON(ctx, req.Storage, statusStoragePrefix+name+"/"+id, &st)
}

func (b *backend) pathGatewayStatusRead(ctx context.Context, req *logical.Request, d *framework.FieldData, gw *gatewayEntry) (*logical.Response, error) {
	name := gw.Name
	if err := b.reg.wait(ctx, req.Storage); err != nil {
		return nil, err
	}
	index := b.reg.index(name)
	ids, err := req.Storage.List(ctx, statusStoragePrefix+name+"/")
	if err != nil {
		return nil, err
	}
	sort.Strings(ids)
	instances := make(map[string]any, len(ids))
	enforced := len(ids) > 0
	for _, id := range ids {
		var st statusEntry
		ok, err := getJSON(ctx, req.Storage, statusStoragePrefix+name+"/"+id, &st)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		instances[id] = map[string]any{
			"applied_index": st.AppliedIndex,
			"peer_count":    st.PeerCount,
			"rejected":      st.Rejected,
			"version":       st.Version,
			"updated_at":    st.UpdatedAt.Format(time.RFC3339Nano),
			"in_sync":       st.AppliedIndex >= index,
		}
		enforced = enforced && st.AppliedIndex >= index
	}
	return &logical.Response{Data: map[string]any{
		"gateway":    name,
		"index":      index,
		"live_peers": b.reg.liveCount(name),
		"instances":  instances,
		"enforced":   enforced,
	}}, nil
}

// index is the gateway's current revision.
func (r *registry) index(gateway string) uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.feed(gateway).index
}

const pathGatewayStatusHelpSyn = `What each gateway daemon has applied, and whether it has caught up.`

const pathGatewayStatusHelpDesc = `
Gateway daemons write their instance_id, the peer feed revision they applied
(applied_index), their peer count and how many peers they rejected. Reading
shows every instance next to the gateway's current index: enforced is true
when every instance has applied it, so an operator can see that a revocation
has taken effect on all of them.
`
