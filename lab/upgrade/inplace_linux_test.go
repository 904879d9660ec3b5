//go:build linux

package upgrade

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/internal/version"
	"github.com/wslfwd/wslfwd/lab/labrun"
	"github.com/wslfwd/wslfwd/lab/labtest"
)

// The ports of TestUpgradeInPlace: a service forwarded automatically,
// and one pinned with wslfwd expose.
const (
	autoPort   = 9201
	staticPort = 9202
)

// An upgrade in place, as setup does it: the service stops (the previous
// daemon, and the previous agent in its distro), and the new programs
// start on the same state directory while the distro's services run on.
// The static forward is kept, the automatic one comes back, nothing is
// doubled or left over (the relay holds nothing across a restart, so the
// state files and the forwards table are what could carry either), and
// both carry traffic from the LAN.
func TestUpgradeInPlace(t *testing.T) {
	prev, cur := previousPrograms(t), labtest.Bin()
	// The previous daemon, and the CLI that came with it, which speak
	// plain HTTP/2.
	bin := cur
	bin.Daemon, bin.CLI, bin.Plaintext = prev.Daemon, prev.CLI, prev.Plaintext
	ctx, env := labtest.Start(t, labrun.Options{Bin: bin}, testTimeout)
	d := startDistro(t, env, "Ubuntu")
	agent := d.startAgent(ctx, t, prev.Agent)
	d.listen(t, autoPort)
	d.listen(t, staticPort)
	if _, err := env.CLI(ctx, "expose", strconv.Itoa(staticPort), "--distro", "Ubuntu"); err != nil {
		t.Fatal(err)
	}
	checkForwards(ctx, t, env)
	before := stateFiles(t, env.StateDir)

	if err := env.StopDaemon(); err != nil {
		t.Fatal(err)
	}
	d.stopAgent(t, agent)
	env.Bin = cur
	if err := env.StartDaemon(ctx); err != nil {
		t.Fatal(err)
	}
	d.startAgent(ctx, t, cur.Agent)
	checkForwards(ctx, t, env)
	if after := stateFiles(t, env.StateDir); !maps.Equal(before, after) {
		t.Errorf("the state directory changed across the upgrade:\nbefore %v\nafter  %v", before, after)
	}
	a, err := env.Agent(ctx, "Ubuntu")
	if err != nil {
		t.Fatal(err)
	}
	if a.GetAgentVersion() != version.Version {
		t.Errorf("after the upgrade Ubuntu's agent is version %q, want %q", a.GetAgentVersion(), version.Version)
	}
}

// checkForwards waits until `wslfwd forwards` lists exactly the two
// forwards of TestUpgradeInPlace, each once, ACTIVE, from its origin and
// for Ubuntu; checks that with --all nothing else is listed (a listener a
// static forward carries is listed there too, with that reason); and
// that both carry traffic from the LAN.
func checkForwards(ctx context.Context, t *testing.T, env *labrun.Env) {
	t.Helper()
	want := map[uint32]wslfwdv1.ForwardOrigin{
		autoPort:   wslfwdv1.ForwardOrigin_FORWARD_ORIGIN_AGENT,
		staticPort: wslfwdv1.ForwardOrigin_FORWARD_ORIGIN_STATIC,
	}
	err := env.Wait(ctx, "wslfwd forwards to list the automatic and the static forward", func(ctx context.Context) (bool, error) {
		fs, err := cliForwards(ctx, env)
		if err != nil || len(fs) != len(want) {
			return false, err
		}
		for _, f := range fs {
			if o, ok := want[f.GetListenPort()]; !ok || f.GetOrigin() != o || f.GetState() != active || f.GetDistro() != "Ubuntu" {
				return false, fmt.Errorf("unexpected forward: %s", describe(f))
			}
		}
		return true, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	all, err := cliForwards(ctx, env, "--all")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range all {
		if _, ok := want[f.GetListenPort()]; !ok {
			t.Errorf("wslfwd forwards --all lists a row of neither service: %s", describe(f))
		}
	}
	for p := range want {
		if err := env.EchoFromLAN(ctx, "tcp", uint16(p)); err != nil {
			t.Errorf("port %d from lan: %v", p, err)
		}
	}
}

// cliForwards runs `wslfwd forwards` with args and -o json and returns
// the forwards.
func cliForwards(ctx context.Context, env *labrun.Env, args ...string) ([]*wslfwdv1.Forward, error) {
	var list wslfwdv1.ListForwardsResponse
	err := env.CLIJSON(ctx, &list, append([]string{"forwards"}, args...)...)
	return list.GetForwards(), err
}

// stateFiles reads the daemon's state directory: each file's name and
// its content as JSON (every state file is), so that a file a version
// reformats but does not change compares equal.
func stateFiles(t *testing.T, dir string) map[string]string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, e := range ents {
		if e.Name() == "daemon.lock" { // held while a daemon runs; no state, and empty
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		var v any
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatalf("state file %s: %v\n%s", e.Name(), err, b)
		}
		norm, _ := json.Marshal(v)
		out[e.Name()] = string(norm)
	}
	return out
}
