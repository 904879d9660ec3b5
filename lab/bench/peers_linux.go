//go:build linux

package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/wslfwd/wslfwd/agent-linux/sockdiag"
	"github.com/wslfwd/wslfwd/lab/netlab"
)

// socatPair is two plain socat relays in winhost, each listening on the
// host's LAN address at a wsl port plus Sizes.SocatOffset and connecting
// to that port in wsl for every connection: one to the throughput sink,
// one to the socat trials' listener. socat copies through user space with
// read and write, 256 KiB at a time (-b, the sender's and the sink's chunk
// too): with its default of 8 KiB it moved about a sixth of the relay's
// rate here, a comparison that says nothing.
type socatPair struct {
	sink, trials *netlab.Proc
}

// startSocat starts the two relays and waits until both accept.
func startSocat(ctx context.Context, lab *netlab.Lab, s Sizes) (*socatPair, error) {
	start := func(port int) (*netlab.Proc, error) {
		cmd := lab.WinHost.Command(context.Background(), "socat", "-b", strconv.Itoa(throughputChunk),
			fmt.Sprintf("TCP4-LISTEN:%d,bind=%s,reuseaddr,fork", port+s.SocatOffset, netlab.HostLANAddr.Addr()),
			fmt.Sprintf("TCP4:%s:%d", netlab.WSLAddr.Addr(), port))
		p, err := lab.Start(fmt.Sprintf("socat-%d", port), cmd)
		if err != nil {
			return nil, err
		}
		_, _, err = pollFrom(ctx, lab.LAN, trialDeadline, func() answer { return accepts(hostPort(port + s.SocatOffset)) })
		if err != nil {
			return nil, fmt.Errorf("socat on port %d: %w\n%s", port+s.SocatOffset, err, p.Tail(10))
		}
		return p, nil
	}
	sink, err := start(s.SinkPort)
	if err != nil {
		return nil, err
	}
	trials, err := start(s.PeerPort)
	if err != nil {
		return nil, err
	}
	return &socatPair{sink: sink, trials: trials}, nil
}

// accepts tries whether something listens at addr.
func accepts(addr netip.AddrPort) answer {
	fd, err := dial(addr)
	if fd >= 0 {
		unix.Close(fd)
	}
	if err != nil {
		return connectAnswer(err)
	}
	return done
}

// socatTrials measures how long after listen() in wsl an echo comes back
// through socat: a static relay detects nothing, so this is the floor that
// the path, socat's fork per connection and the prober set.
func (b *run) socatTrials(ctx context.Context) (Latency, error) {
	to := hostPort(b.size.PeerPort + b.size.SocatOffset)
	fwd, _, err := b.repeated(b.size.PeerTrials, func(int) (trialResult, error) {
		return b.trial(ctx, b.size.PeerPort, to, 0, nil)
	})
	return fwd, err
}

// PollerCommand is the hidden subcommand of the lab binary that runs Poll
// with fd 3.
const PollerCommand = "bench-poller"

// Poll is the poller peer (the lab binary's hidden bench-poller command,
// run in wsl): every interval it dumps the namespace's TCP listeners with
// sock_diag, as WSL's own localhost relay does, and writes "PORT MONO" to
// out for each port that was not listening at the dump before, MONO being
// CLOCK_MONOTONIC in nanoseconds right after the dump. It returns when ctx
// is done.
func Poll(ctx context.Context, interval time.Duration, out io.Writer) error {
	sd, err := sockdiag.Open()
	if err != nil {
		return err
	}
	defer sd.Close()
	var socks []sockdiag.Socket
	seen := map[uint16]bool{}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for first := true; ; first = false {
		if socks, err = sd.ScanSome(socks, sockdiag.Query{Protocol: sockdiag.TCP}); err != nil {
			return err
		}
		at := Monotonic()
		now := make(map[uint16]bool, len(socks))
		var lines strings.Builder
		for _, s := range socks {
			if now[s.Port] = true; !seen[s.Port] && !first {
				fmt.Fprintf(&lines, "%d %d\n", s.Port, at)
			}
		}
		seen = now
		if _, err := io.WriteString(out, lines.String()); err != nil {
			return fmt.Errorf("write: %w", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// pollerProc is the driver's end of the poller running in wsl.
type pollerProc struct {
	proc *netlab.Proc
	r    *os.File
	mu   sync.Mutex
	seen map[int]int64 // port → CLOCK_MONOTONIC the poller first saw it
	more chan struct{} // closed and replaced on every report
}

// startPoller starts `<lab binary> bench-poller INTERVAL` in wsl and
// collects what it reports.
func startPoller(lab *netlab.Lab, labBinary string, interval time.Duration) (*pollerProc, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("poller pipe: %w", err)
	}
	defer w.Close() // the child holds its own copy
	cmd := lab.WSL.Command(context.Background(), labBinary, PollerCommand, interval.String())
	cmd.ExtraFiles = []*os.File{w}
	p, err := lab.Start(PollerCommand, cmd)
	if err != nil {
		r.Close()
		return nil, err
	}
	pp := &pollerProc{proc: p, r: r, seen: map[int]int64{}, more: make(chan struct{})}
	go pp.collect()
	return pp, nil
}

// collect records the poller's reports until its pipe closes.
func (p *pollerProc) collect() {
	sc := bufio.NewScanner(p.r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 2 {
			continue
		}
		port, perr := strconv.Atoi(f[0])
		at, aerr := strconv.ParseInt(f[1], 10, 64)
		if perr != nil || aerr != nil {
			continue
		}
		p.mu.Lock()
		if _, ok := p.seen[port]; !ok {
			p.seen[port] = at
		}
		close(p.more)
		p.more = make(chan struct{})
		p.mu.Unlock()
	}
}

// sawAt waits until the poller has seen port and returns when it did.
func (p *pollerProc) sawAt(port int, timeout time.Duration) (int64, error) {
	deadline := time.After(timeout)
	for {
		p.mu.Lock()
		at, ok := p.seen[port]
		more := p.more
		p.mu.Unlock()
		if ok {
			return at, nil
		}
		select {
		case <-more:
		case <-p.proc.Done():
			return 0, fmt.Errorf("the poller exited\n%s", p.proc.Tail(10))
		case <-deadline:
			return 0, fmt.Errorf("the poller did not see port %d within %v", port, timeout)
		}
	}
}

func (p *pollerProc) stop() {
	p.proc.Kill()
	p.r.Close()
}

// pollerTrials opens a listener on a fresh port, after a random part of
// the poll interval, and measures how long until the poller reports it.
func (b *run) pollerTrials(ctx context.Context, p *pollerProc) (Latency, error) {
	fwd, _, err := b.repeated(b.size.PollerTrials, func(i int) (trialResult, error) {
		r := trialResult{unforwardSkipped: true}
		port := b.size.PollerPort + i
		randomPause(b.size.PollInterval)
		opened, err := b.helper.mono("listen %d", port)
		if err != nil {
			return r, err
		}
		if at, err := p.sawAt(port, trialDeadline); err != nil {
			r.forward.err = err
		} else {
			r.forward.took = time.Duration(at - opened)
		}
		if _, err := b.helper.mono("close %d", port); err != nil {
			return r, err
		}
		return r, ctx.Err()
	})
	return fwd, err
}
