package kernel

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"

	"github.com/google/nftables"

	"github.com/wslfwd/wslfwd/hostd-windows/backend"
)

// Options tune a Backend.
type Options struct {
	// Logger receives the backend's logs; nil means slog.Default().
	Logger *slog.Logger
}

// Backend is a backend.Backend whose forwards are nftables DNAT rules.
// It is safe for concurrent use.
type Backend struct {
	log *slog.Logger

	mu     sync.Mutex // serialises every use of conn
	conn   *nftables.Conn
	closed bool
}

var _ backend.Backend = (*Backend)(nil)

// errClosed is returned by a Backend's methods after Close.
var errClosed = errors.New("kernel backend is closed")

// New opens a netlink socket in the calling process's network namespace
// and makes the table and its chains, keeping any rules already there:
// they are forwards an earlier daemon made, which its ledger adopts. It
// fails, saying why, where the kernel has no nftables or the process
// lacks CAP_NET_ADMIN.
func New(opts Options) (*Backend, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	conn, err := nftables.New(nftables.AsLasting())
	if err != nil {
		return nil, fmt.Errorf("kernel backend: open netlink: %w", err)
	}
	b := &Backend{log: opts.Logger, conn: conn}
	if err := b.setup(); err != nil {
		conn.CloseLasting()
		return nil, fmt.Errorf("kernel backend: %w (it needs nftables with NAT and CAP_NET_ADMIN)", err)
	}
	return b, nil
}

// Name returns "kernel".
func (b *Backend) Name() string { return "kernel" }

// Supports reports true for TCP and UDP.
func (b *Backend) Supports(p backend.Protocol) bool { return p == backend.TCP || p == backend.UDP }

// Durable reports true: the rules live in the kernel and outlive the
// daemon's process, so the daemon records what it owns on disk and
// adopts it after a restart.
func (b *Backend) Durable() bool { return true }

// List returns the forwards the table's rules carry, as read from the
// kernel. A rule of another shape (edited by hand) is logged and left out:
// it is no forward wslfwd could own.
func (b *Backend) List(ctx context.Context) ([]backend.Entry, error) {
	out, _, err := b.ListObscured(ctx)
	return out, err
}

// ListObscured implements backend.Obscurer: of a key that several rules
// forward (one added by hand beside wslfwd's, say) the entries list the
// first, which is the one that matches, and the key is named, so that the
// reconciler keeps owning wslfwd's rule there when it is not the first
// rather than forget it, which would leave it forwarding, unowned, once
// the other rule goes.
func (b *Backend) ListObscured(ctx context.Context) ([]backend.Entry, []backend.Key, error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, fmt.Errorf("list: %w", err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, nil, errClosed
	}
	rules, err := b.rules()
	if err != nil {
		return nil, nil, err
	}
	out := make([]backend.Entry, 0, len(rules))
	var obscured []backend.Key
	for k, r := range rules {
		if r.shadows {
			obscured = append(obscured, k)
		}
		out = append(out, r.entry)
	}
	slices.SortFunc(out, compareEntries)
	return out, obscured, nil
}

// compareEntries orders forwards by protocol, then listen address.
func compareEntries(a, b backend.Entry) int {
	return cmp.Or(cmp.Compare(a.Protocol, b.Protocol), a.Listen.Compare(b.Listen))
}

// Close closes the netlink socket. The rules stay: they are the forwards,
// and the next daemon adopts them (Durable).
func (b *Backend) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil
	}
	b.closed = true
	if err := b.conn.CloseLasting(); err != nil {
		return fmt.Errorf("kernel backend: close netlink: %w", err)
	}
	return nil
}
