//go:build linux

package faults

import (
	"fmt"
	"net/netip"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wslfwd/wslfwd/internal/endpoint"
	"github.com/wslfwd/wslfwd/lab/labrun"
	"github.com/wslfwd/wslfwd/lab/netlab"
)

// wsl's eth0 gets a new address while services run: the forwards follow
// to it. Then eth0 goes down and comes back up (with a service opened
// while it was down): the forwards recover, and the table is exact after
// each step.
func TestAddressChangeAndLinkFlap(t *testing.T) {
	ctx, env := startWithAgent(t, labrun.Options{}, 60*time.Second)
	svc := newServices(t, env.Lab.WSL)
	svc.open(20001)
	svc.open(20002)
	checkExact(ctx, t, env, exactOptions{dialAll: true})

	moved := netip.PrefixFrom(netip.MustParseAddr("172.28.240.54"), netlab.WSLAddr.Bits())
	if err := env.Lab.SetWSLAddress(netlab.WSLAddr, moved); err != nil {
		t.Fatal(err)
	}
	checkExact(ctx, t, env, exactOptions{dialAll: true}) // compares with the new address

	agent := env.AgentProc(distro)
	from := len(agent.Log())
	if err := env.Lab.SetWSLLinkUp(false); err != nil {
		t.Fatal(err)
	}
	// The agent sees the link go and the services change while it is
	// down; what it reports cannot reach the daemon until the link is back.
	if err := waitLog(ctx, env, agent, from, "network changed"); err != nil {
		t.Fatal(err)
	}
	svc.open(20003)
	svc.close(20001)
	if err := waitLog(ctx, env, agent, from, "port=20003"); err != nil {
		t.Fatal(err)
	}
	if err := env.Lab.SetWSLLinkUp(true); err != nil {
		t.Fatal(err)
	}
	checkExact(ctx, t, env, exactOptions{dialAll: true})
}

// The network between agent and daemon drops every packet for longer
// than the keepalive allows (10 s + 5 s on both sides), while services
// change. Both sides notice the dead connection, the agent reconnects once
// the partition heals, and the changes made during the partition arrive:
// the final table is exact.
func TestPartitionBetweenAgentAndDaemon(t *testing.T) {
	ipt, err := exec.LookPath("iptables")
	if err != nil {
		t.Skip("needs iptables to drop packets in the lab (apt-get install iptables): ", err)
	}
	ctx, env := startWithAgent(t, labrun.Options{}, 120*time.Second)
	svc := newServices(t, env.Lab.WSL)
	svc.open(20001)
	svc.open(20002)
	checkExact(ctx, t, env, exactOptions{dialAll: true})
	before, err := env.Agent(ctx, distro)
	if err != nil {
		t.Fatal(err)
	}

	// Drop the daemon's traffic in wsl, both ways; everything else
	// (lan ↔ relay ↔ services) still flows.
	port := strconv.Itoa(endpoint.DefaultPort)
	rules := [][]string{
		{"OUTPUT", "-p", "tcp", "--dport", port, "-j", "DROP"},
		{"INPUT", "-p", "tcp", "--sport", port, "-j", "DROP"},
	}
	iptables := func(op string, rule []string) error {
		args := append([]string{"-w", op}, rule...)
		if out, err := env.Lab.WSL.Command(ctx, ipt, args...).CombinedOutput(); err != nil {
			return fmt.Errorf("iptables %s in wsl: %v\n%s", strings.Join(args, " "), err, out)
		}
		return nil
	}
	agent := env.AgentProc(distro)
	logged := len(agent.Log())
	for i, r := range rules {
		if err := iptables("-A", r); err != nil {
			if i == 0 {
				// This kernel or iptables cannot filter in a namespace.
				t.Skipf("needs iptables that works in a network namespace: %v", err)
			}
			t.Fatal(err)
		}
	}
	cut := time.Now()
	svc.close(20001)
	svc.open(20003)

	if err := waitConnected(ctx, env, false); err != nil {
		t.Fatal(err)
	}
	t.Logf("the daemon noticed the partition after %v", time.Since(cut).Round(time.Millisecond))
	if err := waitLog(ctx, env, agent, logged, "daemon unreachable"); err != nil {
		t.Fatal(err)
	}
	t.Logf("the agent noticed the partition after %v", time.Since(cut).Round(time.Millisecond))

	for _, r := range rules {
		if err := iptables("-D", r); err != nil {
			t.Fatal(err)
		}
	}
	healed := time.Now()
	if err := waitConnected(ctx, env, true); err != nil {
		t.Fatal(err)
	}
	t.Logf("the agent reconnected %v after the partition healed", time.Since(healed).Round(time.Millisecond))
	after, err := env.Agent(ctx, distro)
	if err != nil {
		t.Fatal(err)
	}
	if !after.GetConnectedAt().AsTime().After(before.GetConnectedAt().AsTime()) {
		t.Errorf("the agent's session began at %v, as before the partition: want a new session", after.GetConnectedAt().AsTime())
	}
	checkExact(ctx, t, env, exactOptions{dialAll: true})
}
