package wine

import (
	"context"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wslfwd/wslfwd/lab/netlab"
)

const (
	wine       = "/usr/lib/wine/wine64"
	wineserver = "/usr/lib/wine/wineserver"
	daemonPort = 17810
	// stateDir is the daemon's --state-dir, inside the prefix's C: drive.
	stateDir = `C:\wslfwd-e2e`
	distro   = "e2e"
)

// daemonAddr is where the daemon listens for agents: the host's
// vEthernet address in the lab, the distro's default gateway.
var daemonAddr = netip.AddrPortFrom(netlab.HostWSLAddr.Addr(), daemonPort)

// host is one Wine prefix with the stand-ins, driven from the lab's
// winhost namespace.
type host struct {
	t      *testing.T
	lab    *netlab.Lab
	prefix string
	exe    string // wslfwd-hostd.exe
	agent  string // the Linux wslfwd-agent
	cli    string // the Linux wslfwd, run in winhost
	dir    string
	// config is the daemon's config file: firewall = true unless a test
	// says otherwise.
	config string
	daemon *netlab.Proc
	// agentProc is the agent, once started.
	agentProc *netlab.Proc
}

// need skips (or, under WSLFWD_WINE_E2E=required, fails) when the test
// cannot run here, saying why.
func need(t *testing.T) string {
	t.Helper()
	stop := t.Skipf
	if os.Getenv("WSLFWD_WINE_E2E") == "required" {
		stop = t.Fatalf
	}
	prefix := os.Getenv("WSLFWD_WINE_PREFIX")
	switch {
	case os.Geteuid() != 0:
		stop("the Wine end-to-end test needs root for the lab's namespaces")
	case prefix == "":
		stop("set WSLFWD_WINE_PREFIX to a prefix prepared by .ci/wine/setup.sh and .ci/wine/standins.sh (or run .ci/wine/e2e.sh)")
	}
	if _, err := os.Stat(wine); err != nil {
		stop("Wine is not installed (%v): run .ci/wine/setup.sh", err)
	}
	return prefix
}

// build compiles the daemon for windows/amd64, and the agent and the CLI
// for Linux.
func build(t *testing.T, dir string) (exe, agent, cli string) {
	t.Helper()
	exe, agent, cli = filepath.Join(dir, "wslfwd-hostd.exe"), filepath.Join(dir, "wslfwd-agent"), filepath.Join(dir, "wslfwd")
	for _, b := range []struct{ goos, out, pkg string }{
		{"windows", exe, "github.com/wslfwd/wslfwd/hostd-windows"},
		{"linux", agent, "github.com/wslfwd/wslfwd/agent-linux"},
		{"linux", cli, "github.com/wslfwd/wslfwd/cli"},
	} {
		cmd := exec.Command("go", "build", "-o", b.out, b.pkg)
		cmd.Env = append(os.Environ(), "GOOS="+b.goos, "GOARCH=amd64")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", b.pkg, err, out)
		}
	}
	return exe, agent, cli
}

// newHost builds the programs and the lab, starts a wineserver inside
// winhost (Wine's sockets are made by the wineserver, so its namespace is
// where the daemon listens) and clears what earlier runs left in the
// prefix. Everything is torn down at the test's end.
func newHost(t *testing.T) *host {
	prefix := need(t)
	dir := t.TempDir()
	exe, agent, cli := build(t, dir)
	// A wineserver of this prefix outside the lab would serve the daemon
	// in the wrong namespace.
	killWineserver(prefix)
	lab, err := netlab.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	h := &host{t: t, lab: lab, prefix: prefix, exe: exe, agent: agent, cli: cli, dir: dir, config: "firewall = true\n"}
	t.Cleanup(func() {
		killWineserver(prefix)
		if err := lab.Close(); err != nil {
			t.Errorf("close lab: %v", err)
		}
	})
	if _, err := lab.Start("wineserver", h.cmd(context.Background(), wineserver, "-f", "-p")); err != nil {
		t.Fatal(err)
	}
	h.wine("reg", "delete", `HKLM\SYSTEM\CurrentControlSet\Services\PortProxy`, "/f")
	h.wine("reg", "delete", `HKLM\SOFTWARE\wslfwd-standin`, "/f")
	if err := os.RemoveAll(h.hostPath(stateDir)); err != nil {
		t.Fatal(err)
	}
	return h
}

func killWineserver(prefix string) {
	cmd := exec.Command(wineserver, "-k")
	cmd.Env = append(os.Environ(), "WINEPREFIX="+prefix)
	cmd.Run() // none running is fine
	cmd = exec.Command(wineserver, "-w")
	cmd.Env = append(os.Environ(), "WINEPREFIX="+prefix)
	cmd.Run()
}

// cmd is a command in winhost with the prefix's environment.
func (h *host) cmd(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := h.lab.WinHost.Command(ctx, name, args...)
	cmd.Env = append(os.Environ(), "WINEPREFIX="+h.prefix, "WINEDEBUG=-all")
	return cmd
}

// wine runs a Windows program to its end and returns its output and
// whether it exited 0. The output goes through a file, not a pipe: the
// first program of a wineserver starts Wine's own services, which inherit
// its output and hold a pipe open for good.
func (h *host) wine(args ...string) (string, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	f, err := os.CreateTemp(h.dir, "wine-out-*")
	if err != nil {
		h.t.Fatal(err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	cmd := h.cmd(ctx, wine, args...)
	cmd.Stdout, cmd.Stderr = f, f
	err = cmd.Run()
	out, rerr := os.ReadFile(f.Name())
	if rerr != nil {
		h.t.Fatal(rerr)
	}
	return string(out), err == nil
}

// hostPath is where a path on the prefix's C: drive is on Linux.
func (h *host) hostPath(winPath string) string {
	rest := strings.TrimPrefix(winPath, `C:\`)
	return filepath.Join(h.prefix, "drive_c", filepath.FromSlash(strings.ReplaceAll(rest, `\`, "/")))
}

// winPath is how Wine names a Linux path: through drive Z:.
func winPath(linux string) string { return `Z:` + strings.ReplaceAll(linux, "/", `\`) }
