//go:build linux

package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/lab/labrun"
)

// Config says what to run.
type Config struct {
	// Quick is the CI size (see Sizes).
	Quick bool
	// Trials overrides the number of forward/unforward trials per mode
	// when positive.
	Trials int
	// LabBinary is the lab program, re-executed in wsl as the helper
	// (HelperCommand).
	LabBinary string
	// ScanInterval is the agents' --scan-interval: the period of the
	// scan-only mode.
	ScanInterval time.Duration
	// Dir holds the built programs, the lab's state and the logs.
	Dir string
	// Command is recorded in the result: how the run was started.
	Command string
	// Progress receives one line per step; nil discards them.
	Progress io.Writer
}

// Sizes are the workload sizes of a run.
type Sizes struct {
	Trials       int           // forward/unforward trials per mode
	Bulk         int           // listeners opened at once
	IdleWindow   time.Duration // agent CPU with Bulk listeners open and nothing happening
	ChurnWindow  time.Duration // agent CPU under churn
	ChurnRate    int           // listener opens a second under churn; each closes ChurnLife later, so changes are twice this
	ChurnLife    time.Duration
	Established  int   // connections for the scan cost
	Scans        int   // scans timed for each side of the scan cost
	Bytes        int64 // bulk TCP transfer for each throughput sample
	Transfers    int   // throughput rounds, one transfer per path each; the medians count
	TrialPort    int   // first port of the trials (each trial its own port)
	BulkPort     int   // first port of the bulk listeners
	ChurnPort    int   // first port of the churn listeners
	ChurnSpan    int   // ports the churn cycles through
	SinkPort     int   // throughput sink
	FullTrialMin int   // the minimum number of trials in a full run
}

// SizesFor returns the sizes of a quick (CI) or full run.
func SizesFor(quick bool) Sizes {
	s := Sizes{
		Trials: 200, Bulk: 1000,
		IdleWindow: 20 * time.Second, ChurnWindow: 10 * time.Second,
		ChurnRate: 50, ChurnLife: 500 * time.Millisecond,
		Established: 10000, Scans: 2000,
		Bytes: 1 << 30, Transfers: 5,
		TrialPort: 21000, BulkPort: 22000, ChurnPort: 24000, ChurnSpan: 2000, SinkPort: 20500,
		FullTrialMin: 200,
	}
	if quick {
		s.Trials = 20
		s.IdleWindow, s.ChurnWindow = 3*time.Second, 3*time.Second
		s.Scans = 200
		s.Bytes = 128 << 20
	}
	return s
}

// run is one bench run's state.
type run struct {
	cfg    Config
	size   Sizes
	env    *labrun.Env
	helper *helperProc
	log    io.Writer
}

// Run builds the programs, starts a lab with the daemon (relay backend),
// measures every figure with an agent in each detection mode in turn, and
// tears the lab down. It needs root.
func Run(ctx context.Context, cfg Config) (res *Result, err error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("the bench needs root: it creates network namespaces and loads eBPF programs")
	}
	if cfg.LabBinary == "" || cfg.Dir == "" {
		return nil, errors.New("bench: Config.LabBinary and Config.Dir are required")
	}
	if cfg.ScanInterval <= 0 {
		return nil, fmt.Errorf("bench: scan interval %v must be positive", cfg.ScanInterval)
	}
	b := &run{cfg: cfg, size: SizesFor(cfg.Quick), log: cfg.Progress}
	if b.log == nil {
		b.log = io.Discard
	}
	if cfg.Trials > 0 {
		b.size.Trials = cfg.Trials
	}
	if err := raiseFileLimit(b.size.Established + 4096); err != nil {
		return nil, err
	}
	res = &Result{
		Quick: cfg.Quick, Command: cfg.Command, Started: time.Now().UTC().Truncate(time.Second),
		Kernel: kernel(), CPUs: runtime.NumCPU(), GoVersion: runtime.Version(),
		ScanIntervalMS: ms(cfg.ScanInterval), Modes: map[string]*ModeResult{},
	}

	b.step("build wslfwd-hostd, wslfwd-agent, wslfwd")
	bin, err := labrun.Build(ctx, cfg.Dir)
	if err != nil {
		return nil, err
	}
	b.step("start the lab and the daemon (relay backend)")
	b.env, err = labrun.Start(ctx, labrun.Options{Dir: cfg.Dir, Bin: bin})
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			err = fmt.Errorf("%w\n%s", err, b.env.Logs(20))
		}
		if cerr := b.env.Close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("tear down the lab: %w", cerr))
		}
	}()
	b.helper, err = startHelper(b.env.Lab, cfg.LabBinary)
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, b.helper.stop()) }()

	for _, mode := range []string{ModeEBPF, ModeScan} {
		m, err := b.mode(ctx, mode, mode == ModeEBPF, &res.Throughput)
		if err != nil {
			return nil, fmt.Errorf("%s mode: %w", mode, err)
		}
		res.Modes[mode] = m
	}
	b.step(fmt.Sprintf("scan cost: %d scans with no connections and with %d established", b.size.Scans, b.size.Established))
	res.ScanCost, err = b.scanCost(ctx)
	if err != nil {
		return nil, fmt.Errorf("scan cost: %w", err)
	}
	res.DurationS = round3(time.Since(res.Started).Seconds())
	res.checkTargets()
	return res, nil
}

// mode starts an agent with the given trigger and measures the detection
// figures; with throughput set it also measures the relay's throughput
// while the agent runs.
func (b *run) mode(ctx context.Context, trigger string, throughput bool, tp *Throughput) (*ModeResult, error) {
	distro := "bench-" + trigger
	b.step(fmt.Sprintf("[%s] start the agent: --trigger %s --scan-interval %v --log-level warn", trigger, trigger, b.cfg.ScanInterval))
	agent, err := b.env.StartAgent(ctx, labrun.AgentOptions{Distro: distro,
		// The agent's own default log level: the lab's is info, whose line
		// per listener change is not what users run.
		Args: []string{"--trigger", trigger, "--scan-interval", b.cfg.ScanInterval.String(), "--log-level", "warn"}})
	if err != nil {
		return nil, err
	}
	m := &ModeResult{Trigger: trigger}
	b.step(fmt.Sprintf("[%s] %d forward/unforward trials", trigger, b.size.Trials))
	if m.Forward, m.Unforward, err = b.trials(ctx, trigger); err != nil {
		return nil, err
	}
	if throughput {
		b.step(fmt.Sprintf("throughput: %d MiB direct (winhost → wsl) and through the relay (lan → winhost → wsl)", b.size.Bytes>>20))
		if *tp, err = b.throughput(ctx); err != nil {
			return nil, fmt.Errorf("throughput: %w", err)
		}
	}
	b.step(fmt.Sprintf("[%s] %d listeners at once, then agent CPU idle for %v and under churn for %v",
		trigger, b.size.Bulk, b.size.IdleWindow, b.size.ChurnWindow))
	if m.Bulk, m.CPU, err = b.bulk(ctx, agent.Pid()); err != nil {
		return nil, err
	}
	if err := agent.Stop(5 * time.Second); err != nil && !signalled(err) {
		return nil, fmt.Errorf("stop the %s agent: %w", trigger, err)
	}
	return m, nil
}

// trials runs the forward/unforward trials on a fresh port each.
func (b *run) trials(ctx context.Context, mode string) (fwd, unfwd Latency, err error) {
	var fok, uok []time.Duration
	var ffail, ufail int
	base := b.size.TrialPort
	var phase time.Duration
	if mode == ModeScan {
		base += b.size.Trials // never reuse a port the other mode's agent saw
		phase = b.cfg.ScanInterval
	}
	for i := range b.size.Trials {
		r, err := b.trial(ctx, base+i, phase)
		if err != nil {
			return fwd, unfwd, err
		}
		if r.forwardErr != nil {
			ffail++
			fmt.Fprintf(b.log, "     trial %d failed: %v\n", i, r.forwardErr)
		} else {
			fok = append(fok, r.forward)
		}
		switch {
		case r.unforwardSkipped:
		case r.unforwardErr != nil:
			ufail++
			fmt.Fprintf(b.log, "     trial %d failed: %v\n", i, r.unforwardErr)
		default:
			uok = append(uok, r.unforward)
		}
	}
	return summarize(fok, ffail), summarize(uok, ufail), nil
}

// bulk opens Size.Bulk listeners at once and times until all are
// forwarded, reads both RSS figures, measures the agent's CPU idle and
// under churn with them open, then closes them and times until all
// forwards are gone.
func (b *run) bulk(ctx context.Context, agentPID int) (Bulk, CPU, error) {
	n, first := b.size.Bulk, b.size.BulkPort
	out := Bulk{Listeners: n}
	var cpu CPU
	opened, err := b.helper.mono("open-many %d %d", first, n)
	if err != nil {
		return out, cpu, err
	}
	at, err := b.waitActive(ctx, first, n, n)
	if err != nil {
		return out, cpu, err
	}
	out.ForwardedMS = ms(time.Duration(at - opened))
	if out.AgentRSSMiB, err = rssMiB(agentPID); err != nil {
		return out, cpu, err
	}
	if out.DaemonRSSMiB, err = rssMiB(b.env.Daemon.Pid()); err != nil {
		return out, cpu, err
	}
	out.AgentRSSMiB, out.DaemonRSSMiB = round3(out.AgentRSSMiB), round3(out.DaemonRSSMiB)
	if out.AgentScanUS, err = b.agentScan(50); err != nil {
		return out, cpu, err
	}

	// Let the trailing scans and the reconcile finish before "idle" starts.
	time.Sleep(time.Second)
	pct, wall, err := cpuPercent(agentPID, b.size.IdleWindow, nil)
	if err != nil {
		return out, cpu, err
	}
	cpu.IdlePct, cpu.IdleWindowS, cpu.IdleListeners = round3(pct), round3(wall.Seconds()), n

	var opens, closes int
	pct, wall, err = cpuPercent(agentPID, b.size.ChurnWindow, func() error {
		f, err := b.helper.call(b.size.ChurnWindow+30*time.Second, "churn %d %d %d %d %d",
			b.size.ChurnPort, b.size.ChurnSpan, b.size.ChurnRate,
			b.size.ChurnWindow.Milliseconds(), b.size.ChurnLife.Milliseconds())
		if err != nil {
			return err
		}
		if len(f) != 2 {
			return fmt.Errorf("churn: malformed reply %q", f)
		}
		_, err = fmt.Sscan(f[0]+" "+f[1], &opens, &closes)
		return err
	})
	if err != nil {
		return out, cpu, err
	}
	cpu.ChurnPct, cpu.ChurnWindowS = round3(pct), round3(wall.Seconds())
	cpu.ChurnOpensPerS = round3(float64(opens) / wall.Seconds())
	cpu.ChurnClosesPerS = round3(float64(closes) / wall.Seconds())

	closed, err := b.helper.mono("close-many %d %d", first, n)
	if err != nil {
		return out, cpu, err
	}
	if at, err = b.waitActive(ctx, first, n, 0); err != nil {
		return out, cpu, err
	}
	out.UnforwardedMS = ms(time.Duration(at - closed))
	// The churn's forwards go too before the next mode starts.
	_, err = b.waitActive(ctx, b.size.ChurnPort, b.size.ChurnSpan, 0)
	return out, cpu, err
}

// bulkPoll is how often waitActive lists the forwards; ListForwards of a
// thousand forwards is not free for the daemon being measured.
const bulkPoll = 10 * time.Millisecond

// waitActive polls ListForwards until exactly want TCP forwards with host
// ports first..first+n-1 are listed (ACTIVE ones when want > 0; any state
// counts as still there when want is 0), and returns the CLOCK_MONOTONIC
// time it saw that.
func (b *run) waitActive(ctx context.Context, first, n, want int) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	last := -1
	for {
		fs, err := b.env.Forwards(ctx, false)
		if err == nil {
			count := 0
			for _, f := range fs {
				p := int(f.GetListenPort())
				if f.GetProtocol() != wslfwdv1.Protocol_PROTOCOL_TCP || p < first || p >= first+n {
					continue
				}
				if want == 0 || f.GetState() == wslfwdv1.ForwardState_FORWARD_STATE_ACTIVE {
					count++
				}
			}
			if count == want {
				return Monotonic(), nil
			}
			last = count
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("waiting for %d forwards on ports %d-%d (last saw %d, last error %v): %w",
				want, first, first+n-1, last, err, ctx.Err())
		case <-time.After(bulkPoll):
		}
	}
}

func (b *run) step(what string) {
	fmt.Fprintf(b.log, "%s  %s\n", time.Now().Format("15:04:05"), what)
}

// raiseFileLimit makes room for the scan cost's connections (one file
// descriptor each: the server ends stay unaccepted).
func raiseFileLimit(n int) error {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("read the open-file limit: %w", err)
	}
	if lim.Cur >= uint64(n) {
		return nil
	}
	lim.Cur = uint64(n)
	lim.Max = max(lim.Max, lim.Cur)
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("raise the open-file limit to %d: %w", n, err)
	}
	return nil
}

// kernel is the running kernel's release, for the record.
func kernel() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return "unknown"
	}
	return strings.TrimRight(string(u.Release[:]), "\x00")
}
