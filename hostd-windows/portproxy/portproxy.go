package portproxy

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/wslfwd/wslfwd/hostd-windows/backend"
	"github.com/wslfwd/wslfwd/internal/winexec"
)

// Runner runs a netsh script in one netsh process and returns what netsh
// printed. Its error means the script could not be run at all; netsh's
// exit code is part of the output, never a verdict.
type Runner interface {
	Run(ctx context.Context, script string) (output []byte, err error)
}

// Options tunes a Backend.
type Options struct {
	// CheckPort, when set, is asked about every entry about to be added
	// whose listen address and port is not already in the registry. An
	// error (wrapping backend.ErrExcludedPort or backend.ErrPortInUse)
	// keeps the entry out of the batch and becomes its failure.
	CheckPort func(ctx context.Context, e backend.Entry) error
	// Listening returns the host's listening TCP sockets, for Verify: an
	// entry works only while the IP Helper service listens on its
	// address. nil means Verify cannot tell, so no entry counts as
	// working.
	Listening func(ctx context.Context) ([]Socket, error)
	// ServicePID returns the IP Helper service's process id, 0 while it
	// is stopped, so Verify can tell its listener from another process's.
	// nil, or an error, settles for "something listens".
	ServicePID func() (uint32, error)
	// NetshRan, when set, is told of every netsh process Apply starts and
	// whether it failed: the registry read back afterwards does not show
	// all of its changes (or netsh could not be started, or the registry
	// not read). netsh's exit status has no say. For the daemon's
	// figures (metrics.Metrics.NetshRan).
	NetshRan func(failed bool)
	// Log receives one line per netsh run; nil means slog.Default().
	Log *slog.Logger
}

// Backend keeps forwards as portproxy entries. It implements
// backend.Backend.
type Backend struct {
	store  Store
	runner Runner
	opts   Options
	log    *slog.Logger
}

var _ backend.Backend = (*Backend)(nil)

// New returns a backend that writes with runner and reads back from store.
func New(store Store, runner Runner, opts Options) *Backend {
	log := opts.Log
	if log == nil {
		log = slog.Default()
	}
	return &Backend{store: store, runner: runner, opts: opts, log: log}
}

// Name is "portproxy".
func (b *Backend) Name() string { return "portproxy" }

// Supports reports TCP only: there is no UDP portproxy.
func (b *Backend) Supports(p backend.Protocol) bool { return p == backend.TCP }

// Durable reports true: portproxy entries live in the host's configuration
// and outlive the daemon, so the daemon must record on disk which of them
// it made.
func (b *Backend) Durable() bool { return true }

// Close has nothing to release; entries stay.
func (b *Backend) Close() error { return nil }

// Snapshot reads the registry: entries, and values that are not entries
// wslfwd understands (for diagnostics; they are never touched).
func (b *Backend) Snapshot(context.Context) (Snapshot, error) {
	values, err := b.store.Read()
	if err != nil {
		return Snapshot{}, fmt.Errorf("read portproxy entries from the registry: %w", err)
	}
	return Sort(values), nil
}

// List returns every portproxy entry in the registry.
func (b *Backend) List(ctx context.Context) ([]backend.Entry, error) {
	s, err := b.Snapshot(ctx)
	if err != nil {
		return nil, err
	}
	return s.Entries, nil
}

// maxOutput bounds how much of netsh's output a failure carries.
const maxOutput = 2048

// Apply makes the batch's changes with one netsh process and then checks
// each change in the registry. A removal of an entry that is not there is
// already done, unless a value wslfwd cannot read holds its address, which
// fails the removal (the entry may be there unread, and netsh might delete
// that value instead); a removal of a key that holds a different target is
// refused (it is not the entry the caller meant). An addition whose key is
// held by another entry that the batch does not remove, or by a value
// wslfwd cannot read, fails with backend.ErrPortInUse: portproxy values
// are never overwritten; one of an entry the registry holds already fails
// with backend.ErrExists, since whoever made it, the caller did not know.
func (b *Backend) Apply(ctx context.Context, batch backend.Batch) error {
	before, err := b.Snapshot(ctx)
	if err != nil {
		return fmt.Errorf("%w: %w", backend.ErrNothingChanged, err)
	}
	p := plan{
		have:     make(map[backend.Key]backend.Entry, len(before.Entries)),
		foreign:  heldByUnparsed(before.Unparsed),
		removing: make(map[backend.Key]bool),
		adding:   make(map[backend.Key]bool),
	}
	for _, e := range before.Entries {
		p.have[e.Key()] = e
	}

	var fails []backend.Failure
	var run backend.Batch
	for _, e := range batch.Remove {
		cur, ok := p.have[e.Key()]
		u, obscured := p.foreign.holding(e.Key())
		switch err := checkEntry(e); {
		case err != nil:
			fails = append(fails, backend.Failure{Entry: e, Remove: true, Err: err})
		case obscured && (ok && cur == e || unread(before.Unparsed, e)):
			// The entry is there, read or not (a socket in two tables reads
			// as neither), and so is a value of another spelling of its
			// socket, or of another table: netsh's delete names only the
			// address, and how it matches values is undocumented, so it
			// might take that value instead. The entry stays the caller's.
			fails = append(fails, backend.Failure{Entry: e, Remove: true,
				Err: fmt.Errorf("the portproxy value %s %s = %q, which wslfwd cannot read (%s), holds this address too: "+
					"a delete might take it instead; left alone", u.Kind, u.Name, u.Data, u.Reason)})
		case !ok, cur != e && slices.Contains(batch.Add, cur):
			// Already gone, or already replaced by what the batch adds.
		case cur != e:
			fails = append(fails, backend.Failure{Entry: e, Remove: true,
				Err: fmt.Errorf("the registry holds %s at this address, not the entry asked for; left alone", cur)})
		default:
			run.Remove = append(run.Remove, e)
			p.removing[e.Key()] = true
		}
	}
	for _, e := range batch.Add {
		if err := b.checkAdd(ctx, e, p); err != nil {
			fails = append(fails, backend.Failure{Entry: e, Err: err})
			continue
		}
		if cur, ok := p.have[e.Key()]; ok && cur == e && !p.removing[e.Key()] {
			fails = append(fails, backend.Failure{Entry: e, Err: fmt.Errorf("portproxy entry %s: %w", e, backend.ErrExists)})
			continue
		}
		run.Add = append(run.Add, e)
		p.adding[e.Key()] = true
	}

	if !run.Empty() {
		more, err := b.run(ctx, run)
		if err != nil {
			return err
		}
		fails = append(fails, more...)
	}
	if len(fails) > 0 {
		return &backend.ApplyError{Failures: fails}
	}
	return nil
}

// plan is what Apply knows while it sorts a batch.
type plan struct {
	have     map[backend.Key]backend.Entry // entries in the registry
	foreign  held                          // what values wslfwd cannot read hold
	removing map[backend.Key]bool          // keys the batch frees
	adding   map[backend.Key]bool          // keys the batch fills
}

// held is what values wslfwd cannot read hold: listen keys, and, for a
// value whose listen address is not an IP literal (a host name), its port
// for every address of the table's listen family.
type held struct {
	keys  map[backend.Key]Unparsed
	ports map[familyPort]Unparsed
}

type familyPort struct {
	is4  bool
	port uint16
}

// heldByUnparsed reads, as leniently as netsh might, where each value
// wslfwd cannot read listens: such a value sits where netsh would write an
// entry for that socket, and is someone else's. Any spelling of an address
// and port counts ("::0", a port with leading zeros), and "*", which netsh
// shows for an entry made without listenaddress, is the table's
// unspecified address. A name whose port does not read holds nothing that
// can be named; iphlpsvc's own listening (CheckPort) still stands in the
// way.
func heldByUnparsed(us []Unparsed) held {
	h := held{keys: make(map[backend.Key]Unparsed), ports: make(map[familyPort]Unparsed)}
	for _, u := range us {
		listen4, _, err := u.Kind.families()
		if err != nil {
			continue
		}
		i := strings.LastIndexByte(u.Name, '/')
		if i < 0 {
			continue
		}
		n, err := strconv.ParseUint(strings.TrimSpace(u.Name[i+1:]), 10, 16)
		if err != nil || n == 0 {
			continue
		}
		port, addrText := uint16(n), strings.TrimSpace(u.Name[:i])
		addr, err := netip.ParseAddr(addrText)
		switch {
		case addrText == "*" && listen4:
			addr = netip.IPv4Unspecified()
		case addrText == "*":
			addr = netip.IPv6Unspecified()
		case err != nil:
			h.ports[familyPort{listen4, port}] = u
			continue
		}
		addr = addr.WithZone("").Unmap()
		h.keys[backend.Key{Protocol: backend.TCP, Listen: netip.AddrPortFrom(addr, port)}] = u
	}
	return h
}

// ListObscured is List, with the listen keys of the values wslfwd cannot
// read (backend.Obscurer).
func (b *Backend) ListObscured(ctx context.Context) ([]backend.Entry, []backend.Key, error) {
	s, err := b.Snapshot(ctx)
	if err != nil {
		return nil, nil, err
	}
	return s.Entries, slices.Collect(maps.Keys(heldByUnparsed(s.Unparsed).keys)), nil
}

// holding returns the value wslfwd cannot read that holds k, if any.
func (h held) holding(k backend.Key) (Unparsed, bool) {
	if u, ok := h.keys[k]; ok {
		return u, true
	}
	u, ok := h.ports[familyPort{k.Listen.Addr().Is4(), k.Listen.Port()}]
	return u, ok
}

// checkAdd reports why e cannot be added, if it cannot.
func (b *Backend) checkAdd(ctx context.Context, e backend.Entry, p plan) error {
	if err := checkEntry(e); err != nil {
		return err
	}
	if p.adding[e.Key()] {
		return fmt.Errorf("the batch adds %s twice", e.Key())
	}
	if u, ok := p.foreign.holding(e.Key()); ok {
		return fmt.Errorf("the portproxy value %s %s = %q, which wslfwd cannot read (%s), holds this address: %w", u.Kind, u.Name, u.Data, u.Reason, backend.ErrPortInUse)
	}
	cur, held := p.have[e.Key()]
	if held && cur != e && !p.removing[e.Key()] {
		return fmt.Errorf("portproxy entry %s holds this address: %w", cur, backend.ErrPortInUse)
	}
	if held || b.opts.CheckPort == nil {
		// A key in the registry is held by iphlpsvc for that entry, so a
		// listen test would only find portproxy itself.
		return nil
	}
	return b.opts.CheckPort(ctx, e)
}

// run applies run with one netsh process and reads the registry back.
// Whether `netsh -f` goes on past a failing line is undocumented (ReactOS's
// netsh stops), so when the script left changes undone it is retried one
// line per netsh process: one entry Windows refuses cannot block the rest.
func (b *Backend) run(ctx context.Context, run backend.Batch) ([]backend.Failure, error) {
	out, err := b.netsh(ctx, run)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", backend.ErrNothingChanged, err) // netsh did not start
	}
	after, err := b.readBack(ctx, run)
	if err != nil {
		return nil, err
	}
	if left := undone(run, after); !left.Empty() && len(run.Remove)+len(run.Add) > 1 {
		b.log.Debug("netsh script left changes undone; retrying line by line", "removals", len(left.Remove), "additions", len(left.Add))
		lines := split(left)
		for _, one := range lines {
			more, err := b.netsh(ctx, one)
			if err != nil {
				return nil, err
			}
			out = append(out, more...)
		}
		if after, err = b.readBack(ctx, lines...); err != nil {
			return nil, err
		}
	}
	return judge(run, after, out), nil
}

// readBack reads the registry after netsh ran each of runs, and counts
// each run (Options.NetshRan) as failed if the registry does not show it
// all done.
func (b *Backend) readBack(ctx context.Context, runs ...backend.Batch) ([]backend.Entry, error) {
	after, err := b.Snapshot(ctx)
	for _, run := range runs {
		b.counted(err != nil || !undone(run, after.Entries).Empty())
	}
	if err != nil {
		return nil, fmt.Errorf("after netsh: %w", err)
	}
	return after.Entries, nil
}

func (b *Backend) counted(failed bool) {
	if b.opts.NetshRan != nil {
		b.opts.NetshRan(failed)
	}
}

// netsh renders batch as one script and runs it in one netsh process.
func (b *Backend) netsh(ctx context.Context, batch backend.Batch) ([]byte, error) {
	script, err := Script(batch)
	if err != nil {
		return nil, fmt.Errorf("render netsh script: %w", err) // checked above; a bug if reached
	}
	out, err := b.runner.Run(ctx, script)
	if err != nil {
		b.counted(true)
		return nil, fmt.Errorf("run netsh: %w", err)
	}
	b.log.Debug("netsh ran", "removals", len(batch.Remove), "additions", len(batch.Add), "output", strings.TrimSpace(string(out)))
	return out, nil
}

// undone is the part of run the registry does not show done: removals
// whose entry is still there, additions whose entry is not.
func undone(run backend.Batch, after []backend.Entry) backend.Batch {
	var left backend.Batch
	for _, e := range run.Remove {
		if slices.Contains(after, e) {
			left.Remove = append(left.Remove, e)
		}
	}
	for _, e := range run.Add {
		if !slices.Contains(after, e) {
			left.Add = append(left.Add, e)
		}
	}
	return left
}

// split turns a batch into one-change batches, removals first, so that a
// key being replaced is freed before its new entry is added.
func split(batch backend.Batch) []backend.Batch {
	var out []backend.Batch
	for _, e := range batch.Remove {
		out = append(out, backend.Batch{Remove: []backend.Entry{e}})
	}
	for _, e := range batch.Add {
		out = append(out, backend.Batch{Add: []backend.Entry{e}})
	}
	return out
}

// judge names every change of run the registry does not show done (as
// undone does): a removal whose entry is still there, whatever else the
// batch meant to put at its key, and an addition whose entry is not. A
// removal counted done while its entry stayed would drop it from the
// ledger, and the entry wslfwd made would then be foreign for good.
func judge(run backend.Batch, after []backend.Entry, out []byte) []backend.Failure {
	notApplied := fmt.Errorf("%w; netsh said: %s", backend.ErrNotApplied, winexec.Said(out, maxOutput))
	left := undone(run, after)
	var fails []backend.Failure
	for _, e := range left.Remove {
		fails = append(fails, backend.Failure{Entry: e, Remove: true, Err: notApplied})
	}
	for _, e := range left.Add {
		fails = append(fails, backend.Failure{Entry: e, Err: notApplied})
	}
	return fails
}

// unread reports whether e's own value is among the values wslfwd could
// not read: there, but in a table beside another value of its socket.
func unread(us []Unparsed, e backend.Entry) bool {
	v := valueOf(e)
	return slices.ContainsFunc(us, func(u Unparsed) bool { return u.Value == v })
}
