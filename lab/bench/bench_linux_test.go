//go:build linux

package bench

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// leafKeys are every number, string and boolean the JSON documents (the
// package comment), by path; modes.* are checked for both modes.
var leafKeys = []string{
	"quick", "command", "started", "duration_s", "kernel", "cpus", "go_version", "scan_interval_ms",
	"scan_cost.established", "scan_cost.scans", "scan_cost.listeners", "scan_cost.none_us",
	"scan_cost.established_us", "scan_cost.ratio", "scan_cost.agent_none_us",
	"scan_cost.agent_established_us", "scan_cost.agent_ratio",
	"throughput.bytes", "throughput.direct_mib_s", "throughput.relay_mib_s", "throughput.ratio",
}

var modeKeys = []string{
	"trigger",
	"forward.trials", "forward.ok", "forward.failures", "forward.p50_ms", "forward.p90_ms", "forward.p99_ms", "forward.max_ms",
	"unforward.trials", "unforward.ok", "unforward.failures", "unforward.p50_ms", "unforward.p90_ms", "unforward.p99_ms", "unforward.max_ms",
	"bulk.listeners", "bulk.forwarded_ms", "bulk.unforwarded_ms", "bulk.agent_rss_mib", "bulk.daemon_rss_mib", "bulk.agent_scan_us",
	"cpu.idle_pct", "cpu.idle_window_s", "cpu.idle_listeners", "cpu.churn_pct", "cpu.churn_window_s",
	"cpu.churn_opens_per_s", "cpu.churn_closes_per_s",
}

// lookup follows a dotted path through decoded JSON.
func lookup(doc map[string]any, path string) (any, bool) {
	var cur any = doc
	for _, k := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[k]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// TestQuickBenchEndToEnd builds the lab program and runs
// `lab bench --quick --trials 5 --json FILE`, then checks that the file
// has every documented key and that the figures are consistent. It makes no
// timed assertion: the figures depend on the machine.
func TestQuickBenchEndToEnd(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the bench creates network namespaces and loads eBPF programs")
	}
	if testing.Short() {
		t.Skip("skipped with -short: the quick bench builds the programs and runs for about two minutes")
	}
	dir := t.TempDir()
	lab := filepath.Join(dir, "lab")
	build := exec.Command("go", "build", "-o", lab, "github.com/wslfwd/wslfwd/lab")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./lab: %v\n%s", err, out)
	}
	out := filepath.Join(dir, "bench.json")
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	const trials = 5
	cmd := exec.CommandContext(ctx, lab, "bench", "--quick", "--trials", "5", "--json", out)
	cmd.Dir = "." // inside the module: the bench builds the programs from it
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("lab bench: %v\n%s", err, b)
	} else {
		t.Logf("lab bench:\n%s", b)
	}
	raw, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("bench JSON: %v\n%s", err, raw)
	}
	keys := append([]string{}, leafKeys...)
	for _, m := range []string{ModeEBPF, ModeScan} {
		for _, k := range modeKeys {
			keys = append(keys, "modes."+m+"."+k)
		}
	}
	for _, k := range keys {
		if _, ok := lookup(doc, k); !ok {
			t.Errorf("JSON lacks %s", k)
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	var r Result
	if err := json.Unmarshal(raw, &r); err != nil {
		t.Fatal(err)
	}
	if !r.Quick || !strings.Contains(r.Command, "--quick") {
		t.Errorf("quick = %v, command %q", r.Quick, r.Command)
	}
	for _, name := range []string{ModeEBPF, ModeScan} {
		m := r.Modes[name]
		if m.Trigger != name {
			t.Errorf("%s: trigger %q", name, m.Trigger)
		}
		for what, l := range map[string]Latency{"forward": m.Forward, "unforward": m.Unforward} {
			if what == "forward" && l.Trials != trials {
				t.Errorf("%s %s: %d trials, want %d", name, what, l.Trials, trials)
			}
			if l.OK+l.Failures != l.Trials || l.Trials > trials {
				t.Errorf("%s %s: ok %d + failures %d != trials %d (at most %d)", name, what, l.OK, l.Failures, l.Trials, trials)
			}
			if l.OK > 0 && !(0 < l.P50MS && l.P50MS <= l.P90MS && l.P90MS <= l.P99MS && l.P99MS <= l.MaxMS) {
				t.Errorf("%s %s: percentiles out of order: %+v", name, what, l)
			}
		}
		if m.Bulk.Listeners != 1000 || m.CPU.IdleListeners != 1000 {
			t.Errorf("%s: bulk of %d listeners, idle with %d, want 1000", name, m.Bulk.Listeners, m.CPU.IdleListeners)
		}
		if m.Bulk.ForwardedMS <= 0 || m.Bulk.UnforwardedMS <= 0 || m.Bulk.AgentRSSMiB <= 0 || m.Bulk.DaemonRSSMiB <= 0 || m.Bulk.AgentScanUS <= 0 {
			t.Errorf("%s: bulk figures not positive: %+v", name, m.Bulk)
		}
		if m.CPU.IdlePct < 0 || m.CPU.ChurnPct < 0 || m.CPU.IdleWindowS < 2 || m.CPU.ChurnWindowS < 2 ||
			m.CPU.ChurnOpensPerS <= 0 || m.CPU.ChurnClosesPerS <= 0 {
			t.Errorf("%s: cpu figures: %+v", name, m.CPU)
		}
	}
	sc := r.ScanCost
	if sc.Established != 10000 || sc.Scans != 200 || sc.Listeners < 1 ||
		sc.NoneUS <= 0 || sc.EstablishedUS <= 0 || sc.Ratio <= 0 || sc.AgentRatio <= 0 {
		t.Errorf("scan cost: %+v", sc)
	}
	tp := r.Throughput
	if tp.Bytes != 128<<20 || tp.DirectMiBs <= 0 || tp.RelayMiBs <= 0 || tp.Ratio <= 0 {
		t.Errorf("throughput: %+v", tp)
	}
	if len(r.Targets) != 16 {
		t.Errorf("%d targets, want 16: %+v", len(r.Targets), r.Targets)
	}
	for _, tg := range r.Targets {
		v, ok := lookup(doc, tg.Figure)
		if !ok {
			t.Errorf("target names %s, which the JSON lacks", tg.Figure)
			continue
		}
		if f, _ := v.(float64); tg.Value != -1 && f != tg.Value {
			t.Errorf("target %s has value %v, the figure is %v", tg.Figure, tg.Value, f)
		}
		met := tg.Value <= tg.Limit
		if tg.Op == ">=" {
			met = tg.Value >= tg.Limit
		}
		if tg.Value != -1 && met != tg.Met {
			t.Errorf("target %s: %v %s %v, yet met = %v", tg.Figure, tg.Value, tg.Op, tg.Limit, tg.Met)
		}
	}
}
