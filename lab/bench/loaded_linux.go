//go:build linux

package bench

import (
	"context"
	"fmt"
	"time"
)

// loaded opens Sizes.Bulk listeners at once Sizes.Repeats times, timing
// until all are forwarded and, between the repeats, until all are gone
// again. With them open the last time it measures what depends on their
// number (see whileOpen), then closes them. With peers it measures the
// peers' CPU and the poller's trials too.
func (b *run) loaded(ctx context.Context, m *ModeResult, agentPID int, peers bool, pr *Peers) error {
	m.Bulk.Listeners = b.size.Bulk
	b.step(fmt.Sprintf("[%s] %d listeners at once, %d times", m.Trigger, b.size.Bulk, b.size.Repeats))
	var fwd, unfwd []float64
	for rep := range b.size.Repeats {
		f, err := b.openBulk(ctx)
		if err != nil {
			return err
		}
		fwd = append(fwd, f)
		if rep == b.size.Repeats-1 {
			break
		}
		u, err := b.closeBulk(ctx)
		if err != nil {
			return err
		}
		unfwd = append(unfwd, u)
	}
	if err := b.whileOpen(ctx, m, agentPID, peers, pr); err != nil {
		return err
	}
	u, err := b.closeBulk(ctx)
	if err != nil {
		return err
	}
	unfwd = append(unfwd, u)
	m.Bulk.ForwardedMS, m.Bulk.ForwardedMSRange = spread(fwd)
	m.Bulk.UnforwardedMS, m.Bulk.UnforwardedMSRange = spread(unfwd)
	// The churn's forwards go too before the next mode starts.
	_, err = b.waitActive(ctx, b.size.ChurnPort, b.size.ChurnSpan, 0)
	return err
}

// openBulk opens the bulk listeners and returns the milliseconds from the
// first listen() until ListForwards shows all of them ACTIVE.
func (b *run) openBulk(ctx context.Context) (float64, error) {
	opened, err := b.helper.mono("open-many %d %d", b.size.BulkPort, b.size.Bulk)
	if err != nil {
		return 0, err
	}
	at, err := b.waitActive(ctx, b.size.BulkPort, b.size.Bulk, b.size.Bulk)
	return ms(time.Duration(at - opened)), err
}

// closeBulk closes them and returns the milliseconds from the last close()
// until none is listed.
func (b *run) closeBulk(ctx context.Context) (float64, error) {
	closed, err := b.helper.mono("close-many %d %d", b.size.BulkPort, b.size.Bulk)
	if err != nil {
		return 0, err
	}
	at, err := b.waitActive(ctx, b.size.BulkPort, b.size.Bulk, 0)
	return ms(time.Duration(at - closed)), err
}

// whileOpen measures, with the bulk listeners open: both RSS figures, the
// agent's scan, the time to forward beside them and the CPU windows; with
// peers, the poller's CPU and time to see a listener, and socat's CPU.
func (b *run) whileOpen(ctx context.Context, m *ModeResult, agentPID int, peers bool, pr *Peers) error {
	var err error
	if m.Bulk.AgentRSSMiB, err = rssMiB(agentPID); err != nil {
		return err
	}
	if m.Bulk.DaemonRSSMiB, err = rssMiB(b.env.Daemon.Pid()); err != nil {
		return err
	}
	m.Bulk.AgentRSSMiB, m.Bulk.DaemonRSSMiB = round3(m.Bulk.AgentRSSMiB), round3(m.Bulk.DaemonRSSMiB)
	if m.Bulk.AgentScanUS, err = b.agentScan(50); err != nil {
		return err
	}
	b.step(fmt.Sprintf("[%s] %d forward trials with %d listeners open", m.Trigger, b.size.LoadedTrials, b.size.Bulk))
	if m.ForwardLoaded, _, err = b.trials(ctx, m.Trigger, b.size.LoadedPort, b.size.LoadedTrials, false); err != nil {
		return err
	}
	var others []int
	var poller *pollerProc
	if peers {
		if poller, err = startPoller(b.env.Lab, b.cfg.LabBinary, b.size.PollInterval); err != nil {
			return err
		}
		defer poller.stop()
		others = []int{poller.proc.Pid(), b.socat.trials.Pid()}
	}
	b.step(fmt.Sprintf("[%s] CPU: %d windows of %v idle and %d of %v under churn", m.Trigger,
		b.size.Repeats, b.size.IdleWindow, b.size.Repeats, b.size.ChurnWindow))
	// Let the trailing scans and the reconcile finish before "idle" starts.
	time.Sleep(time.Second)
	var idle [][]float64
	if m.CPU, idle, err = b.cpuWindows(agentPID, others); err != nil || !peers {
		return err
	}
	pr.Poller.CPUPct, pr.Poller.CPUPctRange = spread(idle[0])
	pr.Socat.CPUPct, pr.Socat.CPUPctRange = spread(idle[1])
	b.step(fmt.Sprintf("peer: %d trials of a %v sock_diag poller seeing a new listener", b.size.PollerTrials, b.size.PollInterval))
	pr.Poller.Forward, err = b.pollerTrials(ctx, poller)
	return err
}

// cpuWindows measures the CPU of the agent, the daemon and others over
// Sizes.Repeats idle windows, then Sizes.Repeats churn windows, and returns
// the others' idle figures, one slice per process.
func (b *run) cpuWindows(agentPID int, others []int) (CPU, [][]float64, error) {
	pids := append([]int{agentPID, b.env.Daemon.Pid()}, others...)
	cpu := CPU{Windows: b.size.Repeats, IdleListeners: b.size.Bulk}
	idle, churn := make([][]float64, len(pids)), make([][]float64, len(pids))
	for range b.size.Repeats {
		pct, wall, err := cpuPercents(pids, func() error { time.Sleep(b.size.IdleWindow); return nil })
		if err != nil {
			return cpu, nil, err
		}
		cpu.IdleWindowS = round3(wall.Seconds())
		for i := range pids {
			idle[i] = append(idle[i], pct[i])
		}
	}
	var opens, closes int
	var churnWall time.Duration
	for range b.size.Repeats {
		pct, wall, err := cpuPercents(pids, func() error {
			o, c, err := b.churn()
			opens, closes = opens+o, closes+c
			return err
		})
		if err != nil {
			return cpu, nil, err
		}
		cpu.ChurnWindowS, churnWall = round3(wall.Seconds()), churnWall+wall
		for i := range pids {
			churn[i] = append(churn[i], pct[i])
		}
	}
	cpu.IdlePct, cpu.IdlePctRange = spread(idle[0])
	cpu.DaemonIdlePct, cpu.DaemonIdlePctRange = spread(idle[1])
	cpu.ChurnPct, cpu.ChurnPctRange = spread(churn[0])
	cpu.DaemonChurnPct, cpu.DaemonChurnPctRange = spread(churn[1])
	cpu.ChurnOpensPerS = round3(float64(opens) / churnWall.Seconds())
	cpu.ChurnClosesPerS = round3(float64(closes) / churnWall.Seconds())
	return cpu, idle[2:], nil
}

// churn has the helper open and close listeners for one churn window and
// returns how many it opened and closed.
func (b *run) churn() (opens, closes int, err error) {
	f, err := b.helper.call(b.size.ChurnWindow+30*time.Second, "churn %d %d %d %d %d",
		b.size.ChurnPort, b.size.ChurnSpan, b.size.ChurnRate,
		b.size.ChurnWindow.Milliseconds(), b.size.ChurnLife.Milliseconds())
	if err != nil {
		return 0, 0, err
	}
	if len(f) != 2 {
		return 0, 0, fmt.Errorf("churn: malformed reply %q", f)
	}
	_, err = fmt.Sscan(f[0]+" "+f[1], &opens, &closes)
	return opens, closes, err
}
