package kernel

import (
	"fmt"
	"log/slog"
	"slices"

	"github.com/google/nftables"

	"github.com/wslfwd/wslfwd/hostd-windows/backend"
)

// Rule is one forward as the kernel holds it.
type Rule struct {
	// Handle names the rule in its chain; it stays the same for as long
	// as the rule exists, so an unchanged handle shows a rule was never
	// deleted and added again.
	Handle uint64
	Entry  backend.Entry
}

// ReadRules lists the forwards in wslfwd's table in the network namespace
// of the calling thread, read from the kernel, ordered by protocol and
// listen address. Unlike New it creates and changes nothing, so the lab's
// tests and bench use it to watch a running daemon's rules from outside.
// Rules of another shape are left out, silently: the lab polls this every
// few hundred microseconds, and the daemon's own reads already warn about
// them.
func ReadRules() ([]Rule, error) {
	conn, err := nftables.New()
	if err != nil {
		return nil, fmt.Errorf("open netlink: %w", err)
	}
	rs, err := readRules(conn, slog.New(slog.DiscardHandler))
	if err != nil {
		return nil, err
	}
	out := make([]Rule, 0, len(rs))
	for _, r := range rs {
		out = append(out, Rule{Handle: r.handle, Entry: r.entry})
	}
	slices.SortFunc(out, func(a, b Rule) int { return compareEntries(a.Entry, b.Entry) })
	return out, nil
}
