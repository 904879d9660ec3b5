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
	"quick", "command", "started", "duration_s", "kernel", "cpus", "go_version", "scan_interval_ms", "repeats",
	"scan_cost.established", "scan_cost.scans", "scan_cost.listeners", "scan_cost.none_us", "scan_cost.none_us_range",
	"scan_cost.established_us", "scan_cost.established_us_range", "scan_cost.ratio", "scan_cost.ratio_range",
	"scan_cost.agent_none_us", "scan_cost.agent_established_us", "scan_cost.agent_ratio", "scan_cost.agent_ratio_range",
	"throughput.bytes", "throughput.rounds", "throughput.direct_mib_s", "throughput.direct_mib_s_range",
	"throughput.relay_mib_s", "throughput.relay_mib_s_range", "throughput.socat_mib_s", "throughput.socat_mib_s_range",
	"throughput.ratio", "throughput.ratio_range", "throughput.relay_vs_socat", "throughput.relay_vs_socat_range",
	"throughput.kernel_mib_s", "throughput.kernel_mib_s_range", "throughput.kernel_vs_socat",
	"throughput.kernel_vs_socat_range", "throughput.kernel_vs_direct", "throughput.kernel_vs_direct_range",
	"throughput.udp.payload", "throughput.udp.window", "throughput.udp.sample_s", "throughput.udp.direct_per_s",
	"throughput.udp.direct_per_s_range", "throughput.udp.relay_per_s", "throughput.udp.relay_per_s_range",
	"throughput.udp.ratio", "throughput.udp.ratio_range", "throughput.udp.daemon_cpu_pct",
	"throughput.udp.daemon_cpu_pct_range", "throughput.udp.lost",
	"peers.socat.cpu_pct", "peers.socat.cpu_pct_range", "peers.poller.cpu_pct", "peers.poller.cpu_pct_range",
}

// latencyKeys are the keys of every Latency.
var latencyKeys = []string{"trials", "ok", "failures", "repeats", "p50_ms", "p50_ms_range", "p90_ms", "p90_ms_range",
	"p99_ms", "p99_ms_range", "max_ms", "max_ms_range", "unanswered_tries"}

var modeKeys = []string{
	"trigger",
	"bulk.listeners", "bulk.forwarded_ms", "bulk.forwarded_ms_range", "bulk.unforwarded_ms", "bulk.unforwarded_ms_range",
	"bulk.agent_rss_mib", "bulk.daemon_rss_mib", "bulk.agent_scan_us",
	"cpu.windows", "cpu.idle_pct", "cpu.idle_pct_range", "cpu.idle_window_s", "cpu.idle_listeners",
	"cpu.daemon_idle_pct", "cpu.daemon_idle_pct_range", "cpu.churn_pct", "cpu.churn_pct_range",
	"cpu.daemon_churn_pct", "cpu.daemon_churn_pct_range", "cpu.churn_window_s",
	"cpu.churn_opens_per_s", "cpu.churn_closes_per_s",
}

// documentedKeys are every key the package comment documents, by path.
func documentedKeys() []string {
	keys := append([]string{}, leafKeys...)
	for _, lat := range []string{"peers.socat.forward", "peers.poller.forward"} {
		for _, k := range latencyKeys {
			keys = append(keys, lat+"."+k)
		}
	}
	for _, m := range []string{ModeEBPF, ModeScan} {
		for _, k := range modeKeys {
			keys = append(keys, "modes."+m+"."+k)
		}
		for _, lat := range []string{"forward", "forward_loaded", "unforward"} {
			for _, k := range latencyKeys {
				keys = append(keys, "modes."+m+"."+lat+"."+k)
			}
		}
	}
	for _, lat := range []string{"kernel.forward", "kernel.unforward"} {
		for _, k := range latencyKeys {
			keys = append(keys, "modes."+ModeEBPF+"."+lat+"."+k)
		}
	}
	return keys
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
// `lab bench --quick --trials 6 --json FILE`, then checks that the file
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
	const trials = 6 // two per repeat
	cmd := exec.CommandContext(ctx, lab, "bench", "--quick", "--trials", "6", "--json", out)
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
	keys := documentedKeys()
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
		for what, l := range map[string]Latency{"forward": m.Forward, "unforward": m.Unforward, "forward_loaded": m.ForwardLoaded} {
			checkLatency(t, name+" "+what, l, map[string]int{"forward": trials, "unforward": trials, "forward_loaded": 6}[what])
		}
		if m.Bulk.Listeners != 1000 || m.CPU.IdleListeners != 1000 {
			t.Errorf("%s: bulk of %d listeners, idle with %d, want 1000", name, m.Bulk.Listeners, m.CPU.IdleListeners)
		}
		if m.Bulk.ForwardedMS <= 0 || m.Bulk.UnforwardedMS <= 0 || m.Bulk.AgentRSSMiB <= 0 || m.Bulk.DaemonRSSMiB <= 0 || m.Bulk.AgentScanUS <= 0 {
			t.Errorf("%s: bulk figures not positive: %+v", name, m.Bulk)
		}
		if c := m.CPU; c.Windows != 3 || c.IdlePct < 0 || c.ChurnPct <= 0 || c.DaemonChurnPct <= 0 || c.IdleWindowS < 2 ||
			c.ChurnWindowS < 1 || c.ChurnOpensPerS <= 0 || c.ChurnClosesPerS <= 0 ||
			!within(c.IdlePct, c.IdlePctRange) || !within(c.ChurnPct, c.ChurnPctRange) || !within(c.DaemonChurnPct, c.DaemonChurnPctRange) {
			t.Errorf("%s: cpu figures: %+v", name, m.CPU)
		}
	}
	if k := r.Modes[ModeEBPF].Kernel; k == nil || r.Modes[ModeScan].Kernel != nil {
		t.Errorf("kernel backend figures: want them in modes.ebpf only")
	} else {
		checkLatency(t, "kernel forward", k.Forward, trials)
		checkLatency(t, "kernel unforward", k.Unforward, trials)
	}
	sc := r.ScanCost
	if sc.Established != 10000 || sc.Scans != 100 || sc.Listeners < 1 ||
		sc.NoneUS <= 0 || sc.EstablishedUS <= 0 || sc.Ratio <= 0 || sc.AgentRatio <= 0 {
		t.Errorf("scan cost: %+v", sc)
	}
	tp := r.Throughput
	if tp.Bytes != 128<<20 || tp.Rounds != 3 || tp.DirectMiBs <= 0 || tp.RelayMiBs <= 0 || tp.SocatMiBs <= 0 ||
		tp.Ratio <= 0 || !within(tp.RelayVsSocat, tp.RelayVsSocatRange) ||
		tp.KernelMiBs <= 0 || !within(tp.KernelVsSocat, tp.KernelVsSocatRange) || !within(tp.KernelVsDirect, tp.KernelVsDirectRange) {
		t.Errorf("throughput: %+v", tp)
	}
	checkLatency(t, "socat", r.Peers.Socat.Forward, 9)
	checkLatency(t, "poller", r.Peers.Poller.Forward, 6)
	if p := r.Peers.Poller; p.Forward.OK > 0 && p.Forward.P50MS < 1 {
		t.Errorf("the 1 s poller saw listeners after %v ms: it cannot see one before its next dump", p.Forward.P50MS)
	}
	if len(r.Targets) != 19 {
		t.Errorf("%d targets, want 19: %+v", len(r.Targets), r.Targets)
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

// checkLatency checks that l counts want trials over three repeats (at
// most want for unforward, whose trials are skipped when the forward
// failed), and that its percentiles are in order and within their ranges.
func checkLatency(t *testing.T, what string, l Latency, want int) {
	t.Helper()
	exact := !strings.HasSuffix(what, " unforward")
	if l.Repeats != 3 || l.OK+l.Failures != l.Trials || l.Trials > want || (exact && l.Trials != want) {
		t.Errorf("%s: %d repeats, ok %d + failures %d, trials %d (want %d)", what, l.Repeats, l.OK, l.Failures, l.Trials, want)
	}
	if l.OK > 0 && !(0 < l.P50MS && l.P50MS <= l.P90MS && l.P90MS <= l.P99MS && l.P99MS <= l.MaxMS) {
		t.Errorf("%s: percentiles out of order: %+v", what, l)
	}
	if l.OK > 0 && !(within(l.P50MS, l.P50Range) && within(l.P99MS, l.P99Range) && within(l.MaxMS, l.MaxRange)) {
		t.Errorf("%s: a median outside its range: %+v", what, l)
	}
}

// within reports whether v lies in r.
func within(v float64, r Spread) bool { return r[0] <= v && v <= r[1] }
