// Package localstatus is `wslfwd-agent status`: the running agent serves
// what it knows of itself and of its listeners on a Unix socket inside
// the distro, and the status command reads it. No token is needed beyond
// the agent's: the daemon already tells the agent what became of each of
// its listeners (package session keeps it), so the distro's root can see
// it without reaching the daemon at all.
//
// The document is built only when asked; nothing here runs on the
// agent's per-event path.
package localstatus

import (
	"fmt"
	"time"

	"github.com/wslfwd/wslfwd/agent-linux/session"
	"github.com/wslfwd/wslfwd/agent-linux/tracker"
	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/internal/endpoint"
	"github.com/wslfwd/wslfwd/internal/enumtext"
	"github.com/wslfwd/wslfwd/internal/netproto"
)

// DefaultSocket is where the agent serves its status unless told
// otherwise (--status-socket).
const DefaultSocket = "/run/wslfwd/agent.sock"

// Document is what the agent answers on its status socket, as JSON.
type Document struct {
	AgentVersion   string     `json:"agent_version"`
	Distro         string     `json:"distro"`
	NetworkingMode string     `json:"networking_mode"`
	Detection      Detection  `json:"detection"`
	Daemon         Daemon     `json:"daemon"`
	Listeners      []Listener `json:"listeners"`
	// Error alone is set when the agent refuses the request.
	Error string `json:"error,omitempty"`
}

// Detection says how the agent learns of each protocol's listeners:
// "events" (eBPF) or "scans".
type Detection struct {
	TCP string `json:"tcp"`
	UDP string `json:"udp"`
}

// Daemon is the agent's connection to the daemon.
type Daemon struct {
	Address   string `json:"address"`
	Why       string `json:"why"` // why that address
	Connected bool   `json:"connected"`
	Version   string `json:"version,omitempty"`
	// Since is when the stream was welcomed or, when not connected, when
	// the connection was lost or first failed.
	Since     time.Time `json:"since,omitzero"`
	LastError string    `json:"last_error,omitempty"`
	RetryAt   time.Time `json:"retry_at,omitzero"`
}

// Listener is one of the distro's listeners and what became of it.
type Listener struct {
	Protocol string `json:"protocol"`
	Listen   string `json:"listen"`
	Port     uint32 `json:"port"`
	V6Only   bool   `json:"v6only,omitempty"`
	Process  string `json:"process,omitempty"`
	PID      uint32 `json:"pid,omitempty"`
	UID      uint32 `json:"uid"`
	// State is the daemon's word (ACTIVE, BLOCKED, CONFLICT, ERROR,
	// DIRECT, PENDING), or StatePending, StateNotConnected or
	// StateUnreported.
	State     string `json:"state"`
	Reason    string `json:"reason,omitempty"`
	ExposedAt string `json:"exposed_at,omitempty"`
	// AsAsked: the daemon acted on the listener and said nothing of it,
	// which means forwarded on its own port (where, only it knows).
	AsAsked bool `json:"as_asked,omitempty"`
}

// States and reasons the agent gives where the daemon said nothing.
const (
	StatePending      = "PENDING"
	StateNotConnected = "NOT_CONNECTED"
	StateUnreported   = "UNREPORTED"

	ReasonPending      = "the daemon has not acted on it yet"
	ReasonNotConnected = "not connected to the daemon"
)

// ReasonUnreported says why a listener was left out of what the daemon
// heard.
func ReasonUnreported(max uint32) string {
	return fmt.Sprintf("not reported, so not forwarded: the distro has more listeners than the daemon accepts (%d)", max)
}

// Input is what a document is built from.
type Input struct {
	Hello     *wslfwdv1.AgentHello
	Addr, Why string        // the daemon's address and why that one
	State     tracker.State // the agent's listeners now
	Report    session.Report
}

// Build makes the document: every listener of in.State, sorted, with the
// daemon's verdict on it.
func Build(in Input) Document {
	d := in.Hello.GetDetection()
	r := in.Report
	doc := Document{
		AgentVersion:   in.Hello.GetAgentVersion(),
		Distro:         in.Hello.GetDistro(),
		NetworkingMode: endpoint.ModeName(in.Hello.GetNetworkingMode()),
		Detection:      Detection{TCP: enumtext.Detection(d.GetTcp()), UDP: enumtext.Detection(d.GetUdp())},
		Daemon: Daemon{Address: in.Addr, Why: in.Why, Connected: r.Connected, Version: r.DaemonVersion,
			Since: r.Since, LastError: r.LastError, RetryAt: r.RetryAt},
		Listeners: []Listener{},
	}
	for _, l := range in.State.Snapshot(0).GetListeners() {
		doc.Listeners = append(doc.Listeners, verdict(l, r))
	}
	return doc
}

// verdict is l with what became of it: not connected, else what the
// daemon said, else as asked once the daemon acted on it, else pending.
func verdict(l *wslfwdv1.Listener, r session.Report) Listener {
	out := Listener{Protocol: netproto.Name(l.GetProtocol()), Listen: l.GetListen(), Port: l.GetPort(), V6Only: l.GetV6Only(),
		Process: l.GetProcessName(), PID: l.GetPid(), UID: l.GetUid()}
	switch st := r.StatusOf(l); {
	case !r.Connected:
		out.State, out.Reason = StateNotConnected, ReasonNotConnected
	case r.Unreported(l):
		out.State, out.Reason = StateUnreported, ReasonUnreported(r.MaxListeners)
	case st != nil:
		out.State, out.Reason, out.ExposedAt = enumtext.State(st.GetState()), st.GetReason(), st.GetExposedAt()
	case r.ActedOn(l):
		out.State, out.AsAsked = enumtext.State(wslfwdv1.ForwardState_FORWARD_STATE_ACTIVE), true
	default:
		out.State, out.Reason = StatePending, ReasonPending
	}
	return out
}
