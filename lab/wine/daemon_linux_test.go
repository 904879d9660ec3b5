package wine

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"google.golang.org/grpc"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/hostd-windows/portproxy"
	"github.com/wslfwd/wslfwd/internal/token"
	"github.com/wslfwd/wslfwd/internal/tokentls"
	"github.com/wslfwd/wslfwd/internal/waitfor"
)

// wait bounds each wait for the daemon or the agent. Wine starts a Go
// program in about a second.
const wait = 30 * time.Second

// startDaemon runs `wslfwd-hostd.exe run` under Wine with the portproxy
// backend and h.config, listening only on the vEthernet address (an agent
// connecting from loopback is no forward target), and waits until it
// answers ListAgents.
func (h *host) startDaemon(n int) wslfwdv1.ControlServiceClient {
	h.t.Helper()
	cfg := filepath.Join(h.dir, "wslfwd.toml")
	if err := os.WriteFile(cfg, []byte(h.config), 0o600); err != nil {
		h.t.Fatal(err)
	}
	p, err := h.lab.Start(fmt.Sprintf("daemon-%d", n), h.cmd(context.Background(), wine, h.exe, "run",
		"--config", winPath(cfg), "--backend", "portproxy", "--listen", daemonAddr.String(),
		"--state-dir", stateDir, "--grace", "30s", "--log-level", "debug"))
	if err != nil {
		h.t.Fatal(err)
	}
	h.daemon = p
	var tok string
	waitfor.Cond(h.t, wait, "the daemon's admin token", func() bool {
		tok, err = token.Load(h.hostPath(stateDir + `\token`))
		return err == nil || h.daemonDied()
	})
	c := h.control(tok)
	waitfor.Cond(h.t, wait, "the daemon to answer ListAgents", func() bool {
		_, err := c.ListAgents(context.Background(), &wslfwdv1.ListAgentsRequest{})
		return err == nil || h.daemonDied()
	})
	return c
}

// daemonDied fails the test when the daemon has exited, with its log.
func (h *host) daemonDied() bool {
	if exited, err := h.daemon.Exited(); exited {
		h.t.Fatalf("the daemon exited (%v):\n%s", err, h.daemon.Tail(40))
	}
	return false
}

// control is a ControlService client that dials from inside winhost.
func (h *host) control(tok string) wslfwdv1.ControlServiceClient {
	winhost := h.lab.WinHost
	conn, err := grpc.NewClient("passthrough:///"+daemonAddr.String(),
		grpc.WithTransportCredentials(tokentls.ClientOf(tok)),
		grpc.WithPerRPCCredentials(tokentls.Bearer{}),
		grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
			return winhost.Dial(ctx, "tcp", addr)
		}))
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { conn.Close() })
	return wslfwdv1.NewControlServiceClient(conn)
}

// stopDaemon stops the daemon as a service stop would: SIGINT, which
// Wine delivers as Ctrl-C (SIGTERM would end it without its handlers).
func (h *host) stopDaemon() {
	h.t.Helper()
	if err := h.daemon.Signal(syscall.SIGINT); err != nil {
		h.t.Fatal(err)
	}
	select {
	case <-h.daemon.Done():
	case <-time.After(wait):
		h.daemon.Kill()
		h.t.Fatalf("the daemon did not stop on Ctrl-C within %v:\n%s", wait, h.daemon.Tail(20))
	}
}

// waitAgent waits until the daemon lists the agent as connected.
func (h *host) waitAgent(c wslfwdv1.ControlServiceClient, what string) {
	h.t.Helper()
	deadline := time.Now().Add(wait)
	for !agentConnected(c) {
		h.daemonDied()
		if time.Now().After(deadline) {
			h.t.Fatalf("timed out after %v waiting for %s\nagent log:\n%s\ndaemon log:\n%s", wait, what, h.agentProc.Tail(20), h.daemon.Tail(30))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// startAgent runs the real agent in wsl, in NAT mode, pointed at the
// daemon's vEthernet address, with the agent token copied into a private
// file, as a user copies it into the distro (Wine makes files readable by
// all, which the agent refuses).
func (h *host) startAgent() {
	h.t.Helper()
	tokFile := h.privateToken("agent.token")
	p, err := h.lab.Start("agent", h.lab.WSL.Command(context.Background(), h.agent, "run",
		"--token-file", tokFile, "--networking-mode", "nat",
		"--distro", distro, "--host", daemonAddr.String(), "--log-level", "info"))
	if err != nil {
		h.t.Fatal(err)
	}
	h.agentProc = p
}

// privateToken copies the token file name of the daemon's state dir into
// a file only its owner reads, as a user does (Wine makes files readable
// by all, which the agent and the CLI refuse), and returns its path.
func (h *host) privateToken(name string) string {
	h.t.Helper()
	tok, err := token.Load(h.hostPath(stateDir + `\` + name))
	if err != nil {
		h.t.Fatal(err)
	}
	file := filepath.Join(h.dir, name)
	if err := os.WriteFile(file, []byte(tok+"\n"), 0o600); err != nil {
		h.t.Fatal(err)
	}
	return file
}

// agentConnected reports whether the daemon lists the agent as connected.
func agentConnected(c wslfwdv1.ControlServiceClient) bool {
	resp, err := c.ListAgents(context.Background(), &wslfwdv1.ListAgentsRequest{})
	if err != nil {
		return false
	}
	return slices.ContainsFunc(resp.GetAgents(), func(a *wslfwdv1.Agent) bool {
		return a.GetDistro() == distro && a.GetConnected()
	})
}

// view is what the host holds, read through the stand-ins as a user
// would: the v4tov4 portproxy table (listen → connect, as netsh shows it)
// and the Windows firewall's rule names, one per rule, with those shown
// disabled.
type view struct {
	entries map[string]string
	rules   []string
	off     []string // the rules shown disabled
}

// enabled reports whether one rule of the name is shown, and enabled.
func (v view) enabled(rule string) bool { return v.count(rule) == 1 && !slices.Contains(v.off, rule) }

func (v view) count(rule string) int {
	n := 0
	for _, r := range v.rules {
		if r == rule {
			n++
		}
	}
	return n
}

// look reads the host's state with one netsh process: `show v4tov4`,
// parsed by the daemon's own parser, and `show rule name=all`. There is
// always a rule (the user's), so the second line succeeds and its "Ok."
// ends the output. A reading without it is no reading: the netsh that
// made it was ended before its last line, without a word and with exit
// status 0, as Wine does now and then when the test stops the daemon with
// a Ctrl-C (seen in about one run in three, right before a restart).
func (h *host) look() (view, error) {
	script := filepath.Join(h.dir, "look.txt")
	if err := os.WriteFile(script, []byte("interface portproxy show v4tov4\r\nadvfirewall firewall show rule name=all\r\n"), 0o600); err != nil {
		return view{}, err
	}
	out, ok := h.wine(`C:\windows\system32\netsh.exe`, "-f", winPath(script))
	if !ok {
		return view{}, fmt.Errorf("netsh failed: %s", out)
	}
	if !strings.HasSuffix(strings.TrimSpace(out), "Ok.") {
		return view{}, fmt.Errorf("netsh ended before the last line of its script: %q", out)
	}
	v := view{entries: map[string]string{}}
	for _, r := range portproxy.ParseShow(out).Rows {
		v.entries[r.ListenAddress+"/"+r.ListenPort] = r.ConnectAddress + "/" + r.ConnectPort
	}
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimRight(line, "\r")
		if name, found := strings.CutPrefix(line, "Rule Name:"); found {
			v.rules = append(v.rules, strings.TrimSpace(name))
		}
		if on, found := strings.CutPrefix(line, "Enabled:"); found && strings.TrimSpace(on) != "Yes" && len(v.rules) > 0 {
			v.off = append(v.off, v.rules[len(v.rules)-1])
		}
	}
	return v, nil
}
