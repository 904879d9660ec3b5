package engine

import (
	"fmt"
	"time"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/hostd-windows/agents"
	"github.com/wslfwd/wslfwd/hostd-windows/backend"
	"github.com/wslfwd/wslfwd/hostd-windows/ledger"
	"github.com/wslfwd/wslfwd/hostd-windows/reconcile"
	"github.com/wslfwd/wslfwd/hostd-windows/wire"
)

// holds are the forwards a restarted daemon adopts from its ledger and
// keeps as they stand while agents reconnect. A daemon's first run comes
// before any agent is back; wanting only what connected agents report
// would delete every forward and add it again a reconnect later, a gap in
// every forward at every restart and upgrade. So a forward of a distro
// whose agent is not back is held for the grace period from the start,
// exactly as an agent that went away keeps its forwards: when the agent
// returns, the policy decides again (a forward still wanted continues
// untouched, one no longer wanted goes); when grace ends first, it goes.
// Only a durable backend's ledger survives a restart, so the relay has
// nothing to hold. Used by the engine goroutine only.
type holds struct {
	until   time.Time
	records []ledger.Record
}

// current drops the holds that ended, because the distro's agent is back
// (the registry holds it, connected or in its own grace) or grace is over,
// and returns the rest. An entry recorded without a distro (a ledger of an
// older wslfwd) waits for grace alone.
func (h *holds) current(now time.Time, list []agents.Agent) []ledger.Record {
	if !now.Before(h.until) {
		h.records = nil
		return nil
	}
	present := make(map[string]bool, len(list))
	for _, a := range list {
		present[a.Distro] = true
	}
	kept := h.records[:0]
	for _, r := range h.records {
		if r.Distro == "" || !present[r.Distro] {
			kept = append(kept, r)
		}
	}
	h.records = kept
	return kept
}

// heldReason says why a forward no agent wants is still there.
func heldReason(distro string, until time.Time) string {
	who := "the agent of " + distro
	if distro == "" {
		who = "an agent that wants it (the ledger does not name its distro)"
	}
	return fmt.Sprintf("held after daemon restart; waiting for %s until %s", who, until.UTC().Format(time.TimeOnly+"Z"))
}

// addHeldRows adds a row for every held entry that the reconciler kept and
// no wanted forward shows. Called with d.mu.
func (d *Engine) addHeldRows(next map[rowKey]*row, held []ledger.Record, wanted map[backend.Key]bool, rep reconcile.Report, now time.Time) {
	for _, h := range held {
		e := h.Entry
		out, kept := rep.Outcomes[e.Key()]
		if !kept || wanted[e.Key()] {
			continue
		}
		f := &wslfwdv1.Forward{
			Protocol:       wire.ProtocolToProto(e.Protocol),
			ListenAddress:  e.Listen.Addr().String(),
			ListenPort:     uint32(e.Listen.Port()),
			ConnectAddress: e.Connect.Addr().String(),
			ConnectPort:    uint32(e.Connect.Port()),
			Distro:         h.Distro,
			State:          out.State,
			Reason:         heldReason(h.Distro, d.held.until),
		}
		if out.State == wslfwdv1.ForwardState_FORWARD_STATE_ACTIVE {
			f.Backend = d.opts.Backend.Name()
		} else {
			f.Reason = out.Reason + "; " + f.Reason
		}
		k := rowKey{distro: h.Distro, protocol: f.Protocol, port: f.ConnectPort, host: e.Listen}
		f.Since = ts(now)
		if old, ok := d.table[k]; ok && old.fwd.GetState() == f.GetState() {
			f.Since = old.fwd.GetSince()
		}
		next[k] = &row{key: k, fwd: f, wanted: true, exists: out.Exists, held: true}
	}
}
