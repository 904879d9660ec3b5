//go:build linux

package adversary

import (
	"context"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/internal/token"
	"github.com/wslfwd/wslfwd/internal/tokentls"
	"github.com/wslfwd/wslfwd/lab/labrun"
	"github.com/wslfwd/wslfwd/lab/labtest"
	"github.com/wslfwd/wslfwd/lab/netlab"
)

const identityTimeout = time.Minute

// claimant is a hand-made agent session: whatever root in a distro, holding
// the agent token, could send.
type claimant struct {
	st     grpc.BidiStreamingClient[wslfwdv1.AgentMessage, wslfwdv1.HostMessage]
	cancel context.CancelFunc
}

// claim opens an agent session from ns, with source address src when it is
// valid, to the daemon at addr, sends hello and (when the hello is
// welcomed) snapshot, and returns the session and the status code the
// daemon answered with: OK once the snapshot is accepted.
func claim(t *testing.T, ctx context.Context, env *labrun.Env, ns *netlab.NS, src netip.Addr, addr netip.AddrPort,
	hello *wslfwdv1.AgentHello, snap *wslfwdv1.Snapshot) (*claimant, codes.Code) {
	t.Helper()
	tok, err := token.Load(env.AgentTokenFile)
	if err != nil {
		t.Fatal(err)
	}
	dialer := &net.Dialer{}
	if src.IsValid() {
		dialer.LocalAddr = net.TCPAddrFromAddrPort(netip.AddrPortFrom(src, 0))
	}
	cc, err := grpc.NewClient("passthrough:///"+addr.String(),
		grpc.WithTransportCredentials(tokentls.ClientOf(tok)),
		grpc.WithPerRPCCredentials(tokentls.Bearer{}),
		grpc.WithContextDialer(func(ctx context.Context, a string) (c net.Conn, err error) {
			err = ns.Do(func() error { c, err = dialer.DialContext(ctx, "tcp", a); return err })
			return c, err
		}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	sctx, cancel := context.WithCancel(ctx)
	t.Cleanup(cancel)
	st, err := wslfwdv1.NewAgentServiceClient(cc).Session(sctx)
	if err != nil {
		t.Fatal(err)
	}
	c := &claimant{st: st, cancel: cancel}
	if err := st.Send(&wslfwdv1.AgentMessage{Msg: &wslfwdv1.AgentMessage_Hello{Hello: hello}}); err != nil && err != io.EOF {
		t.Fatal(err)
	}
	if m, err := st.Recv(); err != nil || m.GetWelcome() == nil {
		return c, status.Code(err)
	}
	if err := st.Send(&wslfwdv1.AgentMessage{Msg: &wslfwdv1.AgentMessage_Snapshot{Snapshot: snap}}); err != nil && err != io.EOF {
		t.Fatal(err)
	}
	// The daemon answers an accepted snapshot with its listeners' statuses
	// or an ack; a refused one ends the stream.
	if _, err := st.Recv(); err != nil {
		return c, status.Code(err)
	}
	return c, codes.OK
}

func natHello(distro string) *wslfwdv1.AgentHello {
	return &wslfwdv1.AgentHello{Distro: distro, NetworkingMode: wslfwdv1.NetworkingMode_NETWORKING_MODE_NAT,
		AgentVersion: "mallory", ProtocolRevision: 1}
}

// lyingNetwork claims, on eth0, loopback, a documentation address and the
// host's own LAN address, none of which the distro has.
func lyingNetwork(claims ...string) *wslfwdv1.NetworkState {
	eth := &wslfwdv1.Interface{Name: "eth0", Flags: []string{"up"}}
	for _, a := range claims {
		eth.Addresses = append(eth.Addresses, &wslfwdv1.InterfaceAddress{Address: a, PrefixLength: 24})
	}
	return &wslfwdv1.NetworkState{Interfaces: []*wslfwdv1.Interface{eth}}
}

func tcp4(addr string, port uint32) *wslfwdv1.Listener {
	return &wslfwdv1.Listener{Protocol: wslfwdv1.Protocol_PROTOCOL_TCP, Family: wslfwdv1.AddressFamily_ADDRESS_FAMILY_IPV4,
		Listen: addr, Port: port, Inode: uint64(port)}
}

// forwardsOf lists, with --all, the rows of distro.
func forwardsOf(ctx context.Context, env *labrun.Env, distro string) ([]*wslfwdv1.Forward, error) {
	all, err := env.Forwards(ctx, true)
	var out []*wslfwdv1.Forward
	for _, f := range all {
		if f.GetDistro() == distro {
			out = append(out, f)
		}
	}
	return out, err
}

// An agent that claims addresses it does not have gets forwards only to the
// address its connection comes from, and a NAT hello from an address that
// can never be a target is refused and shown by `wslfwd agents`.
func TestIdentityForwardsOnlyToConnectionAddress(t *testing.T) {
	ctx, env := labtest.Start(t, labrun.Options{}, identityTimeout)
	snap := &wslfwdv1.Snapshot{Seq: 1,
		Network: lyingNetwork("127.0.0.1", "192.0.2.2", netlab.HostLANAddr.Addr().String(), netlab.WSLAddr.Addr().String()),
		Listeners: []*wslfwdv1.Listener{tcp4("0.0.0.0", 9001), tcp4("192.0.2.2", 9002), tcp4("127.0.0.1", 9003),
			tcp4(netlab.HostLANAddr.Addr().String(), 9004)}}
	if _, code := claim(t, ctx, env, env.Lab.WSL, netip.Addr{}, labrun.DaemonWSL, natHello("Mallory"), snap); code != codes.OK {
		t.Fatalf("session from the distro's own address: %v, want OK", code)
	}
	var fw []*wslfwdv1.Forward
	err := env.Wait(ctx, "the claimant's four listeners listed", func(ctx context.Context) (bool, error) {
		var err error
		fw, err = forwardsOf(ctx, env, "Mallory")
		return len(fw) == 4, err
	})
	if err != nil {
		t.Fatal(err)
	}
	wsl := netlab.WSLAddr.Addr().String()
	for _, f := range fw {
		if a := f.GetConnectAddress(); a != "" && a != wsl {
			t.Errorf("forward to %s:%d, an address the agent only claimed: %v", a, f.GetConnectPort(), f)
		}
		switch f.GetListenerAddress() {
		case "0.0.0.0":
			if f.GetConnectAddress() != wsl || f.GetState() == wslfwdv1.ForwardState_FORWARD_STATE_BLOCKED {
				t.Errorf("the wildcard listener: %v, want a forward to %s", f, wsl)
			}
		default:
			if f.GetState() != wslfwdv1.ForwardState_FORWARD_STATE_BLOCKED {
				t.Errorf("a listener on a claimed address: %v, want BLOCKED", f)
			}
		}
	}

	// From the host itself, loopback or its own WSL-facing address.
	for _, from := range []struct {
		src  netip.Addr
		addr netip.AddrPort
		why  string
	}{
		{netip.Addr{}, labrun.DaemonLoopback, "loopback"},
		{netlab.HostWSLAddr.Addr(), labrun.DaemonWSL, "the host itself"},
	} {
		_, code := claim(t, ctx, env, env.Lab.WinHost, from.src, from.addr, natHello("Ubuntu"), snap)
		if code != codes.PermissionDenied {
			t.Errorf("NAT session from the host (%s): %v, want PermissionDenied", from.why, code)
		}
	}
	// A distro lying about its mode: WSL1 and mirrored share the host's
	// addresses, and their listeners get firewall rules on the host.
	for _, mode := range []wslfwdv1.NetworkingMode{wslfwdv1.NetworkingMode_NETWORKING_MODE_WSL1, wslfwdv1.NetworkingMode_NETWORKING_MODE_MIRRORED} {
		h := natHello("Liar")
		h.NetworkingMode = mode
		lie := &wslfwdv1.Snapshot{Seq: 1, Network: lyingNetwork(netlab.WSLAddr.Addr().String()),
			Listeners: []*wslfwdv1.Listener{tcp4("0.0.0.0", 445), tcp4("0.0.0.0", 9005)}}
		if _, code := claim(t, ctx, env, env.Lab.WSL, netip.Addr{}, labrun.DaemonWSL, h, lie); code != codes.PermissionDenied {
			t.Errorf("%s claimed from the distro's address: %v, want PermissionDenied", mode, code)
		}
	}
	out, err := env.CLI(ctx, "agents")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "shares the host's addresses, so its agent connects from the host itself") {
		t.Errorf("wslfwd agents does not show the refused mode claims:\n%s", out)
	}
	if !strings.Contains(out, "Refused agent sessions") || !strings.Contains(out, "127.0.0.1 is a loopback address") ||
		!strings.Contains(out, "is an address of the host itself") {
		t.Errorf("wslfwd agents does not show the refusals:\n%s", out)
	}
}

// A second agent for a live distro, from another address, is refused; the
// distro's forward keeps pointing at, and reaching, the real agent.
func TestIdentityTakeoverRefused(t *testing.T) {
	ctx, env := labtest.StartWithAgent(t, labrun.Options{}, identityTimeout, "Ubuntu")
	ln, err := env.Lab.WSL.Listen("tcp", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go netlab.Echo(ln)
	port := uint32(ln.Addr().(*net.TCPAddr).Port)
	m := labrun.Match{Port: port, State: wslfwdv1.ForwardState_FORWARD_STATE_ACTIVE, Connect: netlab.WSLAddr.Addr()}
	if _, err := env.WaitForward(ctx, m); err != nil {
		t.Fatal(err)
	}
	// An admin-pinned static follows the distro too.
	if _, err := env.CLI(ctx, "expose", "7000", "--distro", "Ubuntu"); err != nil {
		t.Fatal(err)
	}

	intruder := netip.MustParseAddr("172.28.240.99")
	if err := env.Lab.WSL.AddAddr("eth0", netip.PrefixFrom(intruder, netlab.WSLAddr.Bits())); err != nil {
		t.Fatal(err)
	}
	snap := &wslfwdv1.Snapshot{Seq: 1, Network: lyingNetwork(intruder.String()),
		Listeners: []*wslfwdv1.Listener{tcp4("0.0.0.0", port)}}
	if _, code := claim(t, ctx, env, env.Lab.WSL, intruder, labrun.DaemonWSL, natHello("Ubuntu"), snap); code != codes.AlreadyExists {
		t.Fatalf("takeover from %s: %v, want AlreadyExists", intruder, code)
	}

	fw, err := forwardsOf(ctx, env, "Ubuntu")
	if err != nil {
		t.Fatal(err)
	}
	wsl := netlab.WSLAddr.Addr().String()
	for _, f := range fw {
		if a := f.GetConnectAddress(); a != "" && a != wsl {
			t.Errorf("after the takeover attempt a forward goes to %s: %v", a, f)
		}
	}
	if err := roundTrip(ctx, env.Lab.LAN, netip.AddrPortFrom(netlab.HostLANAddr.Addr(), uint16(port))); err != nil {
		t.Errorf("the real agent's forward stopped working: %v", err)
	}
	a, err := env.Agent(ctx, "Ubuntu")
	if err != nil {
		t.Fatal(err)
	}
	if !a.GetConnected() || !strings.HasPrefix(a.GetPeerAddress(), wsl+":") {
		t.Errorf("after the takeover attempt the distro's agent is %v, want the real one, connected from %s", a, wsl)
	}
	out, err := env.CLI(ctx, "agents")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, intruder.String()) || !strings.Contains(out, "AlreadyExists") {
		t.Errorf("wslfwd agents does not show the refused agent:\n%s", out)
	}
}

// roundTrip sends a line from ns to addr and expects it back.
func roundTrip(ctx context.Context, ns *netlab.NS, addr netip.AddrPort) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	c, err := ns.Dial(ctx, "tcp", addr.String())
	if err != nil {
		return err
	}
	defer c.Close()
	if d, ok := ctx.Deadline(); ok {
		c.SetDeadline(d)
	}
	msg := []byte("who forwards me?\n")
	if _, err := c.Write(msg); err != nil {
		return err
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		return err
	}
	if string(got) != string(msg) {
		return &net.AddrError{Err: "echo came back as " + string(got), Addr: addr.String()}
	}
	return nil
}
