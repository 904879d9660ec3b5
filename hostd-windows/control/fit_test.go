package control

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/hostd-windows/config"
	"github.com/wslfwd/wslfwd/internal/replysize"
)

// widest is a row of ListForwards with every field as wide as the daemon
// lets it be: names of 64 bytes, IPv6 addresses, a reason of n bytes.
func widest(port uint32, state wslfwdv1.ForwardState, reason int) *wslfwdv1.Forward {
	v6 := "fd00:1234:5678:9abc:def0:1234:5678:9abc"
	return &wslfwdv1.Forward{
		Protocol: wslfwdv1.Protocol_PROTOCOL_UDP, ListenAddress: "::", ListenPort: port,
		ConnectAddress: v6, ConnectPort: port, Distro: strings.Repeat("d", 64),
		ProcessName: strings.Repeat("p", 64), Pid: 1 << 31, Backend: "portproxy", State: state,
		Reason: strings.Repeat("r", reason), Origin: wslfwdv1.ForwardOrigin_FORWARD_ORIGIN_AGENT,
		Since: timestamppb.Now(), ListenerAddress: v6,
	}
}

// At the VM cap (max_listeners_per_agent distinct ports for each of two
// sources, loopback and the WSL VM, each forwarded on IPv4 and IPv6), the
// forwards pass gRPC's default 4 MiB, which the CLI used to read, and fit
// within replysize.Max, which it reads now. With --all, the listeners of
// max_agents agents, each at its limit and all blocked, go far past it:
// the daemon leaves out blocked rows, keeps every forwarded one, and
// says how many it left out.
func TestListForwardsAtTheCapFitsWhatTheCLIReads(t *testing.T) {
	cfg := config.Default()
	var fwds []*wslfwdv1.Forward
	forwarded := 2 * cfg.MaxListenersPerAgent * 2
	for i := range forwarded {
		fwds = append(fwds, widest(uint32(i), wslfwdv1.ForwardState_FORWARD_STATE_ERROR, 100))
	}
	for i := range cfg.MaxAgents * cfg.MaxListenersPerAgent {
		fwds = append(fwds, widest(uint32(i), wslfwdv1.ForwardState_FORWARD_STATE_BLOCKED, 200))
	}
	s := New(&fakeEngine{fwds: fwds})

	resp, err := s.ListForwards(context.Background(), &wslfwdv1.ListForwardsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	size := proto.Size(resp)
	if len(resp.GetForwards()) != forwarded || resp.GetOmitted() != 0 || size > replysize.Max {
		t.Errorf("forwards at the cap: %d rows, %d omitted, %d bytes; want %d, none, at most %d",
			len(resp.GetForwards()), resp.GetOmitted(), size, forwarded, replysize.Max)
	}
	if size <= 4<<20 {
		t.Errorf("forwards at the cap take %d bytes, within gRPC's default: this test no longer shows why the CLI reads more", size)
	}

	resp, err = s.ListForwards(context.Background(), &wslfwdv1.ListForwardsRequest{All: true})
	if err != nil {
		t.Fatal(err)
	}
	if size := proto.Size(resp); size > replysize.Max {
		t.Fatalf("forwards --all: %d bytes, more than %d", size, replysize.Max)
	}
	kept := 0
	for _, f := range resp.GetForwards() {
		if f.GetState() != wslfwdv1.ForwardState_FORWARD_STATE_BLOCKED {
			kept++
		}
	}
	if kept != forwarded {
		t.Errorf("forwards --all kept %d forwarded rows, want all %d", kept, forwarded)
	}
	if got, want := len(resp.GetForwards())+int(resp.GetOmitted()), len(fwds); got != want {
		t.Errorf("%d rows and %d omitted, want %d in all", len(resp.GetForwards()), resp.GetOmitted(), want)
	}
}

// When even the forwarded rows do not fit, the answer still does: the
// last rows go, and are counted.
func TestFitLeavesOutForwardedRowsLast(t *testing.T) {
	var fwds []*wslfwdv1.Forward
	for i := range 10 {
		state := wslfwdv1.ForwardState_FORWARD_STATE_ACTIVE
		if i%2 == 0 {
			state = wslfwdv1.ForwardState_FORWARD_STATE_BLOCKED
		}
		fwds = append(fwds, widest(uint32(i+1), state, 0))
	}
	row := proto.Size(&wslfwdv1.ListForwardsResponse{Forwards: fwds[1:2]})
	got, omitted := fit(fwds, 3*row)
	var ports []string
	for _, f := range got {
		ports = append(ports, fmt.Sprint(f.GetListenPort()))
	}
	if strings.Join(ports, ",") != "2,4,6" || omitted != 7 {
		t.Errorf("kept ports %v, %d omitted; want the first three forwarded (2,4,6), 7 omitted", ports, omitted)
	}
}
