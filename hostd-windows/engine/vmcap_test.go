package engine_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/hostd-windows/config"
	"github.com/wslfwd/wslfwd/hostd-windows/daemon/daemontest"
	"github.com/wslfwd/wslfwd/hostd-windows/engine"
)

// 16 made-up distros of one VM, each claiming a full share of listeners
// on ports of its own, get no more forwards than one agent could: the
// first distro's ports are forwarded, every other listener is listed as
// blocked by the VM's cap, and each agent is told so.
func TestMadeUpDistrosOfOneVMShareOneCap(t *testing.T) {
	const perAgent, distros = 64, 16
	be := daemontest.NewBackend()
	e, _ := bareEngine(t, be, config.Default(), func(o *engine.Options) { o.MaxListeners = perAgent })
	var ids []string
	for i := range distros {
		// Every address of 127/8 is one source, as every address of the
		// WSL network is: one VM.
		s := openAgent(t, e, fmt.Sprintf("fake%02d", i), fmt.Sprintf("127.0.0.%d:50000", i+1))
		var ls []*wslfwdv1.Listener
		for p := range perAgent {
			ls = append(ls, daemontest.TCPListener("0.0.0.0", uint32(10000+perAgent*i+p)))
		}
		snap := &wslfwdv1.AgentMessage{Msg: &wslfwdv1.AgentMessage_Snapshot{Snapshot: &wslfwdv1.Snapshot{
			Seq: 1, Network: daemontest.Network(), Listeners: ls}}}
		if err := e.Registry().Apply(s, snap); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, s.ID)
		e.Step(context.Background(), false) // incremental after the first
	}
	if got := len(e.Forwards(false)); got != perAgent {
		t.Errorf("%d forwards, want %d: the VM's cap", got, perAgent)
	}
	if entries, err := be.List(context.Background()); err != nil || len(entries) != perAgent {
		t.Errorf("the backend holds %d entries (%v), want %d", len(entries), err, perAgent)
	}
	capped := 0
	for _, f := range e.Forwards(true) {
		if f.GetState() == wslfwdv1.ForwardState_FORWARD_STATE_BLOCKED && strings.Contains(f.GetReason(), "over the VM's cap") {
			capped++
		}
	}
	if want := perAgent * (distros - 1); capped != want {
		t.Errorf("%d listeners listed as over the VM's cap, want %d", capped, want)
	}
	if told := e.Told(ids[0]); len(told) != 0 {
		t.Errorf("the first distro was told %v, want nothing: all forwarded as asked", told)
	}
	for _, id := range ids[1:] {
		told := e.Told(id)
		if len(told) != perAgent {
			t.Fatalf("session %s was told of %d listeners, want %d", id, len(told), perAgent)
		}
		for k, st := range told {
			if !strings.Contains(st, "over the VM's cap") {
				t.Fatalf("session %s told of %v: %s, want the cap", id, k, st)
			}
		}
	}
}
