package portproxy

import (
	"strings"
	"testing"

	"github.com/wslfwd/wslfwd/hostd-windows/backend"
)

// Every netsh process is counted, and a run fails by what the registry
// shows afterwards: the script that stopped at a refused line, and the
// retry of that line, not the retries that worked. netsh exits 0 on all.
func TestApplyCountsNetshRuns(t *testing.T) {
	b, _, netsh := newFake()
	var runs, failed int
	b.opts.NetshRan = func(f bool) {
		runs++
		if f {
			failed++
		}
	}
	netsh.refuse = func(line string) bool { return strings.Contains(line, "listenport=4000 ") }
	add := []backend.Entry{tcp("0.0.0.0:4000", "172.28.240.53:4000"), tcp("0.0.0.0:4001", "172.28.240.53:4001"), tcp("0.0.0.0:4002", "172.28.240.53:4002")}
	failures(t, b.Apply(t.Context(), backend.Batch{Add: add}))
	if runs != len(netsh.scripts) || runs != 4 || failed != 2 {
		t.Errorf("counted %d runs, %d failed, of %d scripts; want 4 runs (one script, three lines), 2 failed", runs, failed, len(netsh.scripts))
	}
	runs, failed = 0, 0
	if err := b.Apply(t.Context(), backend.Batch{Remove: add[1:]}); err != nil {
		t.Fatal(err)
	}
	if runs != 1 || failed != 0 {
		t.Errorf("counted %d runs, %d failed; want 1 run that worked", runs, failed)
	}
}
