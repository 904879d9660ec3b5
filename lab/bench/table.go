package bench

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
)

// WriteTable prints the figures with their spread and targets, one per
// line: the two detection modes side by side, then the peers and the
// mode-independent figures.
func (r *Result) WriteTable(w io.Writer) error {
	t := &table{r: r, tw: tabwriter.NewWriter(w, 0, 0, 2, ' ', 0), goals: map[string]Target{}}
	for _, g := range r.Targets {
		t.goals[g.Figure] = g
	}
	fmt.Fprintf(t.tw, "figure (median, range over %d repeats)\tebpf\tscan-only\ttarget\tmet\n", r.Repeats)
	t.latency("time to forward", "forward", func(m *ModeResult) *Latency { return &m.Forward })
	t.latency(fmt.Sprintf("time to forward, %d open", r.bulkListeners()), "forward_loaded",
		func(m *ModeResult) *Latency { return &m.ForwardLoaded })
	t.latency("time to unforward", "unforward", func(m *ModeResult) *Latency { return &m.Unforward })
	t.latency("kernel backend: time to forward", "kernel.forward", func(m *ModeResult) *Latency {
		if m.Kernel == nil {
			return nil
		}
		return &m.Kernel.Forward
	})
	t.latency("kernel backend: time to unforward", "kernel.unforward", func(m *ModeResult) *Latency {
		if m.Kernel == nil {
			return nil
		}
		return &m.Kernel.Unforward
	})
	t.cpu()
	t.bulk()
	t.peers()
	t.rest()
	return t.tw.Flush()
}

// table is WriteTable's state.
type table struct {
	r     *Result
	tw    *tabwriter.Writer
	goals map[string]Target
}

// bulkListeners is how many listeners the bulk figures had open.
func (r *Result) bulkListeners() int {
	for _, m := range r.Modes {
		return m.Bulk.Listeners
	}
	return 0
}

// mode prints one figure of both modes; key is its path under
// modes.<mode>, which names its target if it has one.
func (t *table) mode(name, key string, get func(*ModeResult) string) {
	row := []string{name}
	var limits, named, verdict []string // named: each mode's target with its name
	for _, m := range []string{ModeEBPF, ModeScan} {
		mr := t.r.Modes[m]
		if mr == nil {
			row = append(row, "-")
			continue
		}
		row = append(row, get(mr))
		if g, ok := t.goals["modes."+m+"."+key]; ok {
			limit := fmt.Sprintf("%s %g", g.Op, g.Limit)
			limits, named = append(limits, limit), append(named, m+" "+limit)
			verdict = append(verdict, m+" "+yes(g.Met))
		}
	}
	// A target both modes share is printed once.
	target := strings.Join(named, ", ")
	if len(limits) > 0 && len(slices.Compact(limits)) == 1 {
		target = limits[0]
	}
	row = append(row, target, strings.Join(verdict, ", "))
	fmt.Fprintln(t.tw, strings.Join(row, "\t"))
}

// single prints a figure that is not per mode; key names its target.
func (t *table) single(name, key, value string) {
	target, met := "", ""
	if g, ok := t.goals[key]; ok {
		target, met = fmt.Sprintf("%s %g", g.Op, g.Limit), yes(g.Met)
	}
	fmt.Fprintf(t.tw, "%s\t%s\t\t%s\t%s\n", name, value, target, met)
}

// latency prints the trial count and each percentile of one latency;
// "-" for a mode where get returns nil (not measured there).
func (t *table) latency(name, key string, get func(*ModeResult) *Latency) {
	t.mode(name+" trials", key+".trials", func(m *ModeResult) string {
		l := get(m)
		if l == nil {
			return "-"
		}
		return fmt.Sprintf("%d (%d failed, %d tries unanswered)", l.Trials, l.Failures, l.Unanswered)
	})
	for _, p := range []struct {
		label string
		v     func(Latency) (float64, Spread)
	}{
		{"p50", func(l Latency) (float64, Spread) { return l.P50MS, l.P50Range }},
		{"p90", func(l Latency) (float64, Spread) { return l.P90MS, l.P90Range }},
		{"p99", func(l Latency) (float64, Spread) { return l.P99MS, l.P99Range }},
		{"max", func(l Latency) (float64, Spread) { return l.MaxMS, l.MaxRange }},
	} {
		t.mode(name+" "+p.label, key+"."+p.label+"_ms", func(m *ModeResult) string {
			l := get(m)
			if l == nil {
				return "-"
			}
			v, r := p.v(*l)
			return ranged(v, r, "ms")
		})
	}
}

func (t *table) cpu() {
	n := t.r.bulkListeners()
	t.mode(fmt.Sprintf("agent CPU idle (%d listeners)", n), "cpu.idle_pct",
		func(m *ModeResult) string { return ranged(m.CPU.IdlePct, m.CPU.IdlePctRange, "%") })
	t.mode("daemon CPU idle", "cpu.daemon_idle_pct",
		func(m *ModeResult) string { return ranged(m.CPU.DaemonIdlePct, m.CPU.DaemonIdlePctRange, "%") })
	t.mode("agent CPU under churn", "cpu.churn_pct",
		func(m *ModeResult) string { return ranged(m.CPU.ChurnPct, m.CPU.ChurnPctRange, "%") })
	t.mode("daemon CPU under churn", "cpu.daemon_churn_pct",
		func(m *ModeResult) string { return ranged(m.CPU.DaemonChurnPct, m.CPU.DaemonChurnPctRange, "%") })
	t.mode("churn opens/s, closes/s", "", func(m *ModeResult) string {
		return fmt.Sprintf("%.0f, %.0f", m.CPU.ChurnOpensPerS, m.CPU.ChurnClosesPerS)
	})
}

func (t *table) bulk() {
	n := t.r.bulkListeners()
	t.mode(fmt.Sprintf("%d listeners forwarded in", n), "bulk.forwarded_ms",
		func(m *ModeResult) string { return ranged(m.Bulk.ForwardedMS, m.Bulk.ForwardedMSRange, "ms") })
	t.mode(fmt.Sprintf("%d listeners unforwarded in", n), "bulk.unforwarded_ms",
		func(m *ModeResult) string { return ranged(m.Bulk.UnforwardedMS, m.Bulk.UnforwardedMSRange, "ms") })
	t.mode(fmt.Sprintf("agent scan+owners (%d listeners)", n), "bulk.agent_scan_us",
		func(m *ModeResult) string { return figure(m.Bulk.AgentScanUS, "µs") })
	t.mode(fmt.Sprintf("agent RSS (%d listeners)", n), "bulk.agent_rss_mib",
		func(m *ModeResult) string { return figure(m.Bulk.AgentRSSMiB, "MiB") })
	t.mode(fmt.Sprintf("daemon RSS (%d forwards)", n), "bulk.daemon_rss_mib",
		func(m *ModeResult) string { return figure(m.Bulk.DaemonRSSMiB, "MiB") })
}

func (t *table) peers() {
	for _, p := range []struct {
		name string
		peer Peer
	}{{"peer socat (static relay)", t.r.Peers.Socat}, {"peer 1 s sock_diag poller", t.r.Peers.Poller}} {
		f := p.peer.Forward
		t.single(p.name+": time to forward p50 / p99", "",
			ranged(f.P50MS, f.P50Range, "ms")+" / "+ranged(f.P99MS, f.P99Range, "ms"))
		t.single(p.name+": CPU idle", "", ranged(p.peer.CPUPct, p.peer.CPUPctRange, "%"))
	}
}

// rest prints the scan cost and the throughput.
func (t *table) rest() {
	sc := t.r.ScanCost
	t.single(fmt.Sprintf("scan, no connections (%d listeners)", sc.Listeners), "", ranged(sc.NoneUS, sc.NoneUSRange, "µs"))
	t.single(fmt.Sprintf("scan, %d established", sc.Established), "", ranged(sc.EstablishedUS, sc.EstablishedUSRange, "µs"))
	t.single("scan cost ratio", "scan_cost.ratio", ranged(sc.Ratio, sc.RatioRange, ""))
	t.single("agent scan+owners cost ratio", "scan_cost.agent_ratio", ranged(sc.AgentRatio, sc.AgentRatioRange, ""))
	tp := t.r.Throughput
	t.single(fmt.Sprintf("direct TCP, %d MiB", tp.Bytes>>20), "", ranged(tp.DirectMiBs, tp.DirectRange, "MiB/s"))
	t.single(fmt.Sprintf("relay TCP, %d MiB", tp.Bytes>>20), "", ranged(tp.RelayMiBs, tp.RelayRange, "MiB/s"))
	t.single(fmt.Sprintf("socat TCP, %d MiB", tp.Bytes>>20), "", ranged(tp.SocatMiBs, tp.SocatRange, "MiB/s"))
	t.single("relay ÷ direct", "throughput.ratio", ranged(tp.Ratio, tp.RatioRange, ""))
	t.single("relay ÷ socat", "throughput.relay_vs_socat", ranged(tp.RelayVsSocat, tp.RelayVsSocatRange, ""))
	t.single(fmt.Sprintf("kernel DNAT TCP, %d MiB", tp.Bytes>>20), "", ranged(tp.KernelMiBs, tp.KernelRange, "MiB/s"))
	t.single("kernel ÷ direct", "throughput.kernel_vs_direct", ranged(tp.KernelVsDirect, tp.KernelVsDirectRange, ""))
	t.single("kernel ÷ socat", "throughput.kernel_vs_socat", ranged(tp.KernelVsSocat, tp.KernelVsSocatRange, ""))
	u := tp.UDP
	t.single(fmt.Sprintf("direct UDP, %d B, %d in flight", u.Payload, u.Window), "", ranged(u.DirectPerS, u.DirectRange, "/s"))
	t.single("relay UDP", "", ranged(u.RelayPerS, u.RelayRange, "/s"))
	t.single("relay UDP ÷ direct", "throughput.udp.ratio", ranged(u.Ratio, u.RatioRange, ""))
	t.single("daemon CPU relaying UDP", "", ranged(u.DaemonCPUPct, u.DaemonCPURange, "%"))
	t.single("UDP datagrams lost, both paths", "", strconv.Itoa(u.Lost))
}

// ranged formats a median with its range: "1.8 ms (1.6–2.1)".
func ranged(v float64, r Spread, unit string) string {
	s := figure(v, unit)
	if r == (Spread{}) {
		return s
	}
	return fmt.Sprintf("%s (%s–%s)", s, figure(r[0], ""), figure(r[1], ""))
}

// figure formats a value readably, never in exponent form: whole numbers
// from 100 up (1234 ms), else three significant digits (57.3 ms, 0.648 %).
func figure(v float64, unit string) string {
	if a := math.Abs(v); a >= 100 {
		v = math.Round(v)
	} else if a > 0 {
		scale := math.Pow(10, 2-math.Floor(math.Log10(a)))
		v = math.Round(v*scale) / scale
	}
	return strings.TrimSpace(strconv.FormatFloat(v, 'f', -1, 64) + " " + unit)
}

func yes(met bool) string {
	if met {
		return "met"
	}
	return "NOT met"
}
