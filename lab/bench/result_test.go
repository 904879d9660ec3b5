package bench

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestSummarizeNearestRank(t *testing.T) {
	var ok []time.Duration
	for i := 100; i >= 1; i-- { // unsorted on purpose
		ok = append(ok, time.Duration(i)*time.Millisecond)
	}
	l := summarize([][]time.Duration{ok}, 3)
	want := Latency{Trials: 103, OK: 100, Failures: 3, Repeats: 1,
		P50MS: 50, P50Range: Spread{50, 50}, P90MS: 90, P90Range: Spread{90, 90},
		P99MS: 99, P99Range: Spread{99, 99}, MaxMS: 100, MaxRange: Spread{100, 100}}
	if l != want {
		t.Errorf("summarize = %+v, want %+v", l, want)
	}
	if ok[0] != 100*time.Millisecond {
		t.Errorf("summarize reordered its input")
	}
}

// Each percentile is the median of the repeats' percentiles, with their
// range; a repeat without a success adds none.
func TestSummarizeRepeats(t *testing.T) {
	d := func(ms ...int) []time.Duration {
		var out []time.Duration
		for _, m := range ms {
			out = append(out, time.Duration(m)*time.Millisecond)
		}
		return out
	}
	l := summarize([][]time.Duration{d(1, 2, 3), d(5, 6, 9), d(2, 3, 4), nil}, 2)
	if l.Trials != 11 || l.OK != 9 || l.Repeats != 4 {
		t.Errorf("counts: %+v", l)
	}
	if l.P50MS != 3 || l.P50Range != (Spread{2, 6}) || l.MaxMS != 4 || l.MaxRange != (Spread{3, 9}) {
		t.Errorf("p50 %v %v, max %v %v; want 3 [2 6], 4 [3 9]", l.P50MS, l.P50Range, l.MaxMS, l.MaxRange)
	}
}

func TestSummarizeFewAndNone(t *testing.T) {
	l := summarize([][]time.Duration{{7 * time.Millisecond}}, 0)
	if l.P50MS != 7 || l.P99MS != 7 || l.MaxMS != 7 || l.OK != 1 {
		t.Errorf("one trial: %+v, want every percentile 7", l)
	}
	l = summarize([][]time.Duration{nil}, 4)
	if l != (Latency{Trials: 4, Failures: 4, Repeats: 1}) {
		t.Errorf("no success: %+v, want zero percentiles and 4 failures", l)
	}
}

func TestTargets(t *testing.T) {
	r := &Result{
		Modes: map[string]*ModeResult{
			ModeEBPF: {
				Forward:       Latency{Trials: 10, OK: 10, P50MS: 1.2, P99MS: 60, P99Range: Spread{40, 75}},
				ForwardLoaded: Latency{Trials: 10, OK: 10, P50MS: 1.9, P99MS: 7},
				Unforward:     Latency{Trials: 10, OK: 9, Failures: 1, P99MS: 5},
				CPU:           CPU{IdlePct: 0.04, ChurnPct: 7, DaemonChurnPct: 4},
				Bulk:          Bulk{Listeners: 1000, ForwardedMS: 500, AgentRSSMiB: 20, DaemonRSSMiB: 70},
			},
		},
		Repeats:    3,
		ScanCost:   ScanCost{Ratio: 1.1},
		Throughput: Throughput{Ratio: 0.5, RelayVsSocat: 1.2},
	}
	r.checkTargets()
	got := map[string]Target{}
	for _, tg := range r.Targets {
		got[tg.Figure] = tg
	}
	for figure, met := range map[string]bool{
		"modes.ebpf.forward.p50_ms":        true,
		"modes.ebpf.forward.p99_ms":        false,
		"modes.ebpf.forward_loaded.p50_ms": true,
		"modes.ebpf.forward_loaded.p99_ms": true,
		"modes.ebpf.unforward.p99_ms":      false, // a failed trial fails the goal
		"modes.ebpf.cpu.idle_pct":          true,
		"modes.ebpf.cpu.churn_pct":         false,
		"modes.ebpf.cpu.daemon_churn_pct":  true,
		"modes.ebpf.bulk.forwarded_ms":     false,
		"modes.ebpf.bulk.agent_rss_mib":    true,
		"modes.ebpf.bulk.daemon_rss_mib":   false,
		"scan_cost.ratio":                  true,
		"throughput.relay_vs_socat":        true,
	} {
		tg, ok := got[figure]
		if !ok {
			t.Errorf("no target for %s", figure)
			continue
		}
		if tg.Met != met {
			t.Errorf("%s: met = %v, want %v (%+v)", figure, tg.Met, met, tg)
		}
	}
	if v := got["modes.ebpf.unforward.p99_ms"].Value; v != -1 {
		t.Errorf("failed latency goal records %v, want -1", v)
	}
	if _, ok := got["modes.scan.forward.p99_ms"]; ok {
		t.Errorf("a target for the scan mode, which did not run")
	}

	var out bytes.Buffer
	if err := r.WriteTable(&out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"time to forward p99", "60 ms (40–75)", "<= 5", "ebpf NOT met", "relay ÷ socat",
		"time to forward, 1000 open p50", "daemon CPU under churn", "over 3 repeats"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
}

func TestFigure(t *testing.T) {
	for _, c := range []struct {
		v    float64
		unit string
		want string
	}{
		{1234.4, "ms", "1234 ms"}, {57.34, "ms", "57.3 ms"}, {0.6481, "%", "0.648 %"},
		{3, "ms", "3 ms"}, {0, "", "0"}, {-1, "", "-1"},
	} {
		if got := figure(c.v, c.unit); got != c.want {
			t.Errorf("figure(%v, %q) = %q, want %q", c.v, c.unit, got, c.want)
		}
	}
}

// A figure whose target differs by mode names each mode's; a shared one
// is printed once.
func TestTableTargetsPerMode(t *testing.T) {
	r := &Result{Repeats: 3, Modes: map[string]*ModeResult{
		ModeEBPF: {CPU: CPU{ChurnPct: 1}, Bulk: Bulk{Listeners: 1000}},
		ModeScan: {CPU: CPU{ChurnPct: 3}, Bulk: Bulk{Listeners: 1000}},
	}}
	r.checkTargets()
	var out bytes.Buffer
	if err := r.WriteTable(&out); err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(out.String(), "\n") {
		switch {
		case strings.HasPrefix(line, "agent CPU under churn"):
			if !strings.Contains(line, "ebpf <= 1.5, scan <= 5") || !strings.Contains(line, "ebpf met, scan met") {
				t.Errorf("churn row: %q", line)
			}
		case strings.HasPrefix(line, "agent RSS"):
			if !strings.Contains(line, "  <= 30  ") {
				t.Errorf("RSS row prints its shared target other than once: %q", line)
			}
		}
	}
}
