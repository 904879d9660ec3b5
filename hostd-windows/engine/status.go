package engine

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"slices"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/hostd-windows/metrics"
	"github.com/wslfwd/wslfwd/internal/version"
)

// Status reports the daemon's version, setup, counts and problems.
func (d *Engine) Status(ctx context.Context) *wslfwdv1.GetStatusResponse {
	resp := &wslfwdv1.GetStatusResponse{
		Version:       version.Version,
		StartedAt:     timestamppb.New(d.startedAt),
		Backend:       d.opts.Backend.Name(),
		ExposeAddress: d.opts.ExposeAddr.String(),
		Os:            runtime.GOOS,
	}
	listen := d.opts.ListenAddrs
	if d.opts.MovingListenAddrs != nil {
		listen = append(slices.Clip(listen), d.opts.MovingListenAddrs()...)
	}
	for _, a := range listen {
		resp.ListenAddresses = append(resp.ListenAddresses, a.String())
	}
	snap := d.m.Snapshot()
	resp.Metrics = snap.Proto()
	resp.AgentsConnected = uint32(snap.AgentsConnected)
	resp.ForwardsByState = byState(snap.Forwards)
	d.mu.Lock()
	runErr := d.runErr
	d.mu.Unlock()

	if err := d.stateDirWritable(); err != nil {
		resp.Problems = append(resp.Problems, &wslfwdv1.Problem{
			Code:    "state-dir-unwritable",
			Message: fmt.Sprintf("the state directory cannot be written: %v", err),
			Hint:    "make the directory writable by the daemon's account, or pass another --state-dir",
		})
	}
	if runErr != nil {
		resp.Problems = append(resp.Problems, &wslfwdv1.Problem{
			Code:    "backend-error",
			Message: fmt.Sprintf("the %s backend failed: %v", d.opts.Backend.Name(), runErr),
			Hint:    "see the daemon's log; forwards are retried on the next change",
		})
	}
	if p := d.fw; p != nil {
		p.refresh(ctx)
		if pr := p.problem(); pr != nil {
			resp.Problems = append(resp.Problems, pr)
		}
	}
	if d.opts.Problems != nil {
		resp.Problems = append(resp.Problems, d.opts.Problems(ctx)...)
	}
	return resp
}

// byState sums the counts of each state over the backends, in the
// states' order.
func byState(fs []metrics.ForwardCount) []*wslfwdv1.StateCount {
	var out []*wslfwdv1.StateCount
	for _, f := range fs { // sorted by state
		if n := len(out); n > 0 && out[n-1].GetState() == f.State {
			out[n-1].Count += uint32(f.Count)
			continue
		}
		out = append(out, &wslfwdv1.StateCount{State: f.State, Count: uint32(f.Count)})
	}
	return out
}

// stateDirWritable probes the state directory. A good result is reused
// for writableEvery: GetStatus needs only a read token, and its callers
// must not be able to make the daemon write and sync at will. A failed
// probe writes nothing, so a failing directory is probed on every call
// and its recovery shows at once.
func (d *Engine) stateDirWritable() error {
	d.writable.Lock()
	defer d.writable.Unlock()
	if now := time.Now(); d.writable.err != nil || now.Sub(d.writable.at) >= writableEvery {
		d.writable.err, d.writable.at = checkWritable(d.opts.StateDir), now
	}
	return d.writable.err
}

// writableEvery bounds how often GetStatus probes the state directory.
const writableEvery = 2 * time.Second

// checkWritable writes, syncs and removes a file in dir.
func checkWritable(dir string) error {
	if dir == "" {
		return nil
	}
	f, err := os.CreateTemp(dir, ".probe-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	// Creating an empty file succeeds on a full file system: write a
	// ledger-sized block and sync it, as a ledger write would.
	_, err = f.Write(make([]byte, 4096))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// Agents lists the connected agents and those in their grace period, and
// the sessions refused lately.
func (d *Engine) Agents() ([]*wslfwdv1.Agent, []*wslfwdv1.AgentRefusal) {
	return d.reg.Agents(), d.reg.Refusals()
}

// Unreported lists the distros whose agent left listeners out, having more
// than the daemon accepts: `wslfwd forwards` says so beside the forwards.
func (d *Engine) Unreported() []*wslfwdv1.UnreportedListeners { return d.reg.Unreported() }

// Forwards lists the forwards policy wants; with all, also the listeners
// and static forwards it does not (blocked, direct, conflicting).
func (d *Engine) Forwards(all bool) []*wslfwdv1.Forward {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []*wslfwdv1.Forward
	for _, r := range sortedRows(d.table) {
		if r.wanted || all {
			out = append(out, r.fwd)
		}
	}
	return out
}
