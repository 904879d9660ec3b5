//go:build linux

package faults

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/internal/endpoint"
	"github.com/wslfwd/wslfwd/lab/labrun"
	"github.com/wslfwd/wslfwd/lab/labtest"
	"github.com/wslfwd/wslfwd/lab/netlab"
)

const (
	tcp    = wslfwdv1.Protocol_PROTOCOL_TCP
	udp    = wslfwdv1.Protocol_PROTOCOL_UDP
	active = wslfwdv1.ForwardState_FORWARD_STATE_ACTIVE
)

// distro is the name of the one agent most tests run.
const distro = "Ubuntu"

// startWithAgent is labtest.StartWithAgent for distro.
func startWithAgent(t *testing.T, o labrun.Options, timeout time.Duration) (context.Context, *labrun.Env) {
	t.Helper()
	return labtest.StartWithAgent(t, o, timeout, distro)
}

// services are TCP echo listeners the test opened in wsl, by port.
type services struct {
	t   *testing.T
	ns  *netlab.NS
	mu  sync.Mutex
	lns map[uint16]net.Listener
}

func newServices(t *testing.T, ns *netlab.NS) *services {
	s := &services{t: t, ns: ns, lns: map[uint16]net.Listener{}}
	t.Cleanup(func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, ln := range s.lns {
			ln.Close()
		}
	})
	return s
}

// open starts a TCP echo service on 0.0.0.0:port.
func (s *services) open(port uint16) {
	s.t.Helper()
	ln, err := s.ns.Listen("tcp", netip.AddrPortFrom(netip.IPv4Unspecified(), port).String())
	if err != nil {
		s.t.Fatal(err)
	}
	s.mu.Lock()
	s.lns[port] = ln
	s.mu.Unlock()
	go netlab.Echo(ln)
}

// close stops the service on port.
func (s *services) close(port uint16) {
	s.t.Helper()
	s.mu.Lock()
	ln, ok := s.lns[port]
	delete(s.lns, port)
	s.mu.Unlock()
	if !ok {
		s.t.Fatalf("close service %d: not open", port)
	}
	ln.Close()
}

// prober echoes through the host's ports from lan, a new connection per
// port every 20 ms, until stop; it counts probes and failures.
type prober struct {
	stop  chan struct{}
	done  chan struct{}
	n     int
	fails []string
}

func probeFromLAN(ctx context.Context, env *labrun.Env, ports ...uint16) *prober {
	p := &prober{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-tick.C:
			}
			for _, port := range ports {
				p.n++
				if err := env.EchoFromLAN(ctx, "tcp", port); err != nil {
					p.fails = append(p.fails, fmt.Sprintf("%s: %v", time.Now().Format("15:04:05.000"), err))
				}
			}
		}
	}()
	return p
}

// finish stops the prober and reports how many probes ran and which failed.
func (p *prober) finish() (int, []string) {
	close(p.stop)
	<-p.done
	return p.n, p.fails
}

// exactOptions tune checkExact.
type exactOptions struct {
	// dialAll dials every forwarded port from lan; otherwise a sample.
	dialAll bool
}

// checkExact waits until the daemon's forward table matches the truth
// exactly, then checks it from lan. The truth is what the kernel says
// listens in wsl (not what the test believes it opened). Matching means:
//   - ListForwards (with all) has one row per listening socket and no
//     other, each ACTIVE, from the host port
//     to wsl's current address and the same port;
//   - the relay's listening sockets in winhost (the kernel's tables, the
//     daemon's own port aside) are exactly the ACTIVE rows;
//   - from lan, forwarded ports echo (all, or a sample of 20) and a
//     sample of ports that are not forwarded refuse.
//
// It fails the test with the differences and the logs when the table has
// not converged when ctx ends.
func checkExact(ctx context.Context, t *testing.T, env *labrun.Env, o exactOptions) (truth map[sock]bool) {
	t.Helper()
	wslAddr, err := currentWSLAddr(env)
	if err != nil {
		t.Fatal(err)
	}
	var diff string
	converged := time.Now()
	err = env.Wait(ctx, "the forward table to match wsl's listeners exactly", func(ctx context.Context) (bool, error) {
		truth, diff, err = compare(ctx, env, wslAddr)
		if err != nil {
			return false, err
		}
		if diff != "" {
			return false, errors.New(diff)
		}
		return true, nil
	})
	if err != nil {
		t.Fatalf("%v", err)
	}
	t.Logf("forward table exact (%d listeners in wsl) after %v", len(truth), time.Since(converged).Round(time.Millisecond))

	if err := checkCLI(ctx, env, truth); err != nil {
		t.Error(err)
	}

	var fwd []uint16
	for s := range truth {
		if s.proto == "tcp" {
			fwd = append(fwd, s.port)
		}
	}
	slices.Sort(fwd)
	if !o.dialAll && len(fwd) > 20 {
		fwd = sample(fwd, 20)
	}
	for _, port := range fwd {
		if err := env.EchoFromLAN(ctx, "tcp", port); err != nil {
			t.Errorf("forwarded port %d from lan: %v", port, err)
		}
	}
	var closed []uint16
	for port := uint16(20000); port < 22000 && len(closed) < 20; port += 97 {
		if !truth[sock{"tcp", port}] {
			closed = append(closed, port)
		}
	}
	for _, port := range closed {
		if err := env.RefusedFromLAN(ctx, port); err != nil {
			t.Error(err)
		}
	}
	return truth
}

// checkCLI checks that `wslfwd forwards -o json` shows the same ACTIVE
// forwards as the daemon's table: one per listener in truth.
func checkCLI(ctx context.Context, env *labrun.Env, truth map[sock]bool) error {
	out, err := env.CLI(ctx, "forwards", "-o", "json")
	if err != nil {
		return err
	}
	var resp wslfwdv1.ListForwardsResponse
	if err := protojson.Unmarshal([]byte(out), &resp); err != nil {
		return fmt.Errorf("wslfwd forwards -o json: %w\n%s", err, out)
	}
	got := map[sock]bool{}
	for _, f := range resp.GetForwards() {
		if f.GetState() == active {
			got[sock{protoName(f.GetProtocol()), uint16(f.GetListenPort())}] = true
		}
	}
	if !maps.Equal(got, truth) {
		return fmt.Errorf("wslfwd forwards -o json: ACTIVE %v, want %v", sorted(got), sorted(truth))
	}
	return nil
}

// compare returns the truth in wsl and, when the daemon or the relay
// disagree with it, a description of every difference.
func compare(ctx context.Context, env *labrun.Env, wslAddr netip.Addr) (map[sock]bool, string, error) {
	truth, err := listening(env.Lab.WSL)
	if err != nil {
		return nil, "", err
	}
	fs, err := env.Forwards(ctx, true)
	if err != nil {
		return nil, "", err
	}
	relay, err := listening(env.Lab.WinHost)
	if err != nil {
		return nil, "", err
	}
	delete(relay, sock{"tcp", endpoint.DefaultPort})

	var bad []string
	rows := map[sock]bool{}
	for _, f := range fs {
		s := sock{protoName(f.GetProtocol()), uint16(f.GetListenPort())}
		if rows[s] {
			bad = append(bad, "listed twice: "+describe(f))
		}
		rows[s] = true
		switch {
		case !truth[s]:
			bad = append(bad, "stale (nothing listens in wsl): "+describe(f))
		case f.GetState() != active:
			bad = append(bad, fmt.Sprintf("want %s: %s", active, describe(f)))
		case f.GetConnectAddress() != wslAddr.String() || f.GetConnectPort() != f.GetListenPort():
			bad = append(bad, fmt.Sprintf("want → %s:%d: %s", wslAddr, f.GetListenPort(), describe(f)))
		}
	}
	for _, s := range sorted(truth) {
		if !rows[s] {
			bad = append(bad, "missing (listens in wsl, not listed): "+s.String())
		}
		if !relay[s] {
			bad = append(bad, "no relay socket in winhost for "+s.String())
		}
	}
	for _, s := range sorted(relay) {
		if !truth[s] {
			bad = append(bad, "stale relay socket in winhost: "+s.String())
		}
	}
	if len(bad) > 10 {
		bad = append(bad[:10], fmt.Sprintf("… and %d more", len(bad)-10))
	}
	return truth, strings.Join(bad, "; "), nil
}

// currentWSLAddr is wsl eth0's IPv4 address now (tests move it).
func currentWSLAddr(env *labrun.Env) (netip.Addr, error) {
	var addr netip.Addr
	err := env.Lab.WSL.Do(func() error {
		ifi, err := net.InterfaceByName(netlab.WSLLink)
		if err != nil {
			return err
		}
		as, err := ifi.Addrs()
		if err != nil {
			return err
		}
		for _, a := range as {
			if p, err := netip.ParsePrefix(a.String()); err == nil && p.Addr().Is4() {
				addr = p.Addr()
				return nil
			}
		}
		return errors.New("no IPv4 address")
	})
	if err != nil {
		return addr, fmt.Errorf("wsl %s address: %w", netlab.WSLLink, err)
	}
	return addr, nil
}

func protoName(p wslfwdv1.Protocol) string {
	return strings.ToLower(strings.TrimPrefix(p.String(), "PROTOCOL_"))
}

func sorted(m map[sock]bool) []sock {
	return slices.SortedFunc(maps.Keys(m), func(a, b sock) int {
		if c := strings.Compare(a.proto, b.proto); c != 0 {
			return c
		}
		return int(a.port) - int(b.port)
	})
}

// sample picks n evenly spaced ports.
func sample(ports []uint16, n int) []uint16 {
	out := make([]uint16, 0, n)
	for i := range n {
		out = append(out, ports[i*len(ports)/n])
	}
	return out
}

// describe prints a forward for error messages.
func describe(f *wslfwdv1.Forward) string {
	return fmt.Sprintf("%s %s:%d → %s:%d [%s] %s (distro %s, backend %q)",
		strings.ToUpper(protoName(f.GetProtocol())),
		f.GetListenAddress(), f.GetListenPort(), f.GetConnectAddress(), f.GetConnectPort(),
		strings.TrimPrefix(f.GetState().String(), "FORWARD_STATE_"), f.GetReason(),
		f.GetDistro(), f.GetBackend())
}

// waitConnected waits until the daemon lists distro's agent as connected
// (or, with want false, as not connected).
func waitConnected(ctx context.Context, env *labrun.Env, want bool) error {
	what := "the agent to connect"
	if !want {
		what = "the daemon to notice the agent is gone"
	}
	return env.Wait(ctx, what, func(ctx context.Context) (bool, error) {
		a, err := env.Agent(ctx, distro)
		if err != nil {
			return false, err
		}
		return (a != nil && a.GetConnected()) == want, nil
	})
}

// waitLog waits until p's log, from byte offset from on, contains text.
func waitLog(ctx context.Context, env *labrun.Env, p *netlab.Proc, from int, text string) error {
	return env.Wait(ctx, fmt.Sprintf("%s to log %q", p.Name, text), func(context.Context) (bool, error) {
		return strings.Contains(p.Log()[from:], text), nil
	})
}
