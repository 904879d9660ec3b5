package bench

import (
	"math"
	"slices"
	"time"
)

// Result is everything one run measured; its JSON form is documented in
// the package comment. Each figure measured more than once is the median
// of its repeats, with their range beside it under the same name plus
// "_range".
type Result struct {
	Quick          bool                   `json:"quick"`
	Command        string                 `json:"command"`
	Started        time.Time              `json:"started"`
	DurationS      float64                `json:"duration_s"`
	Kernel         string                 `json:"kernel"`
	CPUs           int                    `json:"cpus"`
	GoVersion      string                 `json:"go_version"`
	ScanIntervalMS float64                `json:"scan_interval_ms"`
	Repeats        int                    `json:"repeats"`
	Modes          map[string]*ModeResult `json:"modes"`
	Peers          Peers                  `json:"peers"`
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
	Trigger       string  `json:"trigger"`
	Forward       Latency `json:"forward"`
	ForwardLoaded Latency `json:"forward_loaded"`
	Unforward     Latency `json:"unforward"`
	Bulk          Bulk    `json:"bulk"`
	CPU           CPU     `json:"cpu"`
	// Kernel is the daemon on the kernel backend with this mode's agent
	// (measured in the eBPF mode only; nil in the other).
	Kernel *BackendLatency `json:"kernel,omitempty"`
}

// BackendLatency is the time to forward and unforward through another
// backend than the relay.
type BackendLatency struct {
	Forward   Latency `json:"forward"`
	Unforward Latency `json:"unforward"`
}

// Latency summarises trials run in repeats, in milliseconds. Each
// percentile is the median over the repeats of that repeat's percentile
// (nearest rank over its successful trials), with their range; all zero
// when none succeeded.
type Latency struct {
	Trials   int     `json:"trials"`
	OK       int     `json:"ok"`
	Failures int     `json:"failures"`
	Repeats  int     `json:"repeats"`
	P50MS    float64 `json:"p50_ms"`
	P50Range Spread  `json:"p50_ms_range"`
	P90MS    float64 `json:"p90_ms"`
	P90Range Spread  `json:"p90_ms_range"`
	P99MS    float64 `json:"p99_ms"`
	P99Range Spread  `json:"p99_ms_range"`
	MaxMS    float64 `json:"max_ms"`
	MaxRange Spread  `json:"max_ms_range"`
	// Unanswered counts the prober's tries, over all trials, whose connect
	// got no answer within answerWait and were abandoned for a fresh try.
	Unanswered int `json:"unanswered_tries"`
}

// Bulk is the many-listeners-at-once figure.
type Bulk struct {
	Listeners          int     `json:"listeners"`
	ForwardedMS        float64 `json:"forwarded_ms"`
	ForwardedMSRange   Spread  `json:"forwarded_ms_range"`
	UnforwardedMS      float64 `json:"unforwarded_ms"`
	UnforwardedMSRange Spread  `json:"unforwarded_ms_range"`
	AgentRSSMiB        float64 `json:"agent_rss_mib"`
	DaemonRSSMiB       float64 `json:"daemon_rss_mib"`
	AgentScanUS        float64 `json:"agent_scan_us"`
}

// CPU is the agent's and the daemon's CPU use as a percentage of one
// core, over Windows windows of each kind.
type CPU struct {
	Windows             int     `json:"windows"`
	IdlePct             float64 `json:"idle_pct"`
	IdlePctRange        Spread  `json:"idle_pct_range"`
	IdleWindowS         float64 `json:"idle_window_s"`
	IdleListeners       int     `json:"idle_listeners"`
	DaemonIdlePct       float64 `json:"daemon_idle_pct"`
	DaemonIdlePctRange  Spread  `json:"daemon_idle_pct_range"`
	ChurnPct            float64 `json:"churn_pct"`
	ChurnPctRange       Spread  `json:"churn_pct_range"`
	DaemonChurnPct      float64 `json:"daemon_churn_pct"`
	DaemonChurnPctRange Spread  `json:"daemon_churn_pct_range"`
	ChurnWindowS        float64 `json:"churn_window_s"`
	ChurnOpensPerS      float64 `json:"churn_opens_per_s"`
	ChurnClosesPerS     float64 `json:"churn_closes_per_s"`
}

// Peers are what others do in wslfwd's place, measured in the same run.
type Peers struct {
	// Socat is a plain socat relay from the host to the distro, set up by
	// hand for one port: nothing to detect, so its time to forward is the
	// floor the path and the prober set.
	Socat Peer `json:"socat"`
	// Poller is a process that dumps the distro's TCP listeners with
	// sock_diag every second, as WSL's own localhost relay does: its time
	// to forward is the time to see a new listener.
	Poller Peer `json:"poller"`
}

// Peer is one peer's figures. CPU is measured over the eBPF mode's idle
// windows, with the bulk listeners open.
type Peer struct {
	Forward     Latency `json:"forward"`
	CPUPct      float64 `json:"cpu_pct"`
	CPUPctRange Spread  `json:"cpu_pct_range"`
}

// ScanCost compares one listener scan with and without many established
// connections in the namespace.
type ScanCost struct {
	Established        int     `json:"established"`
	Scans              int     `json:"scans"`
	Listeners          int     `json:"listeners"`
	NoneUS             float64 `json:"none_us"`
	NoneUSRange        Spread  `json:"none_us_range"`
	EstablishedUS      float64 `json:"established_us"`
	EstablishedUSRange Spread  `json:"established_us_range"`
	Ratio              float64 `json:"ratio"`
	RatioRange         Spread  `json:"ratio_range"`
	AgentNoneUS        float64 `json:"agent_none_us"`
	AgentEstabUS       float64 `json:"agent_established_us"`
	AgentRatio         float64 `json:"agent_ratio"`
	AgentRatioRange    Spread  `json:"agent_ratio_range"`
}

// Throughput compares bulk TCP through the relay with the direct path,
// with socat relaying the same way and with the kernel backend's DNAT
// rule, in rounds of one transfer each.
type Throughput struct {
	Bytes             int64   `json:"bytes"`
	Rounds            int     `json:"rounds"`
	DirectMiBs        float64 `json:"direct_mib_s"`
	DirectRange       Spread  `json:"direct_mib_s_range"`
	RelayMiBs         float64 `json:"relay_mib_s"`
	RelayRange        Spread  `json:"relay_mib_s_range"`
	SocatMiBs         float64 `json:"socat_mib_s"`
	SocatRange        Spread  `json:"socat_mib_s_range"`
	Ratio             float64 `json:"ratio"`
	RatioRange        Spread  `json:"ratio_range"`
	RelayVsSocat      float64 `json:"relay_vs_socat"`
	RelayVsSocatRange Spread  `json:"relay_vs_socat_range"`
	// The kernel backend's DNAT rule on the same path.
	KernelMiBs          float64 `json:"kernel_mib_s"`
	KernelRange         Spread  `json:"kernel_mib_s_range"`
	KernelVsSocat       float64 `json:"kernel_vs_socat"`
	KernelVsSocatRange  Spread  `json:"kernel_vs_socat_range"`
	KernelVsDirect      float64 `json:"kernel_vs_direct"`
	KernelVsDirectRange Spread  `json:"kernel_vs_direct_range"`
	UDP                 UDP     `json:"udp"`
}

// UDP compares datagrams echoed through the relay with the direct path.
type UDP struct {
	Payload        int     `json:"payload"`      // bytes per datagram
	Window         int     `json:"window"`       // datagrams in flight
	SampleS        float64 `json:"sample_s"`     // each path's sample in a round
	DirectPerS     float64 `json:"direct_per_s"` // echoes a second
	DirectRange    Spread  `json:"direct_per_s_range"`
	RelayPerS      float64 `json:"relay_per_s"`
	RelayRange     Spread  `json:"relay_per_s_range"`
	Ratio          float64 `json:"ratio"` // relay ÷ direct, by round
	RatioRange     Spread  `json:"ratio_range"`
	DaemonCPUPct   float64 `json:"daemon_cpu_pct"` // while relaying
	DaemonCPURange Spread  `json:"daemon_cpu_pct_range"`
	Lost           int     `json:"lost"` // datagrams with no echo within 50 ms, both paths, all rounds
}

// Target is one goal checked against a figure.
type Target struct {
	Figure string  `json:"figure"`
	Op     string  `json:"op"`
	Limit  float64 `json:"limit"`
	Value  float64 `json:"value"`
	Met    bool    `json:"met"`
}

// summarize turns the successful trial durations of each repeat and the
// failure count into a Latency. Repeats without a success add no
// percentiles.
func summarize(repeats [][]time.Duration, failures int) Latency {
	l := Latency{Failures: failures, Repeats: len(repeats)}
	var p50, p90, p99, top []float64
	for _, ok := range repeats {
		l.OK += len(ok)
		if len(ok) == 0 {
			continue
		}
		s := slices.Sorted(slices.Values(ok))
		p50 = append(p50, ms(percentile(s, 50)))
		p90 = append(p90, ms(percentile(s, 90)))
		p99 = append(p99, ms(percentile(s, 99)))
		top = append(top, ms(s[len(s)-1]))
	}
	l.Trials = l.OK + failures
	l.P50MS, l.P50Range = spread(p50)
	l.P90MS, l.P90Range = spread(p90)
	l.P99MS, l.P99Range = spread(p99)
	l.MaxMS, l.MaxRange = spread(top)
	return l
}

// checkTargets fills r.Targets with issue 16's goals and issue 7's that
// it did not replace. Figures are named by their JSON path.
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
		lat("modes.ebpf.forward.p50_ms", m.Forward, m.Forward.P50MS, 1.5)
		lat("modes.ebpf.forward.p99_ms", m.Forward, m.Forward.P99MS, 5)
		lat("modes.ebpf.forward_loaded.p50_ms", m.ForwardLoaded, m.ForwardLoaded.P50MS, 2)
		lat("modes.ebpf.forward_loaded.p99_ms", m.ForwardLoaded, m.ForwardLoaded.P99MS, 8)
		lat("modes.ebpf.unforward.p99_ms", m.Unforward, m.Unforward.P99MS, 5)
		add("modes.ebpf.cpu.churn_pct", "<=", 1.5, m.CPU.ChurnPct)
		add("modes.ebpf.cpu.daemon_churn_pct", "<=", 5, m.CPU.DaemonChurnPct)
		add("modes.ebpf.cpu.idle_pct", "<=", 0.05, m.CPU.IdlePct)
		add("modes.ebpf.bulk.forwarded_ms", "<=", 150, m.Bulk.ForwardedMS)
	}
	if m := r.Modes[ModeScan]; m != nil {
		lat("modes.scan.forward.p99_ms", m.Forward, m.Forward.P99MS, 300)
		add("modes.scan.cpu.idle_pct", "<=", 0.2, m.CPU.IdlePct)
		add("modes.scan.cpu.churn_pct", "<=", 5, m.CPU.ChurnPct)
		add("modes.scan.bulk.forwarded_ms", "<=", 1000, m.Bulk.ForwardedMS)
	}
	for _, mode := range []string{ModeEBPF, ModeScan} {
		if m := r.Modes[mode]; m != nil {
			add("modes."+mode+".bulk.agent_rss_mib", "<=", 30, m.Bulk.AgentRSSMiB)
			add("modes."+mode+".bulk.daemon_rss_mib", "<=", 60, m.Bulk.DaemonRSSMiB)
		}
	}
	add("scan_cost.ratio", "<=", 1.5, r.ScanCost.Ratio)
	add("throughput.relay_vs_socat", ">=", 1.0, r.Throughput.RelayVsSocat)
	// JSON has no infinity: a failed latency is recorded as -1.
	for i := range r.Targets {
		if math.IsInf(r.Targets[i].Value, 0) {
			r.Targets[i].Value = -1
		}
	}
}
