package engine_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/hostd-windows/backend"
	"github.com/wslfwd/wslfwd/hostd-windows/daemon/daemontest"
	"github.com/wslfwd/wslfwd/hostd-windows/engine"
	"github.com/wslfwd/wslfwd/hostd-windows/firewall"
	"github.com/wslfwd/wslfwd/internal/waitfor"
)

func TestFirewallFollowsForwardsAndRecovers(t *testing.T) {
	fw := &engine.FakeFirewall{}
	fw.SetFailing(true)
	h := daemontest.Start(t, daemontest.Options{Backend: daemontest.NewBackend(), Firewall: fw})
	a := h.Connect(t, "Ubuntu")
	udp := &wslfwdv1.Listener{Protocol: wslfwdv1.Protocol_PROTOCOL_UDP, Family: wslfwdv1.AddressFamily_ADDRESS_FAMILY_IPV4,
		Listen: "0.0.0.0", Port: 5353, Inode: 7, Pid: 43, ProcessName: "dns"}
	a.Snapshot(daemontest.TCPListener("0.0.0.0", 8080), udp, daemontest.TCPListener("127.0.0.1", 9090))

	problem := func() *wslfwdv1.Problem {
		st, err := h.Control.GetStatus(daemontest.Ctx(t), &wslfwdv1.GetStatusRequest{})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range st.GetProblems() {
			if p.GetCode() == "firewall-sync-failed" {
				return p
			}
		}
		return nil
	}
	waitfor.Cond(t, 10*time.Second, "the failed firewall sync to show in GetStatus", func() bool { return problem() != nil })

	fw.SetFailing(false)
	want := []firewall.Rule{
		{Kind: firewall.Windows, Protocol: backend.TCP, Port: 8080},
		{Kind: firewall.Windows, Protocol: backend.UDP, Port: 5353},
	}
	waitfor.Cond(t, 10*time.Second, "the retry to sync the rules", func() bool {
		_, got := fw.State()
		return slices.Equal(got, want)
	})
	if p := problem(); p != nil {
		t.Fatalf("problem still reported after a good sync: %v", p)
	}

	// The loopback-only listener never gets a rule; a closed one loses its.
	a.Changes(nil, []*wslfwdv1.Listener{daemontest.TCPListener("0.0.0.0", 8080)})
	waitfor.Cond(t, 10*time.Second, "the rule of the closed listener to go", func() bool {
		_, got := fw.State()
		return slices.Equal(got, want[1:])
	})
}

// An entry that exists but carries nothing is ERROR with the backend's
// reason, keeps its firewall rule, and turns ACTIVE by itself (the retry)
// once it works, without being made anew.
func TestEntryThatDoesNotWorkIsErrorUntilItWorks(t *testing.T) {
	be := daemontest.NewBackend()
	be.SetBroken(errors.New("nothing listens on 0.0.0.0:8080"))
	fw := &engine.FakeFirewall{}
	h := daemontest.Start(t, daemontest.Options{Backend: be, Firewall: fw})
	a := h.Connect(t, "Ubuntu")
	a.Snapshot(daemontest.TCPListener("0.0.0.0", 8080))
	f := h.Forwards(t, false)
	if len(f) != 1 || f[0].GetState() != wslfwdv1.ForwardState_FORWARD_STATE_ERROR || f[0].GetReason() != "nothing listens on 0.0.0.0:8080" || f[0].GetBackend() != "" {
		t.Fatalf("forwards = %v, want ERROR saying nothing listens", f)
	}
	rule := []firewall.Rule{{Kind: firewall.Windows, Protocol: backend.TCP, Port: 8080}}
	waitfor.Cond(t, 10*time.Second, "the rule of the entry that exists", func() bool {
		_, got := fw.State()
		return slices.Equal(got, rule)
	})

	be.SetBroken(nil)
	waitfor.Cond(t, 10*time.Second, "the forward to turn ACTIVE", func() bool {
		f := h.Forwards(t, false)
		return len(f) == 1 && f[0].GetState() == active && f[0].GetReason() == ""
	})
	if removed, added := be.Changes(); len(removed) != 0 || len(added) != 1 {
		t.Fatalf("removed %v, added %v; want the one addition", removed, added)
	}
}
