// Package agents holds what the daemon knows about each connected agent: its hello,
// network state and listeners, applied from the agent's snapshot and
// changes with sequence checks, and the grace period that keeps a gone
// agent's forwards up for a while so an agent restart does not flap them.
//
// Every message is validated whole before anything changes: a bad message
// is rejected with a gRPC status (InvalidArgument, PermissionDenied,
// ResourceExhausted) and the registry stays as it was.
//
// An agent is untrusted input: root in any distro can read the agent token.
// What an agent may cause is bound to what its connection proves, not to
// what it reports:
//   - In NAT mode its only forward target is the source address of its
//     connection, and only if TargetRules allow it (never loopback,
//     link-local, multicast, documentation ranges or the host's own
//     addresses; else the hello gets PermissionDenied). The interfaces it
//     reports are information. Mirrored mode and WSL1 have no targets.
//   - One live agent per distro: a hello for a connected distro is refused
//     (AlreadyExists) unless it comes from the live session's address (an
//     agent restart) or carries its instance id (the same agent, reconnecting
//     from the distro's new address); either replaces the old session.
//   - One cap of distinct ports per source, the whole VM, whatever distro
//     names its agents give (vmcap.go): listeners past it are held, never
//     forwarded while they are.
//
// Every refusal is recorded (Refusals) and logged at a bounded rate.
//
// A listener bound to an address that is not the agent's target is held but
// never forwarded: the policy lists it as blocked, naming the address.
// Rejecting it instead would be wrong: Linux keeps a socket listening on an
// address after the address leaves the interface, and refusing every
// snapshot that holds one would drop all of the distro's forwards.
package agents

import (
	"cmp"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"maps"
	"net/netip"
	"slices"
	"sort"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/hostd-windows/logfile"
	"github.com/wslfwd/wslfwd/hostd-windows/wire"
	"github.com/wslfwd/wslfwd/internal/endpoint"
)

// Options configure a Registry.
type Options struct {
	// Grace is how long a disconnected agent's state (and so its forwards)
	// is kept. Zero removes it at once.
	Grace time.Duration
	// MaxListeners bounds the listeners one agent may report; a message
	// that would exceed it is rejected. Zero means no limit.
	MaxListeners int
	// MaxAgents bounds the agents held (connected or in grace). Zero means
	// no limit.
	MaxAgents int
	// MaxPortsPerSource bounds the distinct (protocol, port) pairs the
	// agents of one source (a VM: Source) may have forwarded; listeners
	// on further ports are held but listed in Agent.Capped (vmcap.go).
	// Zero means no limit. The daemon sets it to MaxListeners: the
	// distros of a VM share its sockets, so one agent's share is the
	// VM's.
	MaxPortsPerSource int
	// Targets decide which connection addresses may be forward targets.
	Targets TargetRules
	// Changed is called, without the registry's lock held, after every
	// change that may affect forwards. It must not block.
	Changed func()
	// Refused, when set, is called with the gRPC code's name of every
	// session refused (Refusals), for the daemon's figures.
	Refused func(code string)
	Logger  *slog.Logger
	// Now returns the current time; time.Now when nil.
	Now func() time.Time
}

// Registry is the set of agents. It is safe for concurrent use.
type Registry struct {
	opts Options
	log  *slog.Logger

	refused refusals
	// sessionLog bounds the lines of sessions coming and going (logSession).
	sessionLog *logfile.Budget

	mu      sync.Mutex
	cap     portCap                // the ports of each source
	gone    uint64                 // disconnects so far
	entries map[string]*entry      // by distro
	events  []*wslfwdv1.AgentEvent // since the last State, at most maxEvents
	// eventsDropped counts the events dropped past maxEvents since the
	// last State.
	eventsDropped int
}

// entry is one agent as the daemon holds it: the latest session of a
// distro, its state, and whether it is connected or in grace.
type entry struct {
	session    *Session
	connected  bool
	since      time.Time // held without a gap since (survives reconnects in grace)
	lastSeen   time.Time
	goneAt     time.Time // when the session closed; "gone" counts from here
	graceUntil time.Time
	goneSeq    uint64 // order of disconnects: clocks may not tell two apart
	timer      *time.Timer
	network    *wslfwdv1.NetworkState
	listeners  map[ListenerKey]*wslfwdv1.Listener
	// sorted holds the listeners in wire.CompareListeners' order. It is replaced,
	// never changed, so State hands it out without a copy, and a change
	// updates it by search instead of sorting it again.
	sorted []*wslfwdv1.Listener
	// shared is set while the engine may hold sorted (State handed it
	// out): a change copies it once before changing it.
	shared bool
	// arrived holds when the daemon received the message that brought
	// each listener (the same pointers as listeners), for the time from
	// an agent's event to its forward being active. Changed in place
	// under the lock; the engine reads it with Agent.ArrivedAt.
	arrived map[*wslfwdv1.Listener]time.Time
	// capped holds the listeners of sorted whose port is over the cap of
	// the agent's source (vmcap.go), in the same order. It is replaced,
	// never changed, so State hands it out without a copy.
	capped []*wslfwdv1.Listener
	// unreported is how many listeners the agent said it left out, having
	// more than MaxListeners: shown, never forwarded. Only the agent's word.
	unreported uint32
}

// New returns an empty registry.
func New(opts Options) *Registry {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Changed == nil {
		opts.Changed = func() {}
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Registry{
		opts: opts,
		log:  log,
		refused: refusals{log: log, now: opts.Now, counted: opts.Refused, rows: make(map[refusalKey]*refusal),
			budget: logfile.NewBudget(refusalLogEvery, refusalLogMax)},
		sessionLog: logfile.NewBudget(SessionLogEvery, SessionLogMax),
		entries:    make(map[string]*entry),
		cap:        newPortCap(opts.MaxPortsPerSource),
	}
}

// The bound on the lines of agent sessions coming and going: each is
// logged at Info, and a token holder looping sessions would otherwise
// turn the rotated log over in minutes. The server's own session lines
// keep to the same bound.
const (
	SessionLogEvery = time.Minute
	SessionLogMax   = 20
)

// logSession logs one line of a session coming or going, within
// sessionLog.
func (r *Registry) logSession(level slog.Level, msg string, args ...any) {
	r.sessionLog.Log(r.log, r.opts.Now(), level, msg, args...)
}

// MaxListeners is the per-agent listener limit (0: none).
func (r *Registry) MaxListeners() int { return r.opts.MaxListeners }

// Open validates a hello and starts a session for it. The agent is not
// registered (and replaces no one) until its first snapshot is accepted.
// A refusal is recorded and returned as a gRPC status.
func (r *Registry) Open(hello *wslfwdv1.AgentHello, peer, local netip.AddrPort) (*Session, error) {
	s, err := r.open(hello, peer, local)
	if err != nil {
		r.refused.record(hello.GetDistro(), peer, err)
	}
	return s, err
}

func (r *Registry) open(hello *wslfwdv1.AgentHello, peer, local netip.AddrPort) (*Session, error) {
	if err := ValidateHello(hello); err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	target, err := r.target(hello.GetNetworkingMode(), peer.Addr())
	if err != nil {
		return nil, err
	}
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, status.Errorf(codes.Internal, "session id: %v", err)
	}
	s := newSession(hex.EncodeToString(b[:]), hello, peer, local, r.opts.Now())
	s.maxPending = 2 * r.opts.MaxListeners
	s.Target = target
	r.mu.Lock()
	defer r.mu.Unlock()
	e := r.entries[s.Distro()]
	if err := r.mayTakeOver(s, e); err != nil {
		return nil, err
	}
	if e != nil && sameBoot(e.session.Hello, hello) {
		s.Held = e.inodes()
	}
	return s, nil
}

// sameBoot reports whether two hellos come from one boot of the WSL VM:
// a socket's inode names it only within one boot, and after a restart
// the kernel hands out the same low numbers to other sockets.
func sameBoot(a, b *wslfwdv1.AgentHello) bool {
	return a.GetBootId() != "" && a.GetBootId() == b.GetBootId()
}

// inodes returns the distinct inodes of e's listeners, ascending.
// Called with r.mu held.
func (e *entry) inodes() []uint64 {
	var ins []uint64
	for _, l := range e.sorted {
		ins = append(ins, l.GetInode())
	}
	slices.Sort(ins)
	return slices.Compact(ins)
}

// target is the forward target a session in mode gets from its connection's
// address: the address itself in NAT mode, if the rules allow it; none in
// the other modes. Mirrored mode and WSL1 share the host's addresses, so
// their agents connect from the host itself: a claim of either mode from
// elsewhere (a NAT distro's address) is a lie that would open firewall
// rules, and is refused.
func (r *Registry) target(mode wslfwdv1.NetworkingMode, peer netip.Addr) (netip.Addr, error) {
	p := peer.Unmap().WithZone("")
	switch mode {
	case wslfwdv1.NetworkingMode_NETWORKING_MODE_NAT:
	case wslfwdv1.NetworkingMode_NETWORKING_MODE_MIRRORED, wslfwdv1.NetworkingMode_NETWORKING_MODE_WSL1:
		host, err := r.opts.Targets.IsHost(p)
		if err != nil {
			return netip.Addr{}, status.Errorf(codes.Unavailable, "%s mode: %v", endpoint.ModeName(mode), err)
		}
		if !host {
			return netip.Addr{}, status.Errorf(codes.PermissionDenied,
				"%s mode shares the host's addresses, so its agent connects from the host itself, not from %s", endpoint.ModeName(mode), p)
		}
		return netip.Addr{}, nil
	default:
		return netip.Addr{}, nil
	}
	if err := r.opts.Targets.Check(p); err != nil {
		return netip.Addr{}, status.Errorf(codes.PermissionDenied,
			"NAT mode: the connection comes from %s, the only address this agent could forward to, and it may not be a target: %v", p, err)
	}
	return p, nil
}

// mayTakeOver refuses s when its distro has a live session of another
// agent. Only the same agent may replace a live session: restarted (same
// address) or reconnecting from the distro's new address (same instance
// id). A distro in grace is free: its agent may come back from anywhere.
// Called with r.mu held.
func (r *Registry) mayTakeOver(s *Session, e *entry) error {
	if e == nil || !e.connected || e.session == s {
		return nil
	}
	old := e.session
	if old.Peer.Addr().Unmap() == s.Peer.Addr().Unmap() {
		return nil
	}
	if id := old.Hello.GetInstanceId(); id != "" && id == s.Hello.GetInstanceId() {
		return nil
	}
	return status.Errorf(codes.AlreadyExists,
		"distro %q already has a live agent connected from %s; a second agent from %s is refused (an agent restarted elsewhere is accepted once the old session ends)",
		s.Distro(), old.Peer.Addr().Unmap(), s.Peer.Addr().Unmap())
}

// Refusals returns the sessions refused recently, newest first.
func (r *Registry) Refusals() []*wslfwdv1.AgentRefusal { return r.refused.list() }

// Apply applies one message of a session after its hello. It returns a
// gRPC status error when the message is rejected: the stream should then
// be closed with it, and nothing has changed. A message that cannot be
// applied because of sequencing (a gap, changes before a snapshot) is not
// an error: the session is asked to resync and the message is dropped.
func (r *Registry) Apply(s *Session, m *wslfwdv1.AgentMessage) error {
	err := r.apply(s, m)
	if err != nil {
		r.refused.record(s.Distro(), s.Peer, err)
	}
	return err
}

func (r *Registry) apply(s *Session, m *wslfwdv1.AgentMessage) error {
	switch msg := m.GetMsg().(type) {
	case *wslfwdv1.AgentMessage_Snapshot:
		return r.applySnapshot(s, msg.Snapshot)
	case *wslfwdv1.AgentMessage_Changes:
		return r.applyChanges(s, msg.Changes)
	case *wslfwdv1.AgentMessage_EchoReady:
		if err := ValidateEchoReady(msg.EchoReady); err != nil {
			return status.Errorf(codes.InvalidArgument, "echo ready: %v", err)
		}
		s.deliverEcho(msg.EchoReady)
		r.touch(s)
		return nil
	case *wslfwdv1.AgentMessage_Hello:
		return status.Error(codes.InvalidArgument, "hello sent twice in one session")
	default:
		return status.Error(codes.InvalidArgument, "empty agent message")
	}
}

func (r *Registry) touch(s *Session) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if e := r.entries[s.Distro()]; e != nil && e.session == s {
		e.lastSeen = r.opts.Now()
	}
}

// Registered reports whether s has become its distro's entry (its first
// snapshot was accepted).
func (r *Registry) Registered(s *Session) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return s.registered
}

func (r *Registry) applySnapshot(s *Session, snap *wslfwdv1.Snapshot) error {
	received := r.opts.Now()
	if snap.GetSeq() == 0 {
		return status.Error(codes.InvalidArgument, "snapshot: seq must be 1 or more")
	}
	if err := ValidateNetwork(snap.GetNetwork()); err != nil {
		return status.Errorf(codes.InvalidArgument, "snapshot: %v", err)
	}
	if err := r.checkCount(len(snap.GetListeners())); err != nil {
		return err
	}
	listeners := make(map[ListenerKey]*wslfwdv1.Listener, len(snap.GetListeners()))
	for _, l := range snap.GetListeners() {
		k, err := ValidateListener(l)
		if err != nil {
			return status.Errorf(codes.InvalidArgument, "snapshot: %v", err)
		}
		if _, dup := listeners[k]; dup {
			return status.Errorf(codes.InvalidArgument, "snapshot: %s listed twice", k)
		}
		listeners[k] = l
	}

	r.mu.Lock()
	if s.closed {
		r.mu.Unlock()
		return status.Error(codes.Canceled, "session closed")
	}
	if snap.GetSeq() <= s.seq {
		r.mu.Unlock()
		s.resync(fmt.Sprintf("snapshot seq %d not after %d", snap.GetSeq(), s.seq))
		return nil
	}
	e := r.entries[s.Distro()]
	if !s.registered && e == nil && !r.makeRoom() {
		r.mu.Unlock()
		return status.Errorf(codes.ResourceExhausted, "the daemon already holds %d connected agents, its limit", r.opts.MaxAgents)
	}
	if e != nil && e.session != s && (s.registered || e.connected && e.session.ConnectedAt.After(s.ConnectedAt)) {
		// A newer session of this distro took over (or is connected
		// already): this one must not take the entry back.
		r.mu.Unlock()
		return status.Error(codes.Aborted, "a newer session of this distro is connected")
	}
	if err := r.mayTakeOver(s, e); err != nil {
		// Another agent registered between this one's hello and snapshot.
		r.mu.Unlock()
		return err
	}
	arrived := arrivals(e, listeners, received) // before a new session's entry replaces e
	var gone []*wslfwdv1.Listener
	var from netip.Addr
	if e != nil {
		gone, from = e.sorted, e.session.source()
	}
	now := r.opts.Now()
	if e == nil || e.session != s {
		e = r.register(s, e, now)
	}
	e.network = snap.GetNetwork()
	e.unreported = snap.GetUnreportedListeners()
	e.arrived = arrived
	e.listeners, e.sorted, e.shared = listeners, inOrder(listeners), false
	r.recount(e, from, e.sorted, gone)
	e.lastSeen = now
	s.seq, s.synced, s.resyncPending = snap.GetSeq(), true, false
	r.mu.Unlock()
	s.askReply(snap.GetWantReply(), snap.GetSeq())
	r.opts.Changed()
	return nil
}

// makeRoom reports whether one more agent may be registered. At MaxAgents
// it expires the agent that has been gone longest: agents in grace must
// not let a token holder who connects and leaves under ever new distro
// names fill the table and lock new distros out. Called with r.mu held.
func (r *Registry) makeRoom() bool {
	if r.opts.MaxAgents <= 0 || len(r.entries) < r.opts.MaxAgents {
		return true
	}
	var oldest *entry
	for _, e := range r.entries {
		if !e.connected && (oldest == nil || e.goneSeq < oldest.goneSeq) {
			oldest = e
		}
	}
	if oldest == nil {
		return false
	}
	if oldest.timer != nil {
		oldest.timer.Stop()
	}
	r.logSession(slog.LevelWarn, "agent table full: the longest-gone agent's forwards go before its grace ends",
		"distro", oldest.session.Distro(), "max_agents", r.opts.MaxAgents)
	r.expireLocked(oldest.session.Distro(), oldest)
	return true
}

// register makes s the entry of its distro, replacing old (connected, in
// grace, or nil) without a gap: the old state stays in effect until the
// caller overwrites it with the snapshot just accepted, in the same lock.
func (r *Registry) register(s *Session, old *entry, now time.Time) *entry {
	e := &entry{session: s, connected: true, since: now}
	if old != nil {
		e.since = old.since
		if old.timer != nil {
			old.timer.Stop()
		}
		if old.session != s {
			old.session.markReplaced()
		}
		r.logSession(slog.LevelInfo, "agent session replaces the previous one", "distro", s.Distro(), "session", s.ID, "previous", old.session.ID)
	}
	s.registered = true
	r.entries[s.Distro()] = e
	r.event(wslfwdv1.AgentEventKind_AGENT_EVENT_KIND_CONNECTED, e)
	return e
}

// applyChanges applies an agent's changes to its state. Changes out of
// order, before a snapshot, or removing a listener the state lacks change
// nothing and ask the agent for a snapshot instead; invalid ones end the
// session. It is checked first and then applied in place, under the lock,
// so a change costs what it changes: no copy of the agent's listeners.
func (r *Registry) applyChanges(s *Session, ch *wslfwdv1.Changes) error {
	received := r.opts.Now()
	keys, err := r.validateChanges(ch) // before the lock: it costs what ch holds
	if err != nil {
		return err
	}
	r.mu.Lock()
	e, why, ok := r.changesBase(s, ch)
	if !ok {
		r.mu.Unlock()
		if why != "" {
			r.askResync(s, why)
		}
		return nil
	}
	if s.closed {
		r.mu.Unlock()
		return status.Error(codes.Aborted, "session replaced while applying changes")
	}
	n, unknown := check(e.listeners, ch, keys)
	if unknown == "" {
		err = r.checkCount(n)
	}
	if err != nil || unknown != "" {
		r.mu.Unlock()
		if unknown != "" {
			r.askResync(s, unknown)
		}
		return err
	}
	gone := e.merge(ch, keys, received)
	r.recount(e, s.source(), ch.GetAdded(), gone)
	if ch.UnreportedListeners != nil {
		e.unreported = ch.GetUnreportedListeners()
	}
	e.lastSeen = r.opts.Now()
	s.seq = ch.GetSeq()
	r.mu.Unlock()
	s.askReply(ch.GetWantReply(), ch.GetSeq())
	// A count of unreported listeners alone changes no forward: an agent
	// over the limit, whose unreported sockets come and go, does not make
	// the engine step for each.
	if len(ch.GetAdded()) > 0 || len(ch.GetRemoved()) > 0 || ch.GetNetwork() != nil || ch.GetWantReply() {
		r.opts.Changed()
	}
	return nil
}

// changesBase returns s's entry if ch follows what s sent before; else
// why the agent must send a snapshot, or nothing when it was asked
// already. Called with r.mu held.
func (r *Registry) changesBase(s *Session, ch *wslfwdv1.Changes) (*entry, string, bool) {
	e := r.entries[s.Distro()]
	switch {
	case s.resyncPending:
		// Already asked; drop until the snapshot arrives.
		return nil, "", false
	case !s.synced || e == nil || e.session != s:
		return nil, "changes before a snapshot", false
	case ch.GetSeq() != s.seq+1:
		return nil, fmt.Sprintf("changes seq %d, expected %d", ch.GetSeq(), s.seq+1), false
	}
	return e, "", true
}

// askResync asks the agent of s for a snapshot, and drops its changes
// until the snapshot arrives.
func (r *Registry) askResync(s *Session, why string) {
	r.mu.Lock()
	s.resyncPending = true
	r.mu.Unlock()
	s.resync(why)
}

// validateChanges checks ch on its own, without the agent's state, and
// returns the keys of its removals and additions, in order. Lists longer
// than the listener limit, and a listener added twice, are refused: no
// agent sends them, and each would cost the registry a pass over the
// agent's listeners under its lock.
func (r *Registry) validateChanges(ch *wslfwdv1.Changes) ([]ListenerKey, error) {
	if limit := r.opts.MaxListeners; limit > 0 && max(len(ch.GetRemoved()), len(ch.GetAdded())) > limit {
		return nil, status.Errorf(codes.InvalidArgument, "changes remove %d and add %d listeners, more than the limit of %d per agent",
			len(ch.GetRemoved()), len(ch.GetAdded()), limit)
	}
	if ch.GetNetwork() != nil {
		if err := ValidateNetwork(ch.GetNetwork()); err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "changes: %v", err)
		}
	}
	keys := make([]ListenerKey, 0, len(ch.GetRemoved())+len(ch.GetAdded()))
	for _, l := range ch.GetRemoved() {
		k, err := ValidateListener(l)
		if err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "changes removed: %v", err)
		}
		keys = append(keys, k)
	}
	added := make(map[ListenerKey]bool, len(ch.GetAdded()))
	for _, l := range ch.GetAdded() {
		k, err := ValidateListener(l)
		if err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "changes added: %v", err)
		}
		if added[k] {
			return nil, status.Errorf(codes.InvalidArgument, "changes add %s twice", k)
		}
		added[k] = true
		keys = append(keys, k)
	}
	return keys, nil
}

// check compares ch, whose keys validateChanges returned, with listeners,
// changing nothing, and returns how many listeners applying it leaves. A
// removal of a listener not held (or removed earlier in ch) is named in
// unknown: the agent's view and the daemon's differ.
func check(listeners map[ListenerKey]*wslfwdv1.Listener, ch *wslfwdv1.Changes, keys []ListenerKey) (n int, unknown string) {
	removed := len(ch.GetRemoved())
	n = len(listeners)
	gone := make(map[ListenerKey]bool, removed)
	for _, k := range keys[:removed] {
		if _, ok := listeners[k]; !ok || gone[k] {
			return 0, fmt.Sprintf("changes remove unknown listener %s", k)
		}
		gone[k] = true
		n--
	}
	for _, k := range keys[removed:] {
		if _, held := listeners[k]; !held || gone[k] {
			n++
		}
	}
	return n, ""
}

// merge applies ch, whose keys check returned, to e in place, keeping e.sorted
// in order by search rather than sorting it again. A sorted list that
// State handed out is copied once first: the engine reads it without the
// lock. Called with r.mu held.
//
// Each key moves part of e.sorted, so a change of more than resortPast
// listeners sorts the list again instead: at most n log n for any
// change, where moving each would cost up to the whole list per key.
// It returns the listeners it let go: removed, or replaced by an update.
func (e *entry) merge(ch *wslfwdv1.Changes, keys []ListenerKey, received time.Time) (gone []*wslfwdv1.Listener) {
	if ch.GetNetwork() != nil {
		e.network = ch.GetNetwork()
	}
	resort := len(keys) > resortPast
	if e.shared && !resort {
		e.sorted, e.shared = slices.Clone(e.sorted), false
	}
	removed := len(ch.GetRemoved())
	for _, k := range keys[:removed] {
		old := e.listeners[k]
		gone = append(gone, old)
		delete(e.listeners, k)
		delete(e.arrived, old)
		if !resort {
			e.sorted = without(e.sorted, old)
		}
	}
	for i, l := range ch.GetAdded() {
		k := keys[removed+i]
		at := received
		if old, ok := e.listeners[k]; ok {
			gone = append(gone, old)
			if !resort {
				e.sorted = without(e.sorted, old)
			}
			at = e.arrived[old] // the same listener, updated: it arrived before
			delete(e.arrived, old)
		}
		e.listeners[k] = l
		e.arrived[l] = at
		if !resort {
			i, _ := slices.BinarySearchFunc(e.sorted, l, wire.CompareListeners)
			e.sorted = slices.Insert(e.sorted, i, l)
		}
	}
	if resort {
		e.sorted, e.shared = inOrder(e.listeners), false
	}
	return gone
}

// resortPast is the number of listeners a change may touch beyond which
// merge sorts the agent's list again rather than move each in place.
const resortPast = 64

func (r *Registry) checkCount(n int) error {
	if r.opts.MaxListeners > 0 && n > r.opts.MaxListeners {
		return status.Errorf(codes.InvalidArgument, "%d listeners, more than the limit of %d per agent", n, r.opts.MaxListeners)
	}
	return nil
}

// Close ends a session. If it is its distro's current entry, the agent is
// disconnected and its grace period starts.
func (r *Registry) Close(s *Session) {
	r.mu.Lock()
	s.closed = true
	e := r.entries[s.Distro()]
	if e == nil || e.session != s || !e.connected {
		r.mu.Unlock()
		return
	}
	now := r.opts.Now()
	e.connected = false
	e.goneAt = now
	e.graceUntil = now.Add(r.opts.Grace)
	r.gone++
	e.goneSeq = r.gone
	r.event(wslfwdv1.AgentEventKind_AGENT_EVENT_KIND_DISCONNECTED, e)
	if r.opts.Grace <= 0 {
		r.expireLocked(s.Distro(), e)
	} else {
		e.timer = time.AfterFunc(r.opts.Grace, func() { r.expire(s) })
	}
	r.mu.Unlock()
	r.logSession(slog.LevelInfo, "agent disconnected", "distro", s.Distro(), "session", s.ID, "grace", r.opts.Grace)
	r.opts.Changed()
}

func (r *Registry) expire(s *Session) {
	r.mu.Lock()
	e := r.entries[s.Distro()]
	if e == nil || e.session != s || e.connected {
		r.mu.Unlock()
		return
	}
	r.expireLocked(s.Distro(), e)
	r.mu.Unlock()
	r.logSession(slog.LevelInfo, "agent grace period over", "distro", s.Distro(), "session", s.ID)
	r.opts.Changed()
}

func (r *Registry) expireLocked(distro string, e *entry) {
	delete(r.entries, distro)
	r.recount(e, e.session.source(), nil, e.sorted)
	r.event(wslfwdv1.AgentEventKind_AGENT_EVENT_KIND_EXPIRED, e)
}

// arrivals maps each listener of a snapshot to when it arrived: a
// listener e (nil: none) already held keeps its time, even across an
// agent's reconnect; a new one arrived with the snapshot, received.
// Called with r.mu held.
func arrivals(e *entry, listeners map[ListenerKey]*wslfwdv1.Listener, received time.Time) map[*wslfwdv1.Listener]time.Time {
	out := make(map[*wslfwdv1.Listener]time.Time, len(listeners))
	for k, l := range listeners {
		at := received
		if e != nil {
			if old, ok := e.listeners[k]; ok {
				at = e.arrived[old]
			}
		}
		out[l] = at
	}
	return out
}

// Agent is a registered agent as the engine sees it.
type Agent struct {
	Session *Session
	Distro  string
	Mode    wslfwdv1.NetworkingMode
	// Targets are the addresses the agent's forwards may go to: in NAT mode
	// its connection's address, otherwise none.
	Targets   []netip.Addr
	Listeners []*wslfwdv1.Listener // sorted by protocol, port, listen, inode; read only
	// Capped are the Listeners on ports over the cap of the agent's
	// source (Options.MaxPortsPerSource), in the same order: held, never
	// forwarded while they are. Read only.
	Capped    []*wslfwdv1.Listener
	Connected bool
	Since     time.Time // held without a gap since; older wins shared sockets
	Seq       uint64    // last applied seq: what a run on this state acted on
	Info      *wslfwdv1.Agent
	arrived   map[*wslfwdv1.Listener]time.Time
	reg       *Registry
}

// Arrival asks when the daemon received the message that brought
// Listener, one of Agent's Listeners; ArrivedAt answers in At and Found.
type Arrival struct {
	Agent    Agent
	Listener *wslfwdv1.Listener
	At       time.Time
	Found    bool
}

// ArrivedAt answers every query of qs, whose agents come from one State,
// under one hold of the registry's lock: the engine asks while it holds
// its own, so it waits for the registry once a step, not once a forward.
// The registry changes its record in place, so a listener the agent
// removed since State returned is no longer found.
func ArrivedAt(qs []Arrival) {
	if len(qs) == 0 {
		return
	}
	r := qs[0].Agent.reg
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range qs {
		qs[i].At, qs[i].Found = qs[i].Agent.arrived[qs[i].Listener]
	}
}

// State returns every registered agent, sorted by distro, the agent
// events since the previous call, in order, and how many events were lost
// since (past maxEvents): watchers then need the whole state again.
func (r *Registry) State() ([]Agent, []*wslfwdv1.AgentEvent, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Agent, 0, len(r.entries))
	for _, e := range r.entries {
		a := Agent{
			Session:   e.session,
			Distro:    e.session.Distro(),
			Mode:      e.session.Hello.GetNetworkingMode(),
			Targets:   e.session.targets(),
			Connected: e.connected,
			Since:     e.since,
			Seq:       e.session.seq,
			Info:      e.proto(),
			Listeners: e.sorted,
			Capped:    e.capped,
			arrived:   e.arrived,
			reg:       r,
		}
		e.shared = true
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Distro < out[j].Distro })
	ev, lost := r.events, r.eventsDropped
	r.events, r.eventsDropped = nil, 0
	if lost > 0 {
		r.log.Warn("agent events dropped while the engine was busy: watchers get the whole state again", "dropped", lost, "kept", maxEvents)
	}
	return out, ev, lost
}

// maxEvents bounds the agent events kept between two engine steps. Each
// carries the agent's network state (up to 32 KiB), and a token holder
// that connects and leaves in a loop while a step runs long would
// otherwise grow them without end; past it the oldest go, and are counted.
const maxEvents = 256

// event records an agent event for the next State. Called with r.mu held.
func (r *Registry) event(kind wslfwdv1.AgentEventKind, e *entry) {
	if len(r.events) >= maxEvents {
		r.events = slices.Delete(r.events, 0, 1)
		r.eventsDropped++
	}
	r.events = append(r.events, &wslfwdv1.AgentEvent{Kind: kind, Agent: e.proto()})
}

// Agents returns every registered agent as the ControlService shows it,
// sorted by distro.
func (r *Registry) Agents() []*wslfwdv1.Agent {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]*wslfwdv1.Agent, 0, len(r.entries))
	for _, e := range r.entries {
		out = append(out, e.proto())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].GetDistro() < out[j].GetDistro() })
	return out
}

// Unreported lists the agents that said they left listeners out, having
// more than MaxListeners, sorted by distro.
func (r *Registry) Unreported() []*wslfwdv1.UnreportedListeners {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*wslfwdv1.UnreportedListeners
	for distro, e := range r.entries {
		if e.unreported > 0 {
			out = append(out, &wslfwdv1.UnreportedListeners{Distro: distro, Count: e.unreported, Max: uint32(r.opts.MaxListeners)})
		}
	}
	slices.SortFunc(out, func(a, b *wslfwdv1.UnreportedListeners) int { return cmp.Compare(a.GetDistro(), b.GetDistro()) })
	return out
}

// Connected returns the connected session of a distro, if any.
func (r *Registry) Connected(distro string) (*Session, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e := r.entries[distro]
	if e == nil || !e.connected {
		return nil, false
	}
	return e.session, true
}

// Distros returns the names of the registered agents (connected or in
// grace), sorted; with connectedOnly, only the connected ones.
func (r *Registry) Distros(connectedOnly bool) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for d, e := range r.entries {
		if e.connected || !connectedOnly {
			out = append(out, d)
		}
	}
	sort.Strings(out)
	return out
}

func (e *entry) proto() *wslfwdv1.Agent {
	h := e.session.Hello
	a := &wslfwdv1.Agent{
		Distro:              h.GetDistro(),
		NetworkingMode:      h.GetNetworkingMode(),
		AgentVersion:        h.GetAgentVersion(),
		KernelRelease:       h.GetKernelRelease(),
		Network:             e.network,
		ListenerCount:       uint32(len(e.listeners)),
		UnreportedListeners: e.unreported,
		Connected:           e.connected,
		ConnectedAt:         timestamppb.New(e.session.ConnectedAt),
		PeerAddress:         e.session.Peer.String(),
		VmId:                h.GetVmId(),
		Detection:           h.GetDetection(),
	}
	if !e.lastSeen.IsZero() {
		a.LastSeen = timestamppb.New(e.lastSeen)
	}
	if !e.connected {
		a.DisconnectedAt = timestamppb.New(e.goneAt)
		a.GraceUntil = timestamppb.New(e.graceUntil)
	}
	return a
}

// inOrder returns the listeners in wire.CompareListeners' order.
func inOrder(ls map[ListenerKey]*wslfwdv1.Listener) []*wslfwdv1.Listener {
	out := slices.Collect(maps.Values(ls))
	slices.SortFunc(out, wire.CompareListeners)
	return out
}

// without returns sorted without l, the very listener.
func without(sorted []*wslfwdv1.Listener, l *wslfwdv1.Listener) []*wslfwdv1.Listener {
	if i, ok := slices.BinarySearchFunc(sorted, l, wire.CompareListeners); ok && sorted[i] == l {
		return slices.Delete(sorted, i, i+1)
	}
	return sorted
}

func proto(p wslfwdv1.Protocol) string {
	switch p {
	case wslfwdv1.Protocol_PROTOCOL_TCP:
		return "tcp"
	case wslfwdv1.Protocol_PROTOCOL_UDP:
		return "udp"
	}
	return "unknown"
}
