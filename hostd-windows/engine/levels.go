package engine

import (
	"cmp"
	"slices"
	"time"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/hostd-windows/agents"
	"github.com/wslfwd/wslfwd/hostd-windows/metrics"
)

// stateKey is what the forwards table is counted by: a row's state and
// the backend carrying it.
type stateKey struct {
	state   wslfwdv1.ForwardState
	backend string
}

// stateCounts counts the table's rows by stateKey, kept up to date row by
// row as steps replace them, so reading it costs nothing per forward.
type stateCounts map[stateKey]int

func (c stateCounts) add(r *row, n int) {
	k := stateKey{r.fwd.GetState(), r.fwd.GetBackend()}
	if c[k] += n; c[k] == 0 {
		delete(c, k)
	}
}

// levels are the figures the engine owns, for metrics.Snapshot: the rows
// of the forwards table by state and backend, and the agents connected.
func (d *Engine) levels() metrics.Levels {
	d.mu.Lock()
	fs := make([]metrics.ForwardCount, 0, len(d.index.states))
	for k, n := range d.index.states {
		fs = append(fs, metrics.ForwardCount{State: k.state, Backend: k.backend, Count: n})
	}
	d.mu.Unlock()
	slices.SortFunc(fs, func(a, b metrics.ForwardCount) int {
		return cmp.Or(cmp.Compare(a.State, b.State), cmp.Compare(a.Backend, b.Backend))
	})
	return metrics.Levels{Forwards: fs, AgentsConnected: len(d.reg.Distros(true))}
}

// countActivations counts, for each row of next that is ACTIVE for an
// agent's listener, the time from the daemon receiving the message that
// brought the listener (agents.Agent.ArrivedAt) to now, the step's answer
// from the reconciler: once per arrival, so a forward that fails, comes
// back or is decided again is not counted twice, and a listener opened
// anew is counted again. The agent's own time to notice the listener is
// not in it: the protocol does not carry when the agent saw it.
func (d *Engine) countActivations(next map[rowKey]*row, present []agents.Agent, now time.Time) {
	byID := make(map[string]agents.Agent, len(present))
	for _, a := range present {
		byID[a.Session.ID] = a
	}
	var qs []agents.Arrival
	var rows []*row
	for _, r := range next {
		if r.fwd.GetState() != wslfwdv1.ForwardState_FORWARD_STATE_ACTIVE || r.listener == nil {
			continue
		}
		if a, ok := byID[r.agentID]; ok {
			qs = append(qs, agents.Arrival{Agent: a, Listener: r.listener})
			rows = append(rows, r)
		}
	}
	agents.ArrivedAt(qs)
	for i, q := range qs {
		if r := rows[i]; q.Found && !q.At.Equal(r.counted) {
			d.m.EventToActive(now.Sub(q.At))
			r.counted = q.At
		}
	}
}
