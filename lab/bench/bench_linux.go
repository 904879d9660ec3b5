//go:build linux

package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
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
	Repeats      int           // each figure is measured this many times: median and range
	Trials       int           // forward/unforward trials per mode, over all repeats
	LoadedTrials int           // forward trials per mode with Bulk listeners open, over all repeats
	PeerTrials   int           // time-to-forward trials through socat, over all repeats
	PollerTrials int           // time-to-see trials of the 1 s poller, over all repeats
	Bulk         int           // listeners opened at once
	IdleWindow   time.Duration // one CPU window with Bulk listeners open and nothing happening
	ChurnWindow  time.Duration // one CPU window under churn
	ChurnRate    int           // listener opens a second under churn; each closes ChurnLife later, so changes are twice this
	ChurnLife    time.Duration
	PollInterval time.Duration // the poller peer's period
	Established  int           // connections for the scan cost
	Scans        int           // scans timed for each side of the scan cost, per repeat
	Bytes        int64         // bulk TCP transfer for each throughput sample
	Transfers    int           // throughput rounds, one transfer per path each
	TrialPort    int           // first port of the trials (each trial its own port)
	LoadedPort   int           // first port of the loaded trials
	PollerPort   int           // first port of the poller trials
	BulkPort     int           // first port of the bulk listeners
	ChurnPort    int           // first port of the churn listeners
	ChurnSpan    int           // ports the churn cycles through
	SinkPort     int           // throughput sink in wsl
	PeerPort     int           // the socat trials' listener in wsl
	SocatOffset  int           // socat listens on the host at a wsl port plus this
	KernelOffset int           // the kernel backend's forward listens on the host at the sink port plus this
	UDPPort      int           // the UDP echo in wsl
	UDPSample    time.Duration // one UDP rate sample, per path and round
}

// SizesFor returns the sizes of a quick (CI) or full run.
//
// Every port is below Linux's ephemeral range (32768–60999). The relay's
// connections into wsl take ephemeral ports in winhost and leave them in
// TIME_WAIT for a minute after each echo, and a forward cannot listen on a
// port such a socket holds: a trial on one waited up to 63 s for the
// daemon's retries.
func SizesFor(quick bool) Sizes {
	s := Sizes{
		Repeats: 3, Trials: 210, LoadedTrials: 60, PeerTrials: 60, PollerTrials: 30, Bulk: 1000,
		IdleWindow: 10 * time.Second, ChurnWindow: 5 * time.Second,
		ChurnRate: 50, ChurnLife: 500 * time.Millisecond, PollInterval: time.Second,
		Established: 10000, Scans: 1000,
		Bytes: 1 << 30, Transfers: 5,
		TrialPort: 21000, LoadedPort: 20600, PollerPort: 20800, BulkPort: 22000, ChurnPort: 24000, ChurnSpan: 2000,
		SinkPort: 20500, PeerPort: 20510, SocatOffset: 1, KernelOffset: 2,
		UDPPort: 20520, UDPSample: 3 * time.Second,
	}
	if quick {
		s.Trials, s.LoadedTrials, s.PeerTrials, s.PollerTrials = 21, 6, 9, 6
		s.IdleWindow, s.ChurnWindow = 2*time.Second, time.Second
		s.Scans = 100
		s.Bytes, s.Transfers = 128<<20, 3
		s.UDPSample = 500 * time.Millisecond
	}
	return s
}

// perRepeat splits n trials over the repeats, at least one each.
func (s Sizes) perRepeat(n int) int { return max(1, (n+s.Repeats-1)/s.Repeats) }

// run is one bench run's state.
type run struct {
	cfg    Config
	size   Sizes
	env    *labrun.Env
	helper *helperProc
	socat  *socatPair
	log    io.Writer
}

// Run builds the programs, starts a lab with the daemon (relay backend)
// and the peers, measures every figure with an agent in each detection
// mode in turn, then the time to forward with the daemon restarted on the
// kernel backend, and tears the lab down. It needs root, and socat.
func Run(ctx context.Context, cfg Config) (res *Result, err error) {
	b, err := newRun(cfg)
	if err != nil {
		return nil, err
	}
	res = &Result{
		Quick: cfg.Quick, Command: cfg.Command, Started: time.Now().UTC().Truncate(time.Second),
		Kernel: kernel(), CPUs: runtime.NumCPU(), GoVersion: runtime.Version(),
		ScanIntervalMS: ms(cfg.ScanInterval), Repeats: b.size.Repeats, Modes: map[string]*ModeResult{},
	}
	stop, err := b.start(ctx)
	if err != nil {
		return nil, err
	}
	defer func() { err = stop(err) }()
	for _, mode := range []string{ModeEBPF, ModeScan} {
		m, err := b.mode(ctx, mode, res)
		if err != nil {
			return nil, fmt.Errorf("%s mode: %w", mode, err)
		}
		res.Modes[mode] = m
	}
	if err := b.kernelTrials(ctx, res.Modes[ModeEBPF]); err != nil {
		return nil, fmt.Errorf("kernel backend: %w", err)
	}
	b.step(fmt.Sprintf("scan cost: %d × %d scans with no connections and with %d established",
		b.size.Repeats, b.size.Scans, b.size.Established))
	res.ScanCost, err = b.scanCost(ctx)
	if err != nil {
		return nil, fmt.Errorf("scan cost: %w", err)
	}
	res.DurationS = round3(time.Since(res.Started).Seconds())
	res.checkTargets()
	return res, nil
}

// newRun checks cfg and sizes the run.
func newRun(cfg Config) (*run, error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("the bench needs root: it creates network namespaces and loads eBPF programs")
	}
	if cfg.LabBinary == "" || cfg.Dir == "" {
		return nil, errors.New("bench: Config.LabBinary and Config.Dir are required")
	}
	if cfg.ScanInterval <= 0 {
		return nil, fmt.Errorf("bench: scan interval %v must be positive", cfg.ScanInterval)
	}
	if _, err := exec.LookPath("socat"); err != nil {
		return nil, fmt.Errorf("the bench compares with socat, which is not installed (apt-get install socat): %w", err)
	}
	b := &run{cfg: cfg, size: SizesFor(cfg.Quick), log: cfg.Progress}
	if b.log == nil {
		b.log = io.Discard
	}
	if cfg.Trials > 0 {
		b.size.Trials = cfg.Trials
	}
	return b, raiseFileLimit(b.size.Established + 4096)
}

// start builds the programs and starts the lab, the daemon, the helper
// and the socat peer. It returns a stop that tears them down and adds what
// failed to the error it is given.
func (b *run) start(ctx context.Context) (func(err error) error, error) {
	b.step("build wslfwd-hostd, wslfwd-agent, wslfwd")
	bin, err := labrun.Build(ctx, b.cfg.Dir)
	if err != nil {
		return nil, err
	}
	b.step("start the lab, the daemon (relay backend) and two socat relays")
	if b.env, err = labrun.Start(ctx, labrun.Options{Dir: b.cfg.Dir, Bin: bin}); err != nil {
		return nil, err
	}
	closeLab := func(err error) error {
		if err != nil {
			err = fmt.Errorf("%w\n%s", err, b.env.Logs(20))
		}
		if cerr := b.env.Close(); cerr != nil { // stops the helper and socat too
			err = errors.Join(err, fmt.Errorf("tear down the lab: %w", cerr))
		}
		return err
	}
	if b.helper, err = startHelper(b.env.Lab, b.cfg.LabBinary); err == nil {
		b.socat, err = startSocat(ctx, b.env.Lab, b.size)
	}
	if err != nil {
		return nil, closeLab(err)
	}
	helper := b.helper
	return func(err error) error { return closeLab(errors.Join(err, helper.stop())) }, nil
}

// mode starts an agent with the given trigger and measures the detection
// figures; in the eBPF mode also the throughput and the peers, while the
// agent runs as it would.
func (b *run) mode(ctx context.Context, trigger string, res *Result) (*ModeResult, error) {
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
	b.step(fmt.Sprintf("[%s] %d forward/unforward trials in %d repeats", trigger, b.size.Trials, b.size.Repeats))
	if m.Forward, m.Unforward, err = b.trials(ctx, trigger, b.size.TrialPort, b.size.Trials, true); err != nil {
		return nil, err
	}
	if trigger == ModeEBPF {
		if err := b.peersAndThroughput(ctx, res); err != nil {
			return nil, err
		}
	}
	if err := b.loaded(ctx, m, agent.Pid(), trigger == ModeEBPF, &res.Peers); err != nil {
		return nil, err
	}
	if err := agent.Stop(5 * time.Second); err != nil && !signalled(err) {
		return nil, fmt.Errorf("stop the %s agent: %w", trigger, err)
	}
	return m, nil
}

// peersAndThroughput measures socat's time to forward and the throughput
// of the three paths.
func (b *run) peersAndThroughput(ctx context.Context, res *Result) error {
	var err error
	b.step(fmt.Sprintf("peer: %d time-to-forward trials through socat", b.size.PeerTrials))
	if res.Peers.Socat.Forward, err = b.socatTrials(ctx); err != nil {
		return fmt.Errorf("socat trials: %w", err)
	}
	b.step(fmt.Sprintf("throughput: %d rounds of %d MiB direct (winhost → wsl), through the relay, socat and kernel DNAT (lan → winhost → wsl)",
		b.size.Transfers, b.size.Bytes>>20))
	if res.Throughput, err = b.throughput(ctx); err != nil {
		return fmt.Errorf("throughput: %w", err)
	}
	b.step(fmt.Sprintf("UDP: %d rounds of %v echoing %d-byte datagrams, %d in flight, direct (winhost → wsl) and through the relay (lan → winhost → wsl)",
		b.size.Transfers, b.size.UDPSample, udpPayload, udpWindow))
	if res.Throughput.UDP, err = b.udpRate(ctx); err != nil {
		return fmt.Errorf("UDP rate: %w", err)
	}
	return nil
}

// trials runs n forward/unforward trials (only forward ones unless
// unforward), each on a fresh port from first. The scan mode's ports start
// n further, so it never reuses a port the other mode's agent saw.
func (b *run) trials(ctx context.Context, mode string, first, n int, unforward bool) (fwd, unfwd Latency, err error) {
	var phase time.Duration
	if mode == ModeScan {
		first += n
		phase = b.cfg.ScanInterval
	}
	return b.repeated(n, func(i int) (trialResult, error) {
		to := hostPort(first + i)
		var gone *goneCheck
		if unforward {
			gone = b.refusedFromLAN(to)
		}
		return b.trial(ctx, first+i, to, phase, gone)
	})
}

// repeated runs trial 0..n-1 split evenly over Sizes.Repeats repeats
// (rounded up) and summarizes each half over the repeats.
func (b *run) repeated(n int, trial func(i int) (trialResult, error)) (fwd, unfwd Latency, err error) {
	var f, u halves
	per := b.size.perRepeat(n)
	for rep := range b.size.Repeats {
		f.nextRepeat()
		u.nextRepeat()
		for i := range per {
			r, err := trial(rep*per + i)
			if err != nil {
				return fwd, unfwd, err
			}
			f.add(r.forward, b.log)
			if !r.unforwardSkipped {
				u.add(r.unforward, b.log)
			}
		}
	}
	return f.latency(), u.latency(), nil
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
