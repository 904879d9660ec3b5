//go:build linux

package adversary

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/hostd-windows/server"
	"github.com/wslfwd/wslfwd/lab/labrun"
	"github.com/wslfwd/wslfwd/lab/labtest"
	"github.com/wslfwd/wslfwd/lab/netlab"
)

// Root in a distro can give the VM more addresses of its network and
// connect from each; every limit per source must still count the VM once.
// Sessions from the VM's address and from a second one share the cap on
// agent sessions per source.
func TestASecondAddressOfTheVMSharesItsCaps(t *testing.T) {
	ctx, env := startDaemon(t, time.Minute)
	second := netip.PrefixFrom(netlab.WSLAddr.Addr().Next(), netlab.WSLAddr.Bits())
	if err := env.Lab.WSL.AddAddr(netlab.WSLLink, second); err != nil {
		t.Fatal(err)
	}
	from := func(local netip.Addr) grpc.DialOption {
		return grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
			var c net.Conn
			err := env.Lab.WSL.Do(func() error {
				var err error
				d := net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(local, 0))}
				c, err = d.DialContext(ctx, "tcp", addr)
				return err
			})
			return c, err
		})
	}
	// Half the sessions from each address, then one more from the second.
	open := func(cc *grpc.ClientConn) codes.Code {
		st, err := wslfwdv1.NewAgentServiceClient(cc).Session(ctx)
		if err != nil {
			return status.Code(err)
		}
		hello := &wslfwdv1.AgentHello{Distro: "Squatter", NetworkingMode: wslfwdv1.NetworkingMode_NETWORKING_MODE_NAT, ProtocolRevision: 1}
		if err := st.Send(&wslfwdv1.AgentMessage{Msg: &wslfwdv1.AgentMessage_Hello{Hello: hello}}); err != nil {
			return status.Code(err)
		}
		_, err = st.Recv()
		return status.Code(err)
	}
	first := agentConn(t, env, from(netlab.WSLAddr.Addr()))
	other := agentConn(t, env, from(second.Addr()))
	half := server.DefaultMaxStreamsPerPeer / 2
	for i := range server.DefaultMaxStreamsPerPeer {
		cc := first
		if i >= half {
			cc = other
		}
		if c := open(cc); c != codes.OK {
			t.Fatalf("session %d: %s, want a welcome", i+1, c)
		}
	}
	// A connection carries 16 streams: the last session needs one of its own.
	if c := open(agentConn(t, env, from(second.Addr()))); c != codes.ResourceExhausted {
		t.Fatalf("session %d, from the VM's second address: %s, want ResourceExhausted: the VM is one source", server.DefaultMaxStreamsPerPeer+1, c)
	}
}

// Made-up distros of one VM, from its address and from a second one, each
// claiming a full share of listeners on ports of its own, get no more
// forwards together than one agent could have: the first distro's. The
// rest are listed as over the VM's cap, by `wslfwd forwards --all` too.
func TestMadeUpDistrosShareTheVMsCapOfPorts(t *testing.T) {
	const perAgent = 64
	cfg := filepath.Join(t.TempDir(), "wslfwd.toml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf("max_listeners_per_agent = %d\n", perAgent)), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, env := labtest.Start(t, labrun.Options{DaemonArgs: []string{"--config", cfg}}, identityTimeout)
	second := netip.PrefixFrom(netlab.WSLAddr.Addr().Next(), netlab.WSLAddr.Bits())
	if err := env.Lab.WSL.AddAddr(netlab.WSLLink, second); err != nil {
		t.Fatal(err)
	}
	distros := []string{"Fake0", "Fake1", "Fake2"}
	for i, distro := range distros {
		src := netlab.WSLAddr.Addr()
		if i > 0 {
			src = second.Addr()
		}
		// A reply is asked for: the first distro's listeners all go as asked,
		// which the daemon otherwise answers with nothing.
		snap := &wslfwdv1.Snapshot{Seq: 1, Network: lyingNetwork(src.String()), WantReply: true}
		for p := range perAgent {
			snap.Listeners = append(snap.Listeners, tcp4("0.0.0.0", uint32(20000+perAgent*i+p)))
		}
		if _, code := claim(t, ctx, env, env.Lab.WSL, src, labrun.DaemonWSL, natHello(distro), snap); code != codes.OK {
			t.Fatalf("%s from %s: %v, want OK", distro, src, code)
		}
	}
	var all []*wslfwdv1.Forward
	err := env.Wait(ctx, "every claimed listener listed", func(ctx context.Context) (bool, error) {
		var err error
		all, err = env.Forwards(ctx, true)
		return len(all) == perAgent*len(distros), err
	})
	if err != nil {
		t.Fatal(err)
	}
	capped := 0
	for _, f := range all {
		over := strings.Contains(f.GetReason(), "over the VM's cap")
		if over {
			capped++
		}
		if first := f.GetDistro() == distros[0]; over == first || first && f.GetState() == wslfwdv1.ForwardState_FORWARD_STATE_BLOCKED {
			t.Errorf("%s port %d: %s %q; want only the first distro's forwarded, every other listener over the cap",
				f.GetDistro(), f.GetConnectPort(), f.GetState(), f.GetReason())
		}
	}
	if want := perAgent * (len(distros) - 1); capped != want {
		t.Errorf("%d listeners over the VM's cap, want %d", capped, want)
	}
	if wanted, err := env.Forwards(ctx, false); err != nil || len(wanted) != perAgent {
		t.Errorf("%d forwards (%v), want %d: the cap of one VM", len(wanted), err, perAgent)
	}
	out, err := env.CLI(ctx, "forwards", "--all")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "over the VM's cap") {
		t.Errorf("wslfwd forwards --all does not say why the made-up distros' listeners are not forwarded:\n%.2000s", out)
	}
}
