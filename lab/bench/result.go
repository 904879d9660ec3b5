package bench

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Result is everything one run measured; its JSON form is documented in
// the package comment.
type Result struct {
	Quick          bool                   `json:"quick"`
	Command        string                 `json:"command"`
	Started        time.Time              `json:"started"`
	DurationS      float64                `json:"duration_s"`
	Kernel         string                 `json:"kernel"`
	CPUs           int                    `json:"cpus"`
	GoVersion      string                 `json:"go_version"`
	ScanIntervalMS float64                `json:"scan_interval_ms"`
	Modes          map[string]*ModeResult `json:"modes"`
	ScanCost       ScanCost               `json:"scan_cost"`
	Throughput     Throughput             `json:"throughput"`
	Targets        []Target               `json:"targets"`
}

// Detection modes, the keys of Result.Modes; each is the agent's --trigger
// value that selects it.
const (
	ModeEBPF = "ebpf"
	ModeScan = "scan"
)

// ModeResult holds the figures that depend on how the agent detects
// listeners.
type ModeResult struct {
	Trigger   string  `json:"trigger"`
	Forward   Latency `json:"forward"`
	Unforward Latency `json:"unforward"`
	Bulk      Bulk    `json:"bulk"`
	CPU       CPU     `json:"cpu"`
}

// Latency summarises trials in milliseconds. Percentiles are over the
// successful trials (OK of them) by nearest rank; all zero when none
// succeeded.
type Latency struct {
	Trials   int     `json:"trials"`
	OK       int     `json:"ok"`
	Failures int     `json:"failures"`
	P50MS    float64 `json:"p50_ms"`
	P90MS    float64 `json:"p90_ms"`
	P99MS    float64 `json:"p99_ms"`
	MaxMS    float64 `json:"max_ms"`
}

// Bulk is the many-listeners-at-once figure.
type Bulk struct {
	Listeners     int     `json:"listeners"`
	ForwardedMS   float64 `json:"forwarded_ms"`
	UnforwardedMS float64 `json:"unforwarded_ms"`
	AgentRSSMiB   float64 `json:"agent_rss_mib"`
	DaemonRSSMiB  float64 `json:"daemon_rss_mib"`
	AgentScanUS   float64 `json:"agent_scan_us"`
}

// CPU is the agent's CPU use as a percentage of one core.
type CPU struct {
	IdlePct         float64 `json:"idle_pct"`
	IdleWindowS     float64 `json:"idle_window_s"`
	IdleListeners   int     `json:"idle_listeners"`
	ChurnPct        float64 `json:"churn_pct"`
	ChurnWindowS    float64 `json:"churn_window_s"`
	ChurnOpensPerS  float64 `json:"churn_opens_per_s"`
	ChurnClosesPerS float64 `json:"churn_closes_per_s"`
}

// ScanCost compares one listener scan with and without many established
// connections in the namespace.
type ScanCost struct {
	Established   int     `json:"established"`
	Scans         int     `json:"scans"`
	Listeners     int     `json:"listeners"`
	NoneUS        float64 `json:"none_us"`
	EstablishedUS float64 `json:"established_us"`
	Ratio         float64 `json:"ratio"`
	AgentNoneUS   float64 `json:"agent_none_us"`
	AgentEstabUS  float64 `json:"agent_established_us"`
	AgentRatio    float64 `json:"agent_ratio"`
}

// Throughput compares bulk TCP through the relay with the direct path.
type Throughput struct {
	Bytes      int64   `json:"bytes"`
	DirectMiBs float64 `json:"direct_mib_s"`
	RelayMiBs  float64 `json:"relay_mib_s"`
	Ratio      float64 `json:"ratio"`
}

// Target is one goal of issue 7 checked against a figure.
type Target struct {
	Figure string  `json:"figure"`
	Op     string  `json:"op"`
	Limit  float64 `json:"limit"`
	Value  float64 `json:"value"`
	Met    bool    `json:"met"`
}

// summarize turns trial durations (successes) and a failure count into a
// Latency.
func summarize(ok []time.Duration, failures int) Latency {
	l := Latency{Trials: len(ok) + failures, OK: len(ok), Failures: failures}
	if len(ok) == 0 {
		return l
	}
	s := slices.Clone(ok)
	slices.Sort(s)
	l.P50MS = ms(percentile(s, 50))
	l.P90MS = ms(percentile(s, 90))
	l.P99MS = ms(percentile(s, 99))
	l.MaxMS = ms(s[len(s)-1])
	return l
}

// percentile returns the nearest-rank p-th percentile of sorted, which
// must not be empty.
func percentile(sorted []time.Duration, p float64) time.Duration {
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	return sorted[max(rank, 1)-1]
}

func ms(d time.Duration) float64 { return round3(float64(d) / float64(time.Millisecond)) }

// round3 keeps three decimals, enough for every figure and readable JSON.
func round3(f float64) float64 { return math.Round(f*1000) / 1000 }

// checkTargets fills r.Targets with issue 7's goals. Figures are named by
// their JSON path. Mode-independent goals apply to both modes unless the
// issue names one.
func (r *Result) checkTargets() {
	add := func(figure, op string, limit, value float64) {
		met := value <= limit
		if op == ">=" {
			met = value >= limit
		}
		r.Targets = append(r.Targets, Target{Figure: figure, Op: op, Limit: limit, Value: value, Met: met})
	}
	// A latency goal cannot be met by a run whose trials failed.
	lat := func(figure string, l Latency, v, limit float64) {
		if l.Failures > 0 || l.OK == 0 {
			v = math.Inf(1)
		}
		add(figure, "<=", limit, v)
	}
	if m := r.Modes[ModeEBPF]; m != nil {
		lat("modes.ebpf.forward.p50_ms", m.Forward, m.Forward.P50MS, 10)
		lat("modes.ebpf.forward.p99_ms", m.Forward, m.Forward.P99MS, 50)
		lat("modes.ebpf.unforward.p99_ms", m.Unforward, m.Unforward.P99MS, 100)
	}
	if m := r.Modes[ModeScan]; m != nil {
		lat("modes.scan.forward.p99_ms", m.Forward, m.Forward.P99MS, 300)
	}
	for _, mode := range []string{ModeEBPF, ModeScan} {
		m := r.Modes[mode]
		if m == nil {
			continue
		}
		p := "modes." + mode + "."
		add(p+"cpu.idle_pct", "<=", 0.2, m.CPU.IdlePct)
		add(p+"cpu.churn_pct", "<=", 5, m.CPU.ChurnPct)
		add(p+"bulk.forwarded_ms", "<=", 1000, m.Bulk.ForwardedMS)
		add(p+"bulk.agent_rss_mib", "<=", 30, m.Bulk.AgentRSSMiB)
		add(p+"bulk.daemon_rss_mib", "<=", 60, m.Bulk.DaemonRSSMiB)
	}
	add("scan_cost.ratio", "<=", 1.5, r.ScanCost.Ratio)
	add("throughput.ratio", ">=", 0.8, r.Throughput.Ratio)
	// JSON has no infinity: a failed latency is recorded as -1.
	for i := range r.Targets {
		if math.IsInf(r.Targets[i].Value, 0) {
			r.Targets[i].Value = -1
		}
	}
}

// WriteTable prints the figures with their targets, one per line.
func (r *Result) WriteTable(w io.Writer) error {
	goals := map[string]Target{}
	for _, t := range r.Targets {
		goals[t.Figure] = t
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "figure\tebpf\tscan-only\ttarget\tmet")
	// mode prints one figure of both modes; key is its path under
	// modes.<mode>, which names its target if it has one.
	mode := func(name, key string, get func(*ModeResult) string) {
		row := []string{name}
		var target string
		var verdict []string
		for _, m := range []string{ModeEBPF, ModeScan} {
			mr := r.Modes[m]
			if mr == nil {
				row = append(row, "-")
				continue
			}
			row = append(row, get(mr))
			if t, ok := goals["modes."+m+"."+key]; ok {
				target = fmt.Sprintf("%s %g", t.Op, t.Limit)
				verdict = append(verdict, m+" "+yes(t.Met))
			}
		}
		row = append(row, target, strings.Join(verdict, ", "))
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	num := func(get func(*ModeResult) float64, unit string) func(*ModeResult) string {
		return func(m *ModeResult) string { return figure(get(m), unit) }
	}
	lat := func(name, key string, get func(*ModeResult) Latency) {
		mode(name+" trials", key+".trials", func(m *ModeResult) string {
			l := get(m)
			return fmt.Sprintf("%d (%d failed)", l.Trials, l.Failures)
		})
		for _, p := range []struct {
			label string
			v     func(Latency) float64
		}{
			{"p50", func(l Latency) float64 { return l.P50MS }},
			{"p90", func(l Latency) float64 { return l.P90MS }},
			{"p99", func(l Latency) float64 { return l.P99MS }},
			{"max", func(l Latency) float64 { return l.MaxMS }},
		} {
			mode(name+" "+p.label, key+"."+p.label+"_ms", num(func(m *ModeResult) float64 { return p.v(get(m)) }, "ms"))
		}
	}
	lat("time to forward", "forward", func(m *ModeResult) Latency { return m.Forward })
	lat("time to unforward", "unforward", func(m *ModeResult) Latency { return m.Unforward })
	mode("agent CPU idle (1000 listeners)", "cpu.idle_pct", num(func(m *ModeResult) float64 { return m.CPU.IdlePct }, "%"))
	mode("agent CPU under churn", "cpu.churn_pct", num(func(m *ModeResult) float64 { return m.CPU.ChurnPct }, "%"))
	mode("churn opens/s, closes/s", "", func(m *ModeResult) string {
		return fmt.Sprintf("%.0f, %.0f", m.CPU.ChurnOpensPerS, m.CPU.ChurnClosesPerS)
	})
	mode("1000 listeners forwarded in", "bulk.forwarded_ms", num(func(m *ModeResult) float64 { return m.Bulk.ForwardedMS }, "ms"))
	mode("1000 listeners unforwarded in", "bulk.unforwarded_ms", num(func(m *ModeResult) float64 { return m.Bulk.UnforwardedMS }, "ms"))
	mode("agent scan+owners (1000 listeners)", "bulk.agent_scan_us", num(func(m *ModeResult) float64 { return m.Bulk.AgentScanUS }, "µs"))
	mode("agent RSS (1000 listeners)", "bulk.agent_rss_mib", num(func(m *ModeResult) float64 { return m.Bulk.AgentRSSMiB }, "MiB"))
	mode("daemon RSS (1000 forwards)", "bulk.daemon_rss_mib", num(func(m *ModeResult) float64 { return m.Bulk.DaemonRSSMiB }, "MiB"))
	single := func(name, key string, v float64, unit string) {
		target, met := "", ""
		if t, ok := goals[key]; ok {
			target, met = fmt.Sprintf("%s %g", t.Op, t.Limit), yes(t.Met)
		}
		fmt.Fprintf(tw, "%s\t%s\t\t%s\t%s\n", name, figure(v, unit), target, met)
	}
	sc := r.ScanCost
	single(fmt.Sprintf("scan, no connections (%d listeners)", sc.Listeners), "", sc.NoneUS, "µs")
	single(fmt.Sprintf("scan, %d established", sc.Established), "", sc.EstablishedUS, "µs")
	single("scan cost ratio", "scan_cost.ratio", sc.Ratio, "")
	single("agent scan+owners cost ratio", "scan_cost.agent_ratio", sc.AgentRatio, "")
	tp := r.Throughput
	single(fmt.Sprintf("direct TCP, %d MiB", tp.Bytes>>20), "", tp.DirectMiBs, "MiB/s")
	single(fmt.Sprintf("relay TCP, %d MiB", tp.Bytes>>20), "", tp.RelayMiBs, "MiB/s")
	single("relay ÷ direct", "throughput.ratio", tp.Ratio, "")
	return tw.Flush()
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
