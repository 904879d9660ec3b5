package kernel

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/google/nftables"

	"github.com/wslfwd/wslfwd/hostd-windows/backend"
)

// rule is one forward as the kernel holds it.
type rule struct {
	entry  backend.Entry
	handle uint64
	// shadows is set when more rules forward the key after this one,
	// which matches first: what the key holds is then not one entry.
	shadows bool
}

// setup makes the table, its chains and the base chains' jumps in one
// transaction, then reads them back. Adding a table or chain that exists
// changes nothing; each base chain is flushed and given its jumps in the
// same transaction, so a forward never stops carrying while it runs.
func (b *Backend) setup() error {
	b.conn.AddTable(table)
	b.conn.AddChain(forwards)
	for _, c := range baseChains() {
		b.conn.AddChain(c)
		b.conn.FlushChain(c)
		for _, ex := range jumps(c) {
			b.conn.AddRule(&nftables.Rule{Table: table, Chain: c, Exprs: ex})
		}
	}
	ferr := b.conn.Flush()
	return errors.Join(ferr, b.checkSetup())
}

// checkSetup reads back what setup made: each base chain at its hook with
// its jumps, and the forwards chain.
func (b *Backend) checkSetup() error {
	if _, err := b.conn.ListChain(table, forwardsChain); err != nil {
		return fmt.Errorf("read back chain %s of table inet %s: %w", forwardsChain, TableName, err)
	}
	for _, want := range baseChains() {
		c, err := b.conn.ListChain(table, want.Name)
		if err != nil {
			return fmt.Errorf("read back chain %s of table inet %s: %w", want.Name, TableName, err)
		}
		if c.Hooknum == nil || *c.Hooknum != *want.Hooknum || c.Type != want.Type {
			return fmt.Errorf("chain %s of table inet %s is not a nat chain at its hook", want.Name, TableName)
		}
		rules, err := b.conn.GetRules(table, c)
		if err != nil {
			return fmt.Errorf("read back the rules of chain %s: %w", want.Name, err)
		}
		if len(rules) != len(jumps(want)) {
			return fmt.Errorf("chain %s of table inet %s has %d rules, want %d jumps", want.Name, TableName, len(rules), len(jumps(want)))
		}
	}
	return nil
}

// rules reads the forwards chain back from the kernel, keyed by forward.
func (b *Backend) rules() (map[backend.Key]rule, error) { return readRules(b.conn, b.log) }

// readRules reads the forwards chain over conn, keyed by forward; a rule
// of another shape is logged to log and left out. A missing table is no
// error here: it holds no forwards (someone ran `nft flush ruleset`);
// Apply makes it again.
func readRules(conn *nftables.Conn, log *slog.Logger) (map[backend.Key]rule, error) {
	rs, err := conn.GetRules(table, forwards)
	if err != nil {
		if _, terr := conn.ListTableOfFamily(TableName, nftables.TableFamilyINet); terr != nil {
			return map[backend.Key]rule{}, nil
		}
		return nil, fmt.Errorf("read the rules of table inet %s: %w", TableName, err)
	}
	out := make(map[backend.Key]rule, len(rs))
	for _, r := range rs {
		e, err := decode(r.Exprs)
		if err != nil {
			log.Warn("a rule in wslfwd's table is not one it writes; left alone", "handle", r.Handle, "err", err)
			continue
		}
		if first, dup := out[e.Key()]; dup {
			log.Warn("two rules in wslfwd's table forward one key; the first matches", "entry", e.String(), "handle", r.Handle)
			first.shadows = true
			out[e.Key()] = first
			continue
		}
		out[e.Key()] = rule{entry: e, handle: r.Handle}
	}
	return out, nil
}
