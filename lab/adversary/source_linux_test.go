//go:build linux

package adversary

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/hostd-windows/server"
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
