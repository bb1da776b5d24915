package backend

import (
	"context"
	"regexp"
	"sort"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/helper/locksutil"
	"github.com/hashicorp/vault/sdk/logical"
)

// instanceIDPattern is what an instance id may look like: it becomes part
// of a storage key.
var instanceIDPattern = regexp.MustCompile(`^` + instanceIDRegex + `$`)

const instanceIDRegex = `[A-Za-z0-9][A-Za-z0-9._-]*`

// defaultReportInterval is how often a daemon that does not say otherwise
// reports at the least: wg-gateway reports after every apply, and an idle
// one after each full resync (its -resync-interval, 5m by default).
const defaultReportInterval = 5 * time.Minute

// maxReportInterval bounds report_interval.
const maxReportInterval = 24 * time.Hour

// staleReports is how many report intervals an instance may miss before it
// is stale: listed, but no longer counted for enforced.
const staleReports = 3

// statusEntry is what one gateway daemon instance last reported applying.
type statusEntry struct {
	InstanceID   string    `json:"instance_id"`
	AppliedIndex uint64    `json:"applied_index"`
	PeerCount    int       `json:"peer_count"`
	Rejected     int       `json:"rejected"`
	Version      string    `json:"version,omitempty"`
	UpdatedAt    time.Time `json:"updated_at"`
	// ReportInterval is the most time between two reports of the instance,
	// in seconds; 0 is defaultReportInterval.
	ReportInterval int `json:"report_interval,omitempty"`
}

// staleAt is when the entry becomes stale if no report follows.
func (st *statusEntry) staleAt() time.Time {
	every := defaultReportInterval
	if st.ReportInterval > 0 {
		every = time.Duration(st.ReportInterval) * time.Second
	}
	return st.UpdatedAt.Add(staleReports * every)
}

func pathGatewayStatus(b *backend) []*framework.Path {
	return []*framework.Path{
		{
			Pattern: "gateways/" + framework.GenericNameRegex("name") + "/status/(?P<instance_id>" + instanceIDRegex + ")",
			DisplayAttrs: &framework.DisplayAttributes{
				OperationPrefix: operationPrefixWireGuard,
				OperationSuffix: "gateway-status-instance",
			},
			Fields: map[string]*framework.FieldSchema{
				"name":        {Type: framework.TypeString, Description: "Name of the gateway.", Required: true},
				"instance_id": {Type: framework.TypeString, Description: "The daemon instance whose status to delete.", Required: true},
			},
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.DeleteOperation: &framework.PathOperation{
					Callback:     b.pathGatewayStatusDelete,
					DisplayAttrs: &framework.DisplayAttributes{OperationVerb: "delete"},
				},
			},
			HelpSynopsis:    pathGatewayStatusInstanceHelpSyn,
			HelpDescription: pathGatewayStatusInstanceHelpDesc,
		},
		{
			Pattern: "gateways/" + framework.GenericNameRegex("name") + "/status",
			DisplayAttrs: &framework.DisplayAttributes{
				OperationPrefix: operationPrefixWireGuard,
				OperationSuffix: "gateway-status",
			},
			Fields: map[string]*framework.FieldSchema{
				"name":          {Type: framework.TypeString, Description: "Name of the gateway.", Required: true},
				"instance_id":   {Type: framework.TypeString, Description: "Which daemon reports (a host name, say)."},
				"applied_index": {Type: framework.TypeString, Description: "The peer feed revision the daemon has applied."},
				"peer_count":    {Type: framework.TypeInt, Description: "Peers on the daemon's interface."},
				"rejected":      {Type: framework.TypeInt, Description: "Peers the daemon refused (bad certificates)."},
				"version":       {Type: framework.TypeString, Description: "The daemon's version."},
				"report_interval": {
					Type:        framework.TypeDurationSecond,
					Description: "The most time between two reports of this daemon when it is idle (default 5m); after 3 of them without a report, the instance is stale.",
				},
				"index": {
					Type:        framework.TypeString,
					Description: "Reading: the revision to judge the instances against (in_sync, enforced) instead of the current one; with wait, the one to wait for.",
					Query:       true,
				},
				"wait": {
					Type:        framework.TypeDurationSecond,
					Description: "Reading: wait up to this long (at most 30s) until every fresh instance has applied index (default: the current revision).",
					Query:       true,
				},
			},
			ExistenceCheck: func(context.Context, *logical.Request, *framework.FieldData) (bool, error) {
				return true, nil // reports always update the gateway's status
			},
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.ReadOperation: &framework.PathOperation{
					Callback:     b.withGateway(b.pathGatewayStatusRead),
					DisplayAttrs: &framework.DisplayAttributes{OperationVerb: "read"},
				},
				logical.UpdateOperation: &framework.PathOperation{
					Callback:     b.withGateway(b.pathGatewayStatusWrite),
					DisplayAttrs: &framework.DisplayAttributes{OperationVerb: "report"},
				},
			},
			HelpSynopsis:    pathGatewayStatusHelpSyn,
			HelpDescription: pathGatewayStatusHelpDesc,
		},
	}
}

// statusKey is the storage key of an instance's status.
func statusKey(gateway, instance string) string {
	return statusStoragePrefix + gateway + "/" + instance
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
		InstanceID:     id,
		AppliedIndex:   applied,
		PeerCount:      d.Get("peer_count").(int),
		Rejected:       d.Get("rejected").(int),
		Version:        d.Get("version").(string),
		UpdatedAt:      b.now().UTC(),
		ReportInterval: d.Get("report_interval").(int),
	}
	if st.PeerCount < 0 || st.Rejected < 0 {
		return logical.ErrorResponse("peer_count, rejected: must not be negative"), nil
	}
	if _, ok := d.GetOk("report_interval"); ok && (st.ReportInterval < 1 || time.Duration(st.ReportInterval)*time.Second > maxReportInterval) {
		return logical.ErrorResponse("report_interval: must be between 1s and %s", maxReportInterval), nil
	}
	// Serialised with the gateway's deletion, which deletes its status: a
	// report never outlives its gateway.
	lock := locksutil.LockForKey(b.locks, gatewayStoragePrefix+name)
	lock.RLock()
	defer lock.RUnlock()
	if gw, err := b.getGateway(ctx, req.Storage, name); err != nil || gw == nil {
		if err != nil {
			return nil, err
		}
		return logical.ErrorResponse("name: unknown gateway %q", name), nil
	}
	if err := putJSON(ctx, req.Storage, statusKey(name, id), &st); err != nil {
		return nil, err
	}
	b.statusWaiters.notify(name)
	return nil, nil
}

func (b *backend) pathGatewayStatusRead(ctx context.Context, req *logical.Request, d *framework.FieldData, gw *gatewayEntry) (*logical.Response, error) {
	name := gw.Name
	if err := b.reg.wait(ctx, req.Storage); err != nil {
		return nil, err
	}
	current := b.reg.index(name)
	target, err := parseIndex(d.Get("index").(string))
	if err != nil {
		return logical.ErrorResponse("index: %s", err), nil
	}
	if target > current {
		return logical.ErrorResponse("index: %d is ahead of the gateway's revision %d", target, current), nil
	}
	if target == 0 {
		target = current
	}
	wait, msg := confirmDuration(d, "wait")
	if msg != "" {
		return logical.ErrorResponse(msg), nil
	}
	if wait > 0 {
		if _, err := b.awaitEnforced(ctx, req.Storage, map[string]uint64{name: target}, wait); err != nil {
			return nil, err
		}
	}
	entries, err := listStatus(ctx, req.Storage, name)
	if err != nil {
		return nil, err
	}
	instances, enforced := summarizeStatus(b.now(), target, entries)
	return &logical.Response{Data: map[string]any{
		"gateway":      name,
		"index":        b.reg.index(name),
		"target_index": target,
		"live_peers":   b.reg.liveCount(name),
		"instances":    instances,
		"enforced":     enforced,
	}}, nil
}

// listStatus reads every instance's status of a gateway.
func listStatus(ctx context.Context, s logical.Storage, gateway string) ([]statusEntry, error) {
	ids, err := s.List(ctx, statusStoragePrefix+gateway+"/")
	if err != nil {
		return nil, err
	}
	sort.Strings(ids)
	out := make([]statusEntry, 0, len(ids))
	for _, id := range ids {
		var st statusEntry
		ok, err := getJSON(ctx, s, statusKey(gateway, id), &st)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, st)
		}
	}
	return out, nil
}

// summarizeStatus shows each instance next to the gateway's index at now.
// enforced is true when at least one instance is fresh and every fresh one
// has applied index; a stale one (no report for staleReports report
// intervals: retired, or broken) is listed but not counted.
func summarizeStatus(now time.Time, index uint64, entries []statusEntry) (map[string]any, bool) {
	instances := make(map[string]any, len(entries))
	fresh, inSync := 0, true
	for _, st := range entries {
		stale := now.After(st.staleAt())
		instances[st.InstanceID] = map[string]any{
			"applied_index": st.AppliedIndex,
			"peer_count":    st.PeerCount,
			"rejected":      st.Rejected,
			"version":       st.Version,
			"updated_at":    st.UpdatedAt.Format(time.RFC3339Nano),
			"in_sync":       st.AppliedIndex >= index,
			"stale":         stale,
			"stale_at":      st.staleAt().Format(time.RFC3339Nano),
		}
		if !stale {
			fresh++
			inSync = inSync && st.AppliedIndex >= index
		}
	}
	return instances, fresh > 0 && inSync
}

func (b *backend) pathGatewayStatusDelete(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	// No gateway lookup: the status of a gateway deleted before deletion
	// took its status along can be deleted too.
	return nil, deleteKey(ctx, req.Storage, statusKey(d.Get("name").(string), d.Get("instance_id").(string)))
}

// deleteStatus deletes every instance's status of a gateway.
func deleteStatus(ctx context.Context, s logical.Storage, gateway string) error {
	ids, err := s.List(ctx, statusStoragePrefix+gateway+"/")
	if err != nil {
		return err
	}
	for _, id := range ids {
		if err := deleteKey(ctx, s, statusKey(gateway, id)); err != nil {
			return err
		}
	}
	return nil
}

const pathGatewayStatusHelpSyn = `What each gateway daemon has applied, and whether it has caught up.`

const pathGatewayStatusHelpDesc = `
Gateway daemons write their instance_id, the peer feed revision they applied
(applied_index), their peer count and how many peers they rejected, and
optionally report_interval, the most time between two of their reports when
idle (default 5m: wg-gateway reports after every apply and at each full
resync). Reading shows every instance next to the gateway's current index.
An instance that has not reported for 3 report intervals is stale: retired
or broken. enforced is true when at least one instance is fresh and every
fresh instance has applied the current index, so an operator can see that a
revocation has taken effect; a stale instance is listed (stale=true) but not
counted. Delete a retired instance with gateways/:name/status/:instance_id.

Reading with index=N judges the instances against revision N (target_index)
instead of the current one: after a lease revocation, say, read the index
first, then wait. With wait (at most 30s), the read returns as soon as every
fresh instance has applied the target (N, or the current revision without
index), or when wait has passed; enforced then says which.
`

const pathGatewayStatusInstanceHelpSyn = `Forget one gateway daemon instance's status.`

const pathGatewayStatusInstanceHelpDesc = `
Deletes what the instance last reported, for a daemon that was retired. A
daemon still running reports again and reappears. Deleting a gateway deletes
the status of all its instances.
`
