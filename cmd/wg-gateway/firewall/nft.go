package firewall

import (
	"fmt"
	"net/netip"
	"strings"
	"sync"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// Conn is the part of *nftables.Conn the firewall uses.
type Conn interface {
	AddTable(t *nftables.Table) *nftables.Table
	AddChain(c *nftables.Chain) *nftables.Chain
	FlushChain(c *nftables.Chain)
	DelChain(c *nftables.Chain)
	AddRule(r *nftables.Rule) *nftables.Rule
	AddSet(s *nftables.Set, vals []nftables.SetElement) error
	SetAddElements(s *nftables.Set, vals []nftables.SetElement) error
	SetDeleteElements(s *nftables.Set, vals []nftables.SetElement) error
	AddObj(o nftables.Obj) nftables.Obj
	DeleteObject(o nftables.Obj)
	Flush() error
	ListTablesOfFamily(family nftables.TableFamily) ([]*nftables.Table, error)
	ListChainsOfTableFamily(family nftables.TableFamily) ([]*nftables.Chain, error)
	GetSetByName(t *nftables.Table, name string) (*nftables.Set, error)
	GetSetElements(s *nftables.Set) ([]nftables.SetElement, error)
	GetObjects(t *nftables.Table) ([]nftables.Obj, error)
}

// The names of the table's fixed parts.
const (
	set4Name    = "peers4"
	set6Name    = "peers6"
	forwardName = "forward"
	inputName   = "input"
)

// batchOps is how many map elements one netlink transaction carries at
// most, so that a cold start of many peers stays within the socket's
// buffer.
const batchOps = 1000

// A Firewall is the gateway's table in the kernel and what the daemon
// knows it holds. It touches nothing outside its table, never deletes the
// table, and creates it only when a first restricted peer comes.
//
// Its methods may be called from several goroutines: they take turns on
// the connection, so that one lasting netlink socket
// (nftables.AsLasting) serves the run loop's transactions and the
// metrics' reads of the counters. Give it a lasting connection: a
// transient one opens and closes a socket per call, and the kernel makes
// the close of a socket wait for the RCU grace period of every deletion
// committed before it (its pending destroy work), about 10 ms each
// (BenchmarkRevocation).
type Firewall struct {
	// mu serializes the use of conn and guards the fields below.
	mu         sync.Mutex
	conn       Conn
	iface      string
	table      *nftables.Table
	set4, set6 *nftables.Set
	// based says the table, its sets and base chains are in place as
	// this run wants them.
	based bool
	// stale says a transaction failed: the state is read again from the
	// kernel before the next plan.
	stale bool
	state *State
}

// TableName is the name of the table of the gateway serving iface:
// wg_gateway_<iface>, any character but letters, digits and _ as _.
func TableName(iface string) string {
	return "wg_gateway_" + strings.Map(func(r rune) rune {
		if r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '_'
	}, iface)
}

// Open returns the firewall of iface, with what its table holds from an
// earlier run read in (it stays, enforced, until the daemon decides on
// each address). It fails with ErrUnavailable when nftables cannot be used.
func Open(conn Conn, iface string) (*Firewall, error) {
	f := &Firewall{conn: conn, iface: iface,
		table: &nftables.Table{Family: nftables.TableFamilyINet, Name: TableName(iface)}}
	if err := f.load(); err != nil {
		return nil, err
	}
	return f, nil
}

// StateLen is the number of restricted addresses the firewall holds.
func (f *Firewall) StateLen() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.state.Len()
}

// State is what the firewall holds, read again from the kernel first if
// a transaction failed since. It is the firewall's own: read it only from
// the goroutine that applies plans.
func (f *Firewall) State() (*State, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.stale {
		if err := f.load(); err != nil {
			return nil, err
		}
	}
	return f.state, nil
}

// load reads the table into a fresh state.
func (f *Firewall) load() error {
	f.state, f.based, f.set4, f.set6 = NewState(), false, nil, nil
	tables, err := f.conn.ListTablesOfFamily(nftables.TableFamilyINet)
	if err != nil {
		return fmt.Errorf("%w: listing tables: %v", ErrUnavailable, err)
	}
	found := false
	for _, t := range tables {
		found = found || t.Name == f.table.Name
	}
	if !found {
		f.stale = false
		return nil
	}
	chains, err := f.conn.ListChainsOfTableFamily(nftables.TableFamilyINet)
	if err != nil {
		return fmt.Errorf("listing chains of %s: %w", f.table.Name, err)
	}
	var ids []string
	for _, c := range chains {
		if c.Table.Name != f.table.Name {
			continue
		}
		if id, ok := idOfChain(c.Name); ok {
			ids = append(ids, id)
		}
	}
	var elems []Element
	for _, name := range []string{set4Name, set6Name} {
		s, err := f.conn.GetSetByName(f.table, name)
		if err != nil {
			continue // not there: made with the base
		}
		got, err := f.conn.GetSetElements(s)
		if err != nil {
			return fmt.Errorf("reading %s of %s: %w", name, f.table.Name, err)
		}
		for _, e := range got {
			a, ok := netip.AddrFromSlice(e.Key)
			if !ok {
				continue
			}
			if id, ok := idOfChain(verdictChain(e)); ok {
				elems = append(elems, Element{Addr: a, ID: id})
			}
		}
	}
	f.state.load(elems, ids)
	f.stale = false
	return nil
}

// base adds the table, its maps and base chains (hooks forward and input,
// policy accept: the table only ever drops what a rule set refuses) and
// rewrites the base chains' rules, in the pending transaction.
func (f *Firewall) base() {
	f.conn.AddTable(f.table)
	f.maps()
	// AddSet errs only for element lists, which are empty here.
	_ = f.conn.AddSet(f.set4, nil)
	_ = f.conn.AddSet(f.set6, nil)
	accept := nftables.ChainPolicyAccept
	for _, c := range []struct {
		name string
		hook *nftables.ChainHook
	}{{forwardName, nftables.ChainHookForward}, {inputName, nftables.ChainHookInput}} {
		ch := f.conn.AddChain(&nftables.Chain{Table: f.table, Name: c.name, Type: nftables.ChainTypeFilter,
			Hooknum: c.hook, Priority: nftables.ChainPriorityFilter, Policy: &accept})
		f.conn.FlushChain(ch)
		f.conn.AddRule(&nftables.Rule{Table: f.table, Chain: ch, Exprs: ctEstablished()})
		f.conn.AddRule(&nftables.Rule{Table: f.table, Chain: ch, Exprs: dispatch(f.iface, f.set4, false)})
		f.conn.AddRule(&nftables.Rule{Table: f.table, Chain: ch, Exprs: dispatch(f.iface, f.set6, true)})
	}
}

// maps names the table's verdict maps, of IPv4 and of IPv6 addresses.
func (f *Firewall) maps() {
	f.set4 = &nftables.Set{Table: f.table, Name: set4Name, IsMap: true, KeyType: nftables.TypeIPAddr, DataType: nftables.TypeVerdict}
	f.set6 = &nftables.Set{Table: f.table, Name: set6Name, IsMap: true, KeyType: nftables.TypeIP6Addr, DataType: nftables.TypeVerdict}
}

// Tighten applies the plan's first phase (rule sets, then elements) and
// records it in the state. It runs before peers are added. The rule sets
// go in one transaction with the first elements: a device's issue is one
// transaction, whether or not its rule set is new.
func (f *Firewall) Tighten(p Plan) error {
	if !p.Tightens() {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.based {
		f.base()
	}
	for _, rs := range p.AddSets {
		ch := f.conn.AddChain(&nftables.Chain{Table: f.table, Name: chainName(rs.ID)})
		f.conn.FlushChain(ch)
		f.conn.AddObj(&nftables.CounterObj{Table: f.table, Name: counterName(rs.ID)})
		for _, d := range rs.Destinations {
			f.conn.AddRule(&nftables.Rule{Table: f.table, Chain: ch, Exprs: allow(d)})
		}
		f.conn.AddRule(&nftables.Rule{Table: f.table, Chain: ch, Exprs: dropCounted(rs.ID)})
	}
	for i := 0; i == 0 || i < len(p.Put); i += batchOps {
		part := p.Put[i:min(i+batchOps, len(p.Put))]
		var del4, del6, add4, add6 []nftables.SetElement
		for _, e := range part {
			el := nftables.SetElement{Key: addrKey(e.Addr)}
			if _, ok := f.state.addrs[e.Addr]; ok {
				// A map element is changed by deleting and adding it,
				// in one transaction.
				if e.Addr.Is4() {
					del4 = append(del4, el)
				} else {
					del6 = append(del6, el)
				}
			}
			el.VerdictData = &expr.Verdict{Kind: expr.VerdictJump, Chain: chainName(e.ID)}
			if e.Addr.Is4() {
				add4 = append(add4, el)
			} else {
				add6 = append(add6, el)
			}
		}
		if err := f.elements(del4, del6, add4, add6); err != nil {
			return fmt.Errorf("adding map elements: %w", err)
		}
		if err := f.flush(); err != nil {
			return fmt.Errorf("adding rule sets and map elements: %w", err)
		}
		if i == 0 {
			f.based = true
			f.state.CommitTighten(Plan{AddSets: p.AddSets})
		}
		f.state.CommitTighten(Plan{Put: part})
	}
	return nil
}

// Loosen applies the plan's second phase (elements, then unused rule
// sets) and records it in the state. It runs after peers are removed. The
// rule sets go in one transaction with the last elements: a device's
// revocation is one transaction, whether or not its rule set goes too.
func (f *Firewall) Loosen(p Plan) error {
	if !p.Loosens() {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.set4 == nil {
		// A table from an earlier run whose base this run has not
		// rewritten: its maps by name.
		f.maps()
	}
	for i := 0; i == 0 || i < len(p.Delete); i += batchOps {
		part := p.Delete[i:min(i+batchOps, len(p.Delete))]
		var del4, del6 []nftables.SetElement
		for _, a := range part {
			if a.Is4() {
				del4 = append(del4, nftables.SetElement{Key: addrKey(a)})
			} else {
				del6 = append(del6, nftables.SetElement{Key: addrKey(a)})
			}
		}
		if err := f.elements(del4, del6, nil, nil); err != nil {
			return fmt.Errorf("deleting map elements: %w", err)
		}
		last := i+batchOps >= len(p.Delete)
		if last {
			// After the elements that jump to them, in the same
			// transaction.
			for _, id := range p.DropSets {
				f.conn.DelChain(&nftables.Chain{Table: f.table, Name: chainName(id)})
				f.conn.DeleteObject(&nftables.CounterObj{Table: f.table, Name: counterName(id)})
			}
		}
		if err := f.flush(); err != nil {
			return fmt.Errorf("deleting map elements and rule sets: %w", err)
		}
		f.state.CommitLoosen(Plan{Delete: part})
		if last {
			f.state.CommitLoosen(Plan{DropSets: p.DropSets})
		}
	}
	return nil
}

// elements queues the deletion and addition of map elements after what
// is pending in the transaction.
func (f *Firewall) elements(del4, del6, add4, add6 []nftables.SetElement) error {
	for _, op := range []struct {
		set  *nftables.Set
		vals []nftables.SetElement
		add  bool
	}{{f.set4, del4, false}, {f.set6, del6, false}, {f.set4, add4, true}, {f.set6, add6, true}} {
		if len(op.vals) == 0 {
			continue
		}
		var err error
		if op.add {
			err = f.conn.SetAddElements(op.set, op.vals)
		} else {
			err = f.conn.SetDeleteElements(op.set, op.vals)
		}
		if err != nil {
			f.stale = true
			return err
		}
	}
	return nil
}

// flush sends the pending transaction; after a failure the state is read
// again before the next plan.
func (f *Firewall) flush() error {
	if err := f.conn.Flush(); err != nil {
		f.stale = true
		return err
	}
	return nil
}

// Dropped reads the drop counters of the table: packets by rule-set id.
func (f *Firewall) Dropped() (map[string]uint64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return Dropped(f.conn, f.iface)
}

// Dropped reads the drop counters of iface's table through conn: packets
// by rule-set id. A table not there yet has none.
func Dropped(conn Conn, iface string) (map[string]uint64, error) {
	table := &nftables.Table{Family: nftables.TableFamilyINet, Name: TableName(iface)}
	tables, err := conn.ListTablesOfFamily(nftables.TableFamilyINet)
	if err != nil {
		return nil, err
	}
	out := make(map[string]uint64)
	for _, t := range tables {
		if t.Name != table.Name {
			continue
		}
		objs, err := conn.GetObjects(table)
		if err != nil {
			return nil, err
		}
		for _, o := range objs {
			if c, ok := o.(*nftables.CounterObj); ok && strings.HasPrefix(c.Name, "drop_") {
				out[strings.TrimPrefix(c.Name, "drop_")] = c.Packets
			}
		}
	}
	return out, nil
}

var _ Conn = (*nftables.Conn)(nil)

// verdictChain is the chain a map element jumps to. nftables v0.3.0 does
// not decode an element's verdict: it leaves the nested attributes of
// NFTA_DATA_VERDICT in Val.
func verdictChain(e nftables.SetElement) string {
	if e.VerdictData != nil {
		return e.VerdictData.Chain
	}
	ad, err := netlink.NewAttributeDecoder(e.Val)
	if err != nil {
		return ""
	}
	for ad.Next() {
		if ad.Type() == unix.NFTA_VERDICT_CHAIN {
			return strings.TrimRight(string(ad.Bytes()), "\x00")
		}
	}
	return ""
}
