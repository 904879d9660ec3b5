//go:build linux

package faults

import (
	"context"
	"testing"
	"time"

	"github.com/wslfwd/wslfwd/internal/endpoint"
	"github.com/wslfwd/wslfwd/lab/labrun"
)

// An agent SIGKILLed and restarted within the grace period: its forwards
// never drop. lan reaches the services before, during and after, and the
// final table is exact, including a service opened while the agent was
// dead.
func TestAgentKilledWithinGrace(t *testing.T) {
	grace := 5 * time.Second
	ctx, env := startWithAgent(t, labrun.Options{Grace: grace}, 60*time.Second)
	svc := newServices(t, env.Lab.WSL)
	svc.open(20001)
	svc.open(20002)
	checkExact(ctx, t, env, exactOptions{dialAll: true})

	probe := probeFromLAN(ctx, env, 20001, 20002)
	killed := time.Now()
	if err := env.KillAgent(distro); err != nil {
		t.Fatal(err)
	}
	svc.open(20003) // while no agent watches
	if _, err := env.StartAgent(ctx, labrun.AgentOptions{Distro: distro}); err != nil {
		t.Fatal(err)
	}
	back := time.Since(killed)
	if back >= grace {
		t.Fatalf("the agent took %v to come back, longer than the grace period %v: nothing to test", back, grace)
	}
	checkExact(ctx, t, env, exactOptions{dialAll: true})
	// Keep probing past the moment the old session's grace would have
	// ended: its forwards must not be removed then either.
	if err := env.Wait(ctx, "the old session's grace period to pass", func(context.Context) (bool, error) {
		return time.Since(killed) > grace+time.Second, nil
	}); err != nil {
		t.Fatal(err)
	}
	n, fails := probe.finish()
	if len(fails) > 0 || n == 0 {
		t.Errorf("%d of %d probes from lan failed across the agent restart (back after %v); first: %v", len(fails), n, back.Round(time.Millisecond), fails)
	}
	t.Logf("%d probes from lan, none failed; agent back after %v", n, back.Round(time.Millisecond))
	checkExact(ctx, t, env, exactOptions{dialAll: true})
}

// An agent SIGKILLed for longer than the grace period: its forwards (and
// the relay's TCP and UDP sockets) go once the grace period ends, and come
// back, with whatever changed meanwhile, when it restarts.
func TestAgentKilledBeyondGrace(t *testing.T) {
	ctx, env := startWithAgent(t, labrun.Options{}, 60*time.Second)
	svc := newServices(t, env.Lab.WSL)
	svc.open(20001)
	svc.open(20002)
	pc, err := env.Lab.WSL.ListenPacket("udp", "0.0.0.0:20004")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	checkExact(ctx, t, env, exactOptions{dialAll: true})

	killed := time.Now()
	if err := env.KillAgent(distro); err != nil {
		t.Fatal(err)
	}
	err = env.Wait(ctx, "the dead agent's forwards and relay sockets to go", func(ctx context.Context) (bool, error) {
		fs, err := env.Forwards(ctx, true)
		if err != nil {
			return false, err
		}
		relay, err := listening(env.Lab.WinHost)
		if err != nil {
			return false, err
		}
		delete(relay, sock{"tcp", endpoint.DefaultPort})
		return len(fs) == 0 && len(relay) == 0, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if gone := time.Since(killed); gone < env.Grace {
		t.Errorf("forwards gone %v after the kill, before the grace period (%v) ended", gone, env.Grace)
	}
	for _, port := range []uint16{20001, 20002} {
		if err := env.RefusedFromLAN(ctx, port); err != nil {
			t.Error(err)
		}
	}
	svc.close(20002) // while no agent watches
	svc.open(20003)
	if _, err := env.StartAgent(ctx, labrun.AgentOptions{Distro: distro}); err != nil {
		t.Fatal(err)
	}
	checkExact(ctx, t, env, exactOptions{dialAll: true})
}
