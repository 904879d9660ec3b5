package kernel

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"syscall"

	"github.com/google/nftables"
	"golang.org/x/sys/unix"

	"github.com/wslfwd/wslfwd/hostd-windows/backend"
)

// change is one rule the batch adds or deletes.
type change struct {
	entry  backend.Entry
	remove bool
	rule   *nftables.Rule
}

// Apply deletes the batch's removals and adds its additions in one
// netlink transaction, then reads the chain back and judges every change
// by what it shows. The kernel applies a transaction whole or not at all,
// so when it refuses one, each change is sent again on its own: one bad
// change never holds back the rest.
//
// A removal matches the whole entry; an addition at a key that holds a
// different target, or whose port a socket on this host holds (the rule
// would take its traffic), fails with backend.ErrPortInUse, and one of a
// rule the chain holds already with backend.ErrExists.
func (b *Backend) Apply(ctx context.Context, batch backend.Batch) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("apply: %w", err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return errClosed
	}
	if err := b.ensureTable(batch); err != nil {
		return err
	}
	cur, err := b.rules()
	if err != nil {
		return fmt.Errorf("apply: %w", err)
	}
	changes, failed := plan(batch, cur)
	sendErr := b.send(changes)
	after, err := b.rules()
	if err != nil {
		return fmt.Errorf("apply: read back: %w", err)
	}
	failed = append(failed, judge(changes, after, sendErr)...)
	if failed != nil {
		return &backend.ApplyError{Failures: failed}
	}
	return nil
}

// ensureTable makes the table again when a batch adds and the table is
// gone (`nft flush ruleset`, a test).
func (b *Backend) ensureTable(batch backend.Batch) error {
	if len(batch.Add) == 0 {
		return nil
	}
	if _, err := b.conn.ListChain(table, forwardsChain); err == nil {
		return nil
	}
	b.log.Warn("wslfwd's nftables table or chain is gone; making it again", "table", "inet "+TableName)
	if err := b.setup(); err != nil {
		return fmt.Errorf("apply: make table inet %s: %w", TableName, err)
	}
	return nil
}

// plan turns the batch into rule changes against the rules there are,
// and fails at once what must not be sent.
func plan(batch backend.Batch, cur map[backend.Key]rule) ([]change, []backend.Failure) {
	var (
		changes []change
		failed  []backend.Failure
	)
	for _, e := range batch.Remove {
		r, ok := cur[e.Key()]
		switch {
		case !ok:
		case r.entry != e:
			failed = append(failed, backend.Failure{Entry: e, Remove: true,
				Err: fmt.Errorf("%s is forwarded to %s, not %s", e.Key(), r.entry.Connect, e.Connect)})
		default:
			changes = append(changes, change{entry: e, remove: true, rule: &nftables.Rule{Table: table, Chain: forwards, Handle: r.handle}})
			delete(cur, e.Key())
		}
	}
	for _, e := range batch.Add {
		r, ok := cur[e.Key()]
		err := checkEntry(e)
		switch {
		case err != nil:
		case ok && r.entry == e:
			err = fmt.Errorf("%s: %w", e, backend.ErrExists)
		case ok:
			err = fmt.Errorf("%s is already forwarded to %s: %w", e.Key(), r.entry.Connect, backend.ErrPortInUse)
		default:
			err = portFree(e)
		}
		if err != nil {
			failed = append(failed, backend.Failure{Entry: e, Err: err})
			continue
		}
		changes = append(changes, change{entry: e, rule: &nftables.Rule{Table: table, Chain: forwards, Exprs: ruleExprs(e)}})
		cur[e.Key()] = rule{entry: e}
	}
	return changes, failed
}

// send sends the changes as one transaction, or one by one if the kernel
// refuses the whole. Its error only explains: the read-back judges.
func (b *Backend) send(changes []change) error {
	if len(changes) == 0 {
		return nil
	}
	for _, c := range changes {
		b.queue(c)
	}
	err := b.conn.Flush()
	if err == nil || len(changes) == 1 {
		return err
	}
	var errs []error
	for _, c := range changes {
		b.queue(c)
		if err := b.conn.Flush(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", c.entry, err))
		}
	}
	return errors.Join(errs...)
}

func (b *Backend) queue(c change) {
	if c.remove {
		_ = b.conn.DelRule(c.rule) // fails only without a handle, which plan always sets
		return
	}
	b.conn.AddRule(c.rule)
}

// judge fails each change the read-back does not show.
func judge(changes []change, after map[backend.Key]rule, sendErr error) []backend.Failure {
	var failed []backend.Failure
	for _, c := range changes {
		r, ok := after[c.entry.Key()]
		if done := ok && r.entry == c.entry; done != c.remove {
			continue
		}
		err := fmt.Errorf("%s: %w", c.entry, backend.ErrNotApplied)
		if sendErr != nil {
			err = fmt.Errorf("%w (netlink: %w)", err, sendErr)
		}
		failed = append(failed, backend.Failure{Entry: c.entry, Remove: c.remove, Err: err})
	}
	return failed
}

// checkEntry rejects what no rule can carry (see the package comment).
func checkEntry(e backend.Entry) error {
	switch e.Protocol {
	case backend.TCP, backend.UDP:
	default:
		return fmt.Errorf("protocol %q: %w", e.Protocol, backend.ErrUnsupported)
	}
	if err := backend.Check(e); err != nil {
		return err
	}
	l, c := e.Listen.Addr(), e.Connect.Addr()
	switch {
	case l.Is4() != c.Is4():
		return fmt.Errorf("%s: NAT cannot forward between IPv4 and IPv6: %w", e, backend.ErrUnsupported)
	case l.IsLoopback():
		return fmt.Errorf("%s: kernel forwards do not serve loopback clients: %w", e, backend.ErrUnsupported)
	}
	return nil
}

// portFree fails with backend.ErrPortInUse when a socket of this host
// holds the listen port: the rule would take that program's traffic.
// It binds the port for a moment, as the relay would for good. A TCP
// check binds without listening: a listening socket, even for a moment,
// would complete the handshake of a client that connects just then, and
// reset it when closed.
func portFree(e backend.Entry) error {
	var err error
	if e.Protocol == backend.UDP {
		// One family only: a rule for 0.0.0.0 takes no IPv6 traffic.
		network := "udp6"
		if e.Listen.Addr().Is4() {
			network = "udp4"
		}
		var c *net.UDPConn
		if c, err = net.ListenUDP(network, net.UDPAddrFromAddrPort(e.Listen)); err == nil {
			err = c.Close()
		}
	} else {
		err = bindTCP(e.Listen)
	}
	if errors.Is(err, syscall.EADDRINUSE) {
		return fmt.Errorf("%s %s: %w: %w", e.Protocol, e.Listen, backend.ErrPortInUse, err)
	}
	if err != nil {
		return fmt.Errorf("%s %s: %w", e.Protocol, e.Listen, err)
	}
	return nil
}

// bindTCP binds a TCP socket to ap and closes it. It sets SO_REUSEADDR,
// as Go's listeners do, so that a port only connections in TIME_WAIT hold
// counts as free, and an IPv6 socket is IPv6 only, as for a "tcp6"
// listener.
func bindTCP(ap netip.AddrPort) error {
	family, sa, err := sockaddr(ap)
	if err != nil {
		return err
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return os.NewSyscallError("socket", err)
	}
	defer unix.Close(fd)
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		return os.NewSyscallError("setsockopt SO_REUSEADDR", err)
	}
	if family == unix.AF_INET6 {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 1); err != nil {
			return os.NewSyscallError("setsockopt IPV6_V6ONLY", err)
		}
	}
	return os.NewSyscallError("bind", unix.Bind(fd, sa))
}

// sockaddr returns ap's address family and socket address.
func sockaddr(ap netip.AddrPort) (int, unix.Sockaddr, error) {
	if ap.Addr().Is4() {
		return unix.AF_INET, &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}, nil
	}
	sa := &unix.SockaddrInet6{Port: int(ap.Port()), Addr: ap.Addr().As16()}
	if zone := ap.Addr().Zone(); zone != "" {
		// An interface's name, or its index, as net's own addresses take it.
		if ifi, err := net.InterfaceByName(zone); err == nil {
			sa.ZoneId = uint32(ifi.Index)
		} else if n, nerr := strconv.ParseUint(zone, 10, 32); nerr == nil {
			sa.ZoneId = uint32(n)
		} else {
			return 0, nil, fmt.Errorf("zone of %s: %w", ap.Addr(), err)
		}
	}
	return unix.AF_INET6, sa, nil
}
