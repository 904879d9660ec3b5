//go:build linux

package upgrade

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/wslfwd/wslfwd/internal/waitfor"
	"github.com/wslfwd/wslfwd/lab/labrun"
	"github.com/wslfwd/wslfwd/lab/netlab"
)

// distro is a WSL 2 distro in the lab: PID and mount namespaces of its
// own, held by a process, inside the lab's wsl network namespace, which
// all distros share. As in WSL, its agent sees every socket of the shared
// namespace but the owners only of its own distro's, so the daemon
// credits each service to the distro that runs it.
type distro struct {
	name string
	env  *labrun.Env
	// pid1 is the namespaces' init, as the machine numbers it.
	pid1 int
}

// startDistro starts a distro's namespace holder and waits until its
// /proc is its own.
func startDistro(t *testing.T, env *labrun.Env, name string) *distro {
	t.Helper()
	p, err := env.Lab.Start("distro-"+name, env.Lab.WSL.Command(context.Background(), "unshare",
		"--pid", "--mount", "--fork", "--kill-child", "--mount-proc", "--propagation", "private", "--", "sleep", "infinity"))
	if err != nil {
		t.Fatal(err)
	}
	d := &distro{name: name, env: env}
	// unshare's child mounts /proc, then runs sleep as the distro's init.
	waitfor.Cond(t, labrun.DefaultWait, "distro "+name+"'s namespaces", func() bool {
		if exited, err := p.Exited(); exited {
			t.Fatalf("distro %s's holder exited (%v):\n%s", name, err, p.Tail(20))
		}
		kids, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", p.Pid(), p.Pid()))
		d.pid1, _ = strconv.Atoi(strings.TrimSpace(string(kids)))
		comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", d.pid1))
		return d.pid1 != 0 && strings.TrimSpace(string(comm)) == "sleep"
	})
	return d
}

// enter is the command line that runs a program in the distro. nsenter
// forks the program into the PID namespace and waits for it, so the
// program gets sig when nsenter (the process the lab tracks) ends.
func (d *distro) enter(sig string) []string {
	return []string{"nsenter", "--target", strconv.Itoa(d.pid1), "--pid", "--mount", "--wd=/",
		"--", "setpriv", "--pdeathsig", sig, "--"}
}

// startAgent starts program, an agent of some version, in the distro and
// waits until the daemon lists it as connected. Stopping it (SIGTERM to
// nsenter) stops the agent as a service stop would.
func (d *distro) startAgent(ctx context.Context, t *testing.T, program string) *netlab.Proc {
	t.Helper()
	p, err := d.env.StartAgent(ctx, labrun.AgentOptions{Distro: d.name, Program: program, Enter: d.enter("TERM")})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// stopAgent stops an agent startAgent started, as a service stop does,
// and waits until it has exited: nsenter ends at SIGTERM at once and the
// agent, its child, gets the signal then.
func (d *distro) stopAgent(t *testing.T, p *netlab.Proc) {
	t.Helper()
	kids, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", p.Pid(), p.Pid()))
	if err != nil {
		t.Fatalf("find %s's agent: %v", d.name, err)
	}
	agent, err := strconv.Atoi(strings.TrimSpace(string(kids)))
	if err != nil {
		t.Fatalf("find %s's agent: nsenter %d has children %q", d.name, p.Pid(), kids)
	}
	_ = p.Stop(labrun.DefaultWait) // nsenter dies of the signal
	// The distro's init (sleep) reaps no one, so the agent ends a zombie.
	waitfor.Cond(t, labrun.DefaultWait, d.name+"'s agent to exit", func() bool {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", agent))
		_, after, _ := strings.Cut(string(stat), ") ")
		return err != nil || strings.HasPrefix(after, "Z")
	})
}

// listen runs a TCP echo service on port, on every address, as a process
// of the distro (this test binary, see TestMain); stopping the returned
// process closes it.
func (d *distro) listen(t *testing.T, port uint16) *netlab.Proc {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	argv := append(d.enter("KILL"), self)
	cmd := d.env.Lab.WSL.Command(context.Background(), argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=0.0.0.0:%d", echoEnv, port))
	p, err := d.env.Lab.Start(fmt.Sprintf("echo-%s-%d", d.name, port), cmd)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
