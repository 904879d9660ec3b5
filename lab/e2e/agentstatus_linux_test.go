//go:build linux

package e2e

import (
	"cmp"
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/wslfwd/wslfwd/agent-linux/localstatus"
	"github.com/wslfwd/wslfwd/lab/labrun"
	"github.com/wslfwd/wslfwd/lab/netlab"
)

// agentStatus runs `wslfwd-agent status -o json` in wsl for Ubuntu's agent.
func agentStatus(ctx context.Context, t *testing.T, env *labrun.Env) localstatus.Document {
	t.Helper()
	out, err := env.AgentStatus(ctx, "Ubuntu", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var doc localstatus.Document
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("status -o json: %v\n%s", err, out)
	}
	return doc
}

func listenerOn(doc localstatus.Document, port uint32) *localstatus.Listener {
	for i, l := range doc.Listeners {
		if l.Protocol == "tcp" && l.Port == port {
			return &doc.Listeners[i]
		}
	}
	return nil
}

// Inside the distro, with no token beyond the agent's, `wslfwd-agent
// status` shows each listener and what the daemon made of it: a service
// forwarded as asked is ACTIVE, one on a denied port (445, in the
// default deny list) BLOCKED with the daemon's reason. The daemon listing
// them is enough: the status request waits for the daemon to act on
// everything sent, so no poll is needed. With the daemon gone, the status
// says not connected rather than what was true before.
func TestAgentStatusShowsVerdicts(t *testing.T) {
	ctx, env := startWithAgent(t, labrun.Options{})
	tcpEcho(t, env.Lab.WSL, "0.0.0.0:9011")
	tcpEcho(t, env.Lab.WSL, "0.0.0.0:445")
	if _, err := env.WaitForward(ctx, labrun.Match{Protocol: tcp, Port: 9011, State: active}); err != nil {
		t.Fatal(err)
	}
	denied, err := env.WaitForward(ctx, labrun.Match{Protocol: tcp, Port: 445, State: blocked})
	if err != nil {
		t.Fatal(err)
	}

	doc := agentStatus(ctx, t, env)
	if doc.Distro != "Ubuntu" || doc.NetworkingMode != "nat" || !doc.Daemon.Connected || doc.Daemon.Since.IsZero() ||
		doc.Daemon.Address != labrun.DaemonWSL.String() {
		t.Errorf("status header %+v: want Ubuntu, nat, connected to %s", doc, labrun.DaemonWSL)
	}
	if l := listenerOn(doc, 9011); l == nil || l.State != "ACTIVE" || !l.AsAsked || l.PID != uint32(os.Getpid()) {
		t.Errorf("port 9011: %+v; want ACTIVE as asked, pid %d (this test)", l, os.Getpid())
	}
	if l := listenerOn(doc, 445); l == nil || l.State != "BLOCKED" || l.Reason != denied.GetReason() || l.Reason == "" {
		t.Errorf("port 445: %+v; want BLOCKED with the daemon's reason %q", l, denied.GetReason())
	}
	table, err := env.AgentStatus(ctx, "Ubuntu")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(table, "PROTO  LISTEN") || !strings.Contains(table, "on its own port, as asked") || !strings.Contains(table, denied.GetReason()) {
		t.Errorf("status table:\n%s", table)
	}

	if err := env.StopDaemon(); err != nil {
		t.Fatal(err)
	}
	if err := env.Wait(ctx, "the agent to say it is not connected", func(ctx context.Context) (bool, error) {
		return !agentStatus(ctx, t, env).Daemon.Connected, nil
	}); err != nil {
		t.Fatal(err)
	}
	doc = agentStatus(ctx, t, env)
	if l := listenerOn(doc, 445); l == nil || l.State != localstatus.StateNotConnected || doc.Daemon.LastError == "" {
		t.Errorf("daemon stopped: port 445 %+v, last error %q; want NOT_CONNECTED and why", l, doc.Daemon.LastError)
	}
}

// With more listeners than the daemon accepts from one agent
// (max_listeners_per_agent), the agent keeps reporting those it reported
// and says how many it left out, where it used to send them all and have
// the daemon refuse the lot: the forwards already there stay, the new
// listener is not forwarded, `wslfwd forwards` and `wslfwd-agent status`
// say why, and once a reported listener closes the one left out takes its
// place.
func TestListenersOverTheDaemonsLimit(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "wslfwd.toml")
	if err := os.WriteFile(cfg, []byte("max_listeners_per_agent = 2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, env := startWithAgent(t, labrun.Options{DaemonArgs: []string{"--config", cfg}})
	first := tcpEcho(t, env.Lab.WSL, "0.0.0.0:9021")
	tcpEcho(t, env.Lab.WSL, "0.0.0.0:9022")
	for _, port := range []uint32{9021, 9022} {
		if _, err := env.WaitForward(ctx, labrun.Match{Protocol: tcp, Port: port, State: active}); err != nil {
			t.Fatal(err)
		}
	}
	// Reported already, those two stay whatever the new socket's inode.
	tcpEcho(t, env.Lab.WSL, "0.0.0.0:9023")

	// The status request waits for the daemon to act on all that was sent.
	doc := agentStatus(ctx, t, env)
	if l := listenerOn(doc, 9023); l == nil || l.State != localstatus.StateUnreported || l.Reason != localstatus.ReasonUnreported(2) {
		t.Errorf("port 9023: %+v; want UNREPORTED: %s", l, localstatus.ReasonUnreported(2))
	}
	fwds, err := env.Forwards(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fwds {
		if f.GetListenPort() == 9023 {
			t.Errorf("the daemon lists port 9023, which the agent left out: %v", f)
		}
	}
	out, err := env.CLI(ctx, "forwards")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "Ubuntu: its agent says it left 1 listener unreported, so not forwarded") {
		t.Errorf("wslfwd forwards does not say a listener was left out:\n%s", out)
	}

	first.Close()
	if _, err := env.WaitForward(ctx, labrun.Match{Protocol: tcp, Port: 9023, State: active}); err != nil {
		t.Fatal(err)
	}
	if out, err := env.CLI(ctx, "forwards"); err != nil || strings.Contains(out, "unreported, so not forwarded") {
		t.Errorf("wslfwd forwards (%v) still says listeners are left out:\n%s", err, out)
	}
}

// An agent restarted while its distro has more listeners than the daemon
// accepts keeps reporting the ones forwarded before, which the daemon's
// welcome names, even when a socket left out is older (a lower inode):
// the restart must not hand a service's place to it.
func TestRestartOverTheLimitKeepsTheForwarded(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "wslfwd.toml")
	if err := os.WriteFile(cfg, []byte("max_listeners_per_agent = 2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, env := startWithAgent(t, labrun.Options{DaemonArgs: []string{"--config", cfg}, Grace: 30 * time.Second})
	// The oldest socket listens last, so that the forwarded ones are not
	// the oldest: ranked by inode alone, it would take a place.
	fds := socketsByAge(t, env.Lab.WSL, 3)
	for i, port := range []uint32{9031, 9032} {
		listenEcho(t, fds[i+1], port)
		if _, err := env.WaitForward(ctx, labrun.Match{Protocol: tcp, Port: port, State: active}); err != nil {
			t.Fatal(err)
		}
	}
	listenEcho(t, fds[0], 9033)
	if l := listenerOn(agentStatus(ctx, t, env), 9033); l == nil || l.State != localstatus.StateUnreported {
		t.Fatalf("port 9033 before the restart: %+v; want UNREPORTED", l)
	}

	if err := env.KillAgent("Ubuntu"); err != nil {
		t.Fatal(err)
	}
	if _, err := env.StartAgent(ctx, labrun.AgentOptions{Distro: "Ubuntu"}); err != nil {
		t.Fatal(err)
	}
	doc := agentStatus(ctx, t, env) // waits for the daemon to act on the new snapshot
	if l := listenerOn(doc, 9033); l == nil || l.State != localstatus.StateUnreported {
		t.Errorf("port 9033 after the restart: %+v; want UNREPORTED", l)
	}
	for _, port := range []uint32{9031, 9032} {
		fs, err := env.Select(ctx, labrun.Match{Protocol: tcp, Port: port, State: active})
		if err != nil {
			t.Fatal(err)
		}
		if len(fs) != 1 {
			t.Errorf("port %d after the restart: %d ACTIVE forwards, want 1", port, len(fs))
		}
	}
}

// socketsByAge opens n TCP sockets in ns, neither bound nor listening,
// lowest inode (oldest, as the agent ranks them) first. They are closed
// when the test ends.
func socketsByAge(t *testing.T, ns *netlab.NS, n int) []*os.File {
	t.Helper()
	var socks []*os.File
	inode := map[*os.File]uint64{}
	err := ns.Do(func() error {
		for range n {
			fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				return err
			}
			f := os.NewFile(uintptr(fd), "socket")
			t.Cleanup(func() { f.Close() })
			var st unix.Stat_t
			if err := unix.Fstat(fd, &st); err != nil {
				return err
			}
			socks = append(socks, f)
			inode[f] = st.Ino
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(socks, func(a, b *os.File) int { return cmp.Compare(inode[a], inode[b]) })
	return socks
}

// listenEcho makes socket s listen on 0.0.0.0:port and echo.
func listenEcho(t *testing.T, s *os.File, port uint32) {
	t.Helper()
	rc, err := s.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var lerr error
	rc.Control(func(fd uintptr) {
		if lerr = unix.Bind(int(fd), &unix.SockaddrInet4{Port: int(port)}); lerr == nil {
			lerr = unix.Listen(int(fd), 16)
		}
	})
	if lerr != nil {
		t.Fatalf("listen on port %d: %v", port, lerr)
	}
	ln, err := net.FileListener(s) // a copy of the fd: the same socket
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go netlab.Echo(ln)
}
