package engine

import (
	"cmp"
	"maps"
	"net/netip"
	"slices"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/hostd-windows/backend"
	"github.com/wslfwd/wslfwd/hostd-windows/firewall"
	"github.com/wslfwd/wslfwd/hostd-windows/policy"
	"github.com/wslfwd/wslfwd/hostd-windows/reconcile"
	"github.com/wslfwd/wslfwd/hostd-windows/wire"
)

// rowKey identifies a row of the forwards table across runs: where the
// wish comes from (origin, distro, the listener) and the host side.
type rowKey struct {
	origin   wslfwdv1.ForwardOrigin
	distro   string
	protocol wslfwdv1.Protocol
	listener string // listener bind address; empty for static forwards
	port     uint32 // listener port, or the static forward's distro port
	host     netip.AddrPort
}

// row is one forward, or one listener not forwarded.
type row struct {
	key      rowKey
	fwd      *wslfwdv1.Forward
	wanted   bool   // policy wants it forwarded (listed without "all")
	exists   bool   // the backend holds its entry (reconcile.Outcome.Exists)
	held     bool   // held after a restart for its distro's agent (holds)
	agentID  string // session whose listener it is; empty for statics
	listener *wslfwdv1.Listener
	// Set when the row joins the table.
	group   uint16        // port group (policy.Groups) of its host port
	rule    firewall.Rule // the inbound rule it needs, if hasRule
	hasRule bool
	// counted is when the listener arrived whose time to ACTIVE was
	// counted (levels.go); carried from row to row of one key.
	counted time.Time
}

// entryKey is the backend key of a wanted row's entry.
func (r *row) entryKey() backend.Key {
	p, _ := wire.ProtocolFromProto(r.key.protocol)
	return backend.Key{Protocol: p, Listen: r.key.host}
}

// hostPort is the port by which the policy groups the row: the host port,
// or the listener's port when no host side is known.
func (k rowKey) hostPort() uint16 {
	if k.host.IsValid() {
		return k.host.Port()
	}
	return uint16(k.port)
}

// index is what lets a step replace a few rows of the forwards table
// without walking the rest: the rows by port group, the failed rows
// counted and the firewall rules the rows need. Guarded by Engine.mu;
// only the engine goroutine changes it, with the table.
type index struct {
	byGroup map[uint16]map[rowKey]*row
	failing int // wanted rows in ERROR or CONFLICT, which a retry may cure
	rules   ruleCounts
	states  stateCounts
}

func newIndex() index {
	return index{byGroup: make(map[uint16]map[rowKey]*row), rules: ruleCounts{}, states: stateCounts{}}
}

// rowsIn returns the rows of the given port groups; nil means all of them.
// Called by the engine goroutine.
func (d *Engine) rowsIn(only map[uint16]bool) map[rowKey]*row {
	if only == nil {
		return d.table
	}
	out := make(map[rowKey]*row)
	for g := range only {
		maps.Copy(out, d.index.byGroup[g])
	}
	return out
}

// replaceRows swaps the rows of the given port groups (nil: all) for
// next, whose rows must all be of those groups, and reports whether the
// firewall rules changed. Called with d.mu.
func (d *Engine) replaceRows(only map[uint16]bool, next map[rowKey]*row, modes map[string]wslfwdv1.NetworkingMode) bool {
	x := &d.index
	changed := false
	if only == nil {
		d.table, *x = make(map[rowKey]*row, len(next)), newIndex()
		changed = true
	}
	for g := range only {
		for k, r := range x.byGroup[g] {
			delete(d.table, k)
			x.failing -= failing(r)
			x.states.add(r, -1)
			changed = x.rules.remove(r) || changed
		}
		delete(x.byGroup, g)
	}
	for k, r := range next {
		r.group = d.groups.Of(k.hostPort())
		r.rule, r.hasRule = ruleOf(r, modes[r.fwd.GetDistro()])
		d.table[k] = r
		if x.byGroup[r.group] == nil {
			x.byGroup[r.group] = make(map[rowKey]*row)
		}
		x.byGroup[r.group][k] = r
		x.failing += failing(r)
		x.states.add(r, 1)
		changed = x.rules.add(r) || changed
	}
	return changed
}

// failing is 1 for a wanted row in ERROR or CONFLICT, which a retry may
// cure, else 0.
func failing(r *row) int {
	if st := r.fwd.GetState(); r.wanted && (st == wslfwdv1.ForwardState_FORWARD_STATE_ERROR || st == wslfwdv1.ForwardState_FORWARD_STATE_CONFLICT) {
		return 1
	}
	return 0
}

// ts converts a time for the wire.
func ts(t time.Time) *timestamppb.Timestamp { return timestamppb.New(t) }

// buildTable merges the policy's decisions with the reconciler's outcomes.
// A row keeps its "since" while its state stays the same. Called with d.mu.
func (d *Engine) buildTable(decisions []policy.Decision, rep reconcile.Report, now time.Time) map[rowKey]*row {
	next := make(map[rowKey]*row, len(decisions))
	for _, dc := range decisions {
		f := &wslfwdv1.Forward{
			Distro: dc.Distro,
			Origin: dc.Origin,
			State:  dc.State,
			Reason: dc.Reason,
		}
		k := rowKey{origin: dc.Origin, distro: dc.Distro}
		if l := dc.Listener; l != nil {
			f.Protocol = l.GetProtocol()
			f.ListenerAddress = l.GetListen()
			f.ProcessName = l.GetProcessName()
			f.Pid = l.GetPid()
			f.ListenPort = l.GetPort()
			f.ConnectPort = l.GetPort()
			k.listener, k.port = l.GetListen(), l.GetPort()
		}
		if e := dc.Entry; e.Listen.IsValid() {
			f.Protocol = wire.ProtocolToProto(e.Protocol)
			f.ListenAddress = e.Listen.Addr().String()
			f.ListenPort = uint32(e.Listen.Port())
			if e.Connect.IsValid() {
				f.ConnectAddress = e.Connect.Addr().String()
				f.ConnectPort = uint32(e.Connect.Port())
			}
			k.host = e.Listen
		}
		if st := dc.Static; st != nil {
			f.ConnectPort = uint32(st.Port)
			k.port = uint32(st.Port)
		}
		k.protocol = f.Protocol
		exists := false
		if dc.Want || dc.Carried {
			exists = d.outcome(f, dc, rep) && dc.Want
		}
		if prev, ok := next[k]; ok && prev.wanted && !dc.Want {
			// Two sockets of one distro on one address and port
			// (SO_REUSEPORT) make one row: the forward, which the other
			// socket's decision (carried) must not hide. Incremental steps
			// find the forward's entry by that row.
			continue
		}
		f.Since = ts(now)
		r := &row{key: k, fwd: f, wanted: dc.Want, exists: exists, agentID: dc.AgentID, listener: dc.Listener}
		if old, ok := d.table[k]; ok {
			r.counted = old.counted
			if old.fwd.GetState() == f.GetState() {
				f.Since = old.fwd.GetSince()
			}
		}
		next[k] = r
	}
	return next
}

// outcome gives f, the row of a wanted or carried decision, the state the
// reconciler reports for its forward, and says whether the entry exists.
// A carried row keeps its reason, which names whose forward carries it.
func (d *Engine) outcome(f *wslfwdv1.Forward, dc policy.Decision, rep reconcile.Report) bool {
	out, ok := rep.Outcomes[dc.Entry.Key()]
	switch {
	case ok:
		f.State, f.Reason = out.State, out.Reason
	case rep.Err != nil:
		f.State, f.Reason = wslfwdv1.ForwardState_FORWARD_STATE_ERROR, rep.Err.Error()
	default:
		f.State, f.Reason = wslfwdv1.ForwardState_FORWARD_STATE_PENDING, "not yet applied"
	}
	if f.State == wslfwdv1.ForwardState_FORWARD_STATE_ACTIVE {
		f.Backend = d.opts.Backend.Name()
		f.Reason = ""
		if dc.Carried {
			f.Reason = dc.Reason
		}
	}
	return ok && out.Exists
}

// compareForwards orders forwards as ListForwards lists them: by protocol,
// listen port and address, then by distro and listener.
func compareForwards(a, b *wslfwdv1.Forward) int {
	return cmp.Or(
		cmp.Compare(a.GetProtocol(), b.GetProtocol()),
		cmp.Compare(a.GetListenPort(), b.GetListenPort()),
		cmp.Compare(a.GetListenAddress(), b.GetListenAddress()),
		cmp.Compare(a.GetDistro(), b.GetDistro()),
		cmp.Compare(a.GetListenerAddress(), b.GetListenerAddress()),
		cmp.Compare(a.GetOrigin(), b.GetOrigin()),
		cmp.Compare(a.GetConnectPort(), b.GetConnectPort()),
	)
}

func sortedRows(t map[rowKey]*row) []*row {
	rows := make([]*row, 0, len(t))
	for _, r := range t {
		rows = append(rows, r)
	}
	slices.SortFunc(rows, func(a, b *row) int { return compareForwards(a.fwd, b.fwd) })
	return rows
}

// sameButSince reports whether two forwards differ only in "since".
func sameButSince(a, b *wslfwdv1.Forward) bool {
	a2, b2 := proto.CloneOf(a), proto.CloneOf(b)
	a2.Since, b2.Since = nil, nil
	return proto.Equal(a2, b2)
}

// diff turns the change from prev to next into events: removals first,
// then additions and changes, each in table order. A held forward that
// its returning agent's row takes over is one forward going on: a CHANGED,
// not a removal and an addition.
func diff(prev, next map[rowKey]*row, now time.Time) []*wslfwdv1.WatchResponse {
	var evs []*wslfwdv1.WatchResponse
	ev := func(kind wslfwdv1.ForwardEventKind, f *wslfwdv1.Forward) {
		evs = append(evs, &wslfwdv1.WatchResponse{Time: ts(now), Event: &wslfwdv1.WatchResponse_Forward{
			Forward: &wslfwdv1.ForwardEvent{Kind: kind, Forward: f},
		}})
	}
	took := takeovers(prev, next)
	continued := make(map[rowKey]bool, len(took))
	for _, old := range took {
		continued[old.key] = true
	}
	for _, r := range sortedRows(prev) {
		if _, ok := next[r.key]; !ok && !continued[r.key] {
			ev(wslfwdv1.ForwardEventKind_FORWARD_EVENT_KIND_REMOVED, r.fwd)
		}
	}
	for _, r := range sortedRows(next) {
		old, ok := prev[r.key]
		if ok && sameButSince(old.fwd, r.fwd) {
			continue
		}
		if !ok {
			old = took[r.key] // nil unless it continues a held row
		}
		ev(eventKind(old, r), r.fwd)
	}
	return evs
}

// takeovers maps each new row of next that continues a held row of prev
// (same distro and entry) to that row.
func takeovers(prev, next map[rowKey]*row) map[rowKey]*row {
	out := make(map[rowKey]*row)
	for _, r := range next {
		if _, kept := prev[r.key]; kept || r.held {
			continue
		}
		k := rowKey{distro: r.key.distro, protocol: r.key.protocol, port: r.fwd.GetConnectPort(), host: r.key.host}
		if old, ok := prev[k]; ok && old.held && old.fwd.GetConnectAddress() == r.fwd.GetConnectAddress() {
			out[r.key] = old
		}
	}
	return out
}

// eventKind names the change from old (nil when new) to r.
func eventKind(old, r *row) wslfwdv1.ForwardEventKind {
	switch r.fwd.GetState() {
	case wslfwdv1.ForwardState_FORWARD_STATE_ACTIVE:
		if old == nil || old.fwd.GetState() != wslfwdv1.ForwardState_FORWARD_STATE_ACTIVE {
			return wslfwdv1.ForwardEventKind_FORWARD_EVENT_KIND_ADDED
		}
	case wslfwdv1.ForwardState_FORWARD_STATE_ERROR:
		return wslfwdv1.ForwardEventKind_FORWARD_EVENT_KIND_FAILED
	}
	return wslfwdv1.ForwardEventKind_FORWARD_EVENT_KIND_CHANGED
}
