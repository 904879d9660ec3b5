package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/internal/version"
	"github.com/wslfwd/wslfwd/internal/wsl"
)

// fakeDistro is one distro of fakeWindows.
type fakeDistro struct {
	kernel string // what uname -r -m prints
	// agent is whether /usr/local/bin/wslfwd-agent is there, and token
	// the token it was given.
	agent bool
	token string
	// connects is whether its agent connects once installed.
	connects bool
	// installFails makes wslfwd-agent install fail.
	installFails bool
	// checkFails makes the look for the agent fail to run.
	checkFails bool
}

// fakeWindows stands in for wsl.exe, the service manager, the programs
// setup runs and the daemon; it records every command it ran.
type fakeWindows struct {
	t       *testing.T
	distros map[string]*fakeDistro
	order   []string
	svc     installedState
	ran     []string // wsl.exe and program command lines, in order
	removed []string
}

const fakeToken = "agent-token-0123456789abcdef0123456789abcdef"

func newFakeWindows(t *testing.T) *fakeWindows {
	return &fakeWindows{t: t, distros: map[string]*fakeDistro{}}
}

func (w *fakeWindows) add(name, kernel string, connects bool) *fakeDistro {
	d := &fakeDistro{kernel: kernel, connects: connects}
	w.distros[name] = d
	w.order = append(w.order, name)
	return d
}

// wsl answers the argv shapes setup uses, and fails the test on any other.
func (w *fakeWindows) wsl(_ context.Context, stdin []byte, args ...string) (wsl.Result, error) {
	w.ran = append(w.ran, "wsl.exe "+strings.Join(args, " "))
	if slices.Equal(args, wsl.ListArgs) {
		return wsl.Result{Stdout: []byte(strings.Join(w.order, "\r\n") + "\r\n")}, nil
	}
	if len(args) < 4 || args[0] != "-d" {
		w.t.Fatalf("wsl.exe %q: not a shape setup should send", args)
	}
	d, ok := w.distros[args[1]]
	if !ok {
		return wsl.Result{Code: 1, Stderr: []byte("There is no distribution with the supplied name.")}, nil
	}
	user, rest := "", args[2:]
	if rest[0] == "-u" {
		user, rest = rest[1], rest[2:]
	}
	if rest[0] != "--exec" {
		w.t.Fatalf("wsl.exe %q: setup runs commands with --exec only", args)
	}
	return w.exec(d, user, stdin, rest[1:]), nil
}

// exec runs one command inside a fake distro.
func (w *fakeWindows) exec(d *fakeDistro, user string, stdin []byte, argv []string) wsl.Result {
	switch {
	case slices.Equal(argv, []string{"uname", "-r", "-m"}):
		return wsl.Result{Stdout: []byte(d.kernel + "\n")}
	case len(argv) == 4 && argv[0] == "wslpath" && argv[1] == "-a" && argv[2] == "-u":
		return wsl.Result{Stdout: []byte("/mnt/c" + filepath.ToSlash(argv[3]) + "\n")}
	case slices.Equal(argv, lookForAgent):
		if d.checkFails {
			// What a distro whose shell cannot start gives: an exit status
			// that proves nothing, and nothing said.
			return wsl.Result{Code: 1, Stderr: []byte("execvpe(sh) failed: No such file or directory")}
		}
		return wsl.Result{Stdout: []byte(map[bool]string{true: "present\n", false: "absent\n"}[d.agent])}
	case len(argv) == 3 && argv[1] == "install" && argv[2] == "--token-stdin" && user == "root":
		if d.installFails {
			return wsl.Result{Code: 1, Stderr: []byte("wslfwd-agent: install: disk full")}
		}
		d.agent, d.token = true, strings.TrimSpace(string(stdin))
		return wsl.Result{Stdout: []byte("agent installed\n")}
	case slices.Equal(argv, []string{agentPath, "uninstall"}) && user == "root":
		d.agent, d.token = false, ""
		return wsl.Result{Stdout: []byte("agent removed\n")}
	}
	w.t.Fatalf("command %q as %q: not one setup should run", argv, user)
	return wsl.Result{}
}

// run stands in for wslfwd-hostd.exe.
func (w *fakeWindows) run(_ context.Context, _ []byte, exe string, args ...string) ([]byte, error) {
	w.ran = append(w.ran, filepath.Base(exe)+" "+strings.Join(args, " "))
	switch args[0] {
	case "install":
		w.svc = installedState{installed: true, running: w.svc.running, exe: w.svc.exe, args: args[2:]}
		return []byte("Installed service wslfwd-hostd\n"), nil
	case "start":
		w.svc.running = true
	case "stop":
		w.svc.running = false
	case "uninstall":
		w.svc = installedState{}
	case "token":
		return []byte(fakeToken + "\r\n"), nil
	}
	return nil, nil
}

func (w *fakeWindows) listAgents(context.Context) (*wslfwdv1.ListAgentsResponse, error) {
	resp := &wslfwdv1.ListAgentsResponse{}
	for _, name := range w.order {
		if d := w.distros[name]; d.agent && d.connects && d.token == fakeToken && w.svc.running {
			resp.Agents = append(resp.Agents, &wslfwdv1.Agent{Distro: name, Connected: true,
				AgentVersion: version.Version, NetworkingMode: wslfwdv1.NetworkingMode_NETWORKING_MODE_NAT})
		}
	}
	return resp, nil
}

// env is a setupEnv over the fake, with a release folder holding the
// programs and agents, and an install folder, both temporary.
func (w *fakeWindows) env(out *bytes.Buffer) *setupEnv {
	root := w.t.TempDir()
	rel, inst := filepath.Join(root, "release"), filepath.Join(root, "Program Files", "wslfwd")
	for _, f := range []string{hostdExe, cliExe, "linux-amd64/wslfwd-agent", "linux-arm64/wslfwd-agent"} {
		writeFile(w.t, filepath.Join(rel, f), "release "+f)
	}
	if w.svc.exe == "" {
		w.svc.exe = filepath.Join(inst, hostdExe)
	}
	return &setupEnv{
		out: out, wsl: w.wsl, exeDir: rel, installDir: inst, stateDir: filepath.Join(root, "ProgramData", "wslfwd"),
		elevated:   true,
		elevate:    func(context.Context, []string) (int, error) { w.t.Fatal("elevated twice"); return 0, nil },
		service:    func() (installedState, error) { return w.svc, nil },
		run:        w.run,
		remove:     func(p string) error { w.removed = append(w.removed, p); return os.Remove(p) },
		removeAll:  func(p string) error { w.removed = append(w.removed, p+"/"); return os.RemoveAll(p) },
		listAgents: w.listAgents,
		wait:       time.Second, poll: time.Millisecond,
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

const (
	wsl2Kernel  = "5.15.167.4-microsoft-standard-WSL2 x86_64"
	wsl2Kernel8 = "6.6.36.3-microsoft-standard-WSL2 aarch64"
	wsl1Kernel  = "4.4.0-19041-Microsoft x86_64"
)

// From nothing: the service is installed from the release folder and
// started, the token read once, and each WSL 2 distro gets the agent of
// its architecture with the token on stdin; WSL 1 and Docker Desktop's
// are left alone, and the table says both agents are connected.
func TestSetupFromNothing(t *testing.T) {
	w := newFakeWindows(t)
	w.add("Ubuntu", wsl2Kernel, true)
	w.add("Fedora", wsl2Kernel8, true)
	old := w.add("Legacy", wsl1Kernel, true)
	docker := w.add("docker-desktop", wsl2Kernel, true)
	var out bytes.Buffer
	e := w.env(&out)
	if err := e.setup(context.Background(), setupOptions{daemonArgs: []string{"--backend", "portproxy"}}); err != nil {
		t.Fatalf("setup: %v\n%s", err, out.String())
	}
	if !w.svc.installed || !w.svc.running || !slices.Equal(w.svc.args, []string{"--backend", "portproxy"}) {
		t.Errorf("service %+v, want installed, running, with the daemon flags", w.svc)
	}
	for _, name := range []string{"Ubuntu", "Fedora"} {
		if d := w.distros[name]; !d.agent || d.token != fakeToken {
			t.Errorf("%s: agent %v, token %q", name, d.agent, d.token)
		}
	}
	if old.agent || docker.agent {
		t.Errorf("an agent went into WSL 1 (%v) or docker-desktop (%v)", old.agent, docker.agent)
	}
	wantRan := []string{
		"wsl.exe -d Fedora --exec wslpath -a -u " + filepath.Join(e.exeDir, "linux-arm64", agentName),
		"wsl.exe -d Ubuntu -u root --exec /mnt/c" + filepath.ToSlash(e.exeDir) + "/linux-amd64/wslfwd-agent install --token-stdin",
		hostdExe + " install -- --backend portproxy",
		hostdExe + " start",
		hostdExe + " token --agent -- --backend portproxy",
	}
	for _, c := range wantRan {
		if !slices.Contains(w.ran, c) {
			t.Errorf("did not run %q; ran:\n%s", c, strings.Join(w.ran, "\n"))
		}
	}
	for _, want := range []string{"Skipping Legacy: it runs WSL 1", "DISTRO  AGENT", "Ubuntu  " + version.Version + "  nat   connected"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

// Run again on a machine that is right, setup installs and starts
// nothing on Windows; it only reads the token and lets the idempotent
// agent install check each distro. A stopped service is only started.
func TestSetupAgainChangesNothing(t *testing.T) {
	w := newFakeWindows(t)
	w.add("Ubuntu", wsl2Kernel, true)
	var out bytes.Buffer
	e := w.env(&out)
	if err := e.setup(context.Background(), setupOptions{daemonArgs: []string{"--backend", "relay"}}); err != nil {
		t.Fatalf("first setup: %v\n%s", err, out.String())
	}
	// The install copied the programs where the service runs them.
	for _, f := range []string{hostdExe, cliExe} {
		writeFile(t, filepath.Join(e.installDir, f), "release "+f)
	}
	w.ran = nil
	// As the command line gives it: no daemon flags is an empty list.
	if err := e.setup(context.Background(), setupOptions{daemonArgs: []string{}}); err != nil {
		t.Fatalf("second setup: %v\n%s", err, out.String())
	}
	for _, c := range w.ran {
		if strings.HasPrefix(c, hostdExe) && !strings.HasPrefix(c, hostdExe+" token") {
			t.Errorf("second run ran %q", c)
		}
	}
	w.svc.running = false
	w.ran = nil
	if err := e.setup(context.Background(), setupOptions{}); err != nil {
		t.Fatalf("third setup: %v", err)
	}
	if !slices.Contains(w.ran, hostdExe+" start") || slices.Contains(w.ran, hostdExe+" install --") {
		t.Errorf("stopped service: ran %q, want a start and no install", w.ran)
	}
}

// A new release (other program content) is installed over the old one
// and the running service restarted; daemon flags stay as installed.
func TestSetupUpgradeRestarts(t *testing.T) {
	w := newFakeWindows(t)
	w.add("Ubuntu", wsl2Kernel, true)
	var out bytes.Buffer
	e := w.env(&out)
	w.svc = installedState{installed: true, running: true, exe: filepath.Join(e.installDir, hostdExe), args: []string{"--config", `C:\x.toml`}}
	writeFile(t, filepath.Join(e.installDir, hostdExe), "old release")
	writeFile(t, filepath.Join(e.installDir, cliExe), "old release")
	if err := e.setup(context.Background(), setupOptions{}); err != nil {
		t.Fatalf("setup: %v\n%s", err, out.String())
	}
	want := []string{hostdExe + ` install -- --config C:\x.toml`, hostdExe + " stop", hostdExe + " start"}
	var got []string
	for _, c := range w.ran {
		if strings.HasPrefix(c, hostdExe) && !strings.HasPrefix(c, hostdExe+" token") {
			got = append(got, c)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("ran %q, want %q", got, want)
	}
}

func TestPlanService(t *testing.T) {
	running := installedState{installed: true, running: true, args: []string{"--backend", "relay"}}
	stopped := running
	stopped.running = false
	tests := []struct {
		name string
		st   installedState
		args []string
		same bool
		want serviceStep
	}{
		{"missing", installedState{}, nil, false, serviceInstall},
		{"right", running, []string{"--backend", "relay"}, true, serviceKeep},
		{"stopped", stopped, []string{"--backend", "relay"}, true, serviceStart},
		{"new programs", running, []string{"--backend", "relay"}, false, serviceInstall},
		{"other flags", running, []string{"--backend", "portproxy"}, true, serviceInstall},
	}
	for _, tt := range tests {
		if got := planService(tt.st, tt.args, tt.same); got != tt.want {
			t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
		}
	}
}

// An agent that does not connect, or whose install fails, is a row that
// says why, and setup fails; the other distro still gets its agent.
func TestSetupSaysWhyNot(t *testing.T) {
	w := newFakeWindows(t)
	w.add("Ubuntu", wsl2Kernel, false)
	w.add("Debian", wsl2Kernel, true).installFails = true
	w.add("Kali", wsl2Kernel, true)
	var out bytes.Buffer
	err := w.env(&out).setup(context.Background(), setupOptions{})
	if !errors.As(err, new(shownError)) {
		t.Fatalf("got %v, want a failure the table already showed", err)
	}
	for _, want := range []string{
		"Ubuntu  -          -     not connected after 1s",
		"Debian  -          -     not installed: wslfwd-agent install in Debian: exit status 1: wslfwd-agent: install: disk full",
		"Kali    " + version.Version,
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

// --distro sets up that one only; a WSL 1 or unknown one is refused
// before anything changes.
func TestSetupOneDistro(t *testing.T) {
	w := newFakeWindows(t)
	w.add("Ubuntu", wsl2Kernel, true)
	w.add("Debian", wsl2Kernel, true)
	w.add("Legacy", wsl1Kernel, true)
	var out bytes.Buffer
	e := w.env(&out)
	if err := e.setup(context.Background(), setupOptions{distro: "debian"}); err != nil {
		t.Fatalf("setup --distro debian: %v\n%s", err, out.String())
	}
	if !w.distros["Debian"].agent || w.distros["Ubuntu"].agent {
		t.Errorf("Debian agent %v, Ubuntu agent %v: want only Debian's", w.distros["Debian"].agent, w.distros["Ubuntu"].agent)
	}
	for distro, want := range map[string]string{"Legacy": "runs WSL 1", "Arch": `no distro "Arch": wsl.exe lists Ubuntu, Debian, Legacy`} {
		w := newFakeWindows(t)
		w.add("Ubuntu", wsl2Kernel, true)
		w.add("Debian", wsl2Kernel, true)
		w.add("Legacy", wsl1Kernel, true)
		err := w.env(&out).setup(context.Background(), setupOptions{distro: distro})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("--distro %s: got %v, want %q", distro, err, want)
		}
		if w.svc.installed {
			t.Errorf("--distro %s: the service was installed", distro)
		}
	}
}

// Not elevated, setup asks UAC to run the worker with the user's
// distros; the worker refuses when it sees others (another account
// approved the prompt) and changes nothing.
func TestSetupElevatesAndWorkerChecksDistros(t *testing.T) {
	w := newFakeWindows(t)
	w.add("Ubuntu", wsl2Kernel, true)
	var out bytes.Buffer
	e := w.env(&out)
	e.elevated = false
	var got []string
	e.elevate = func(_ context.Context, args []string) (int, error) { got = args; return 0, nil }
	if err := e.setup(context.Background(), setupOptions{distro: "Ubuntu", daemonArgs: []string{"--backend", "relay"}}); err != nil {
		t.Fatal(err)
	}
	want := []string{workerCmd, "--user-distros=Ubuntu", "--distro=Ubuntu", "--", "--backend", "relay"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("elevated with %q, want %q", got, want)
	}
	if err := sameDistros([]string{"Ubuntu", "Debian"}, []string{"debian", "ubuntu"}); err != nil {
		t.Errorf("same distros, other order and case: %v", err)
	}
	err := sameDistros([]string{"Ubuntu"}, []string{"AdminsDistro"})
	if err == nil || !strings.Contains(err.Error(), "another Windows account") {
		t.Errorf("other distros: got %v", err)
	}
}

// --uninstall removes the agent where there is one, the service through
// wslfwd-hostd uninstall, and wslfwd's files in the install folder only;
// the state directory stays unless --purge, and a folder the user chose
// stays always.
func TestSetupUninstall(t *testing.T) {
	w := newFakeWindows(t)
	w.add("Ubuntu", wsl2Kernel, true).agent = true
	w.add("Debian", wsl2Kernel, true)
	var out bytes.Buffer
	e := w.env(&out)
	w.svc = installedState{installed: true, running: true, exe: filepath.Join(e.installDir, hostdExe)}
	for _, f := range []string{hostdExe, cliExe, hostdExe + ".old", "linux-amd64/wslfwd-agent"} {
		writeFile(t, filepath.Join(e.installDir, f), "x")
	}
	writeFile(t, filepath.Join(e.installDir, "linux-arm64", "notes.txt"), "the user's")
	writeFile(t, filepath.Join(e.stateDir, "token"), "x")
	if err := e.setup(context.Background(), setupOptions{uninstall: true}); err != nil {
		t.Fatalf("uninstall: %v\n%s", err, out.String())
	}
	if w.distros["Ubuntu"].agent || w.svc.installed {
		t.Errorf("agent %v, service %+v left", w.distros["Ubuntu"].agent, w.svc)
	}
	if slices.Contains(w.ran, "wsl.exe -d Debian -u root --exec "+agentPath+" uninstall") {
		t.Error("ran the agent's uninstall in a distro without it")
	}
	var left []string
	filepath.WalkDir(filepath.Dir(e.installDir), func(p string, _ os.DirEntry, _ error) error {
		left = append(left, filepath.ToSlash(strings.TrimPrefix(p, filepath.Dir(e.installDir))))
		return nil
	})
	if want := []string{"", "/wslfwd", "/wslfwd/linux-arm64", "/wslfwd/linux-arm64/notes.txt"}; !slices.Equal(left, want) {
		t.Errorf("left %q, want only the user's file and its folders", left)
	}
	if _, err := os.Stat(e.stateDir); err != nil {
		t.Errorf("state directory without --purge: %v", err)
	}
	if !strings.Contains(out.String(), "Left: "+e.stateDir) || !strings.Contains(out.String(), "holds files wslfwd did not put there") {
		t.Errorf("output does not say what it left:\n%s", out.String())
	}

	if err := e.setup(context.Background(), setupOptions{uninstall: true, purge: true}); err != nil {
		t.Fatalf("uninstall --purge: %v", err)
	}
	if _, err := os.Stat(e.stateDir); !os.IsNotExist(err) {
		t.Errorf("state directory after --purge: %v", err)
	}
	w.svc = installedState{installed: true, exe: filepath.Join(e.installDir, hostdExe), args: []string{"--state-dir", `D:\mine`}}
	w.removed = nil
	if err := e.setup(context.Background(), setupOptions{uninstall: true, purge: true}); err != nil {
		t.Fatal(err)
	}
	if slices.ContainsFunc(w.removed, func(p string) bool { return strings.HasSuffix(p, "/") }) {
		t.Errorf("purged a state directory the user chose: removed %q", w.removed)
	}
}

// A distro where the look for the agent fails to run is not taken for one
// without the agent: uninstall stops there, and the service stays, rather
// than leave the agent behind, reconnecting for good.
func TestSetupUninstallStopsWhenTheLookForTheAgentFails(t *testing.T) {
	w := newFakeWindows(t)
	d := w.add("Ubuntu", wsl2Kernel, true)
	d.agent, d.checkFails = true, true
	var out bytes.Buffer
	e := w.env(&out)
	w.svc = installedState{installed: true, running: true, exe: filepath.Join(e.installDir, hostdExe)}
	err := e.setup(context.Background(), setupOptions{uninstall: true})
	if err == nil || !strings.Contains(err.Error(), "look for "+agentPath) {
		t.Fatalf("uninstall = %v, want the failed look named\n%s", err, out.String())
	}
	if !d.agent || !w.svc.installed {
		t.Errorf("agent %v, service %+v after a failed look, want both left", d.agent, w.svc)
	}
	if strings.Contains(out.String(), "no agent") {
		t.Errorf("said there was no agent:\n%s", out.String())
	}
}

func TestAgentBinary(t *testing.T) {
	w := newFakeWindows(t)
	e := w.env(new(bytes.Buffer))
	if p, err := e.agentBinary("aarch64"); err != nil || p != filepath.Join(e.exeDir, "linux-arm64", agentName) {
		t.Errorf("aarch64: %q, %v", p, err)
	}
	if _, err := e.agentBinary("riscv64"); err == nil || !strings.Contains(err.Error(), "only x86_64 and aarch64") {
		t.Errorf("riscv64: %v", err)
	}
	os.RemoveAll(filepath.Join(e.exeDir, "linux-amd64"))
	writeFile(t, filepath.Join(e.installDir, "linux-amd64", agentName), "x")
	if p, err := e.agentBinary("x86_64"); err != nil || p != filepath.Join(e.installDir, "linux-amd64", agentName) {
		t.Errorf("from the install folder: %q, %v", p, err)
	}
}

// Bad command lines exit 2 and touch nothing.
func TestSetupUsage(t *testing.T) {
	for _, args := range [][]string{
		{"setup", "--purge"},
		{"setup", "--uninstall", "--", "--backend", "relay"},
		{"setup", "extra"},
		{"setup", "--distro", "two words"},
	} {
		var stdout, stderr bytes.Buffer
		a := newApp(plainLinux(), &stdout, &stderr)
		if code := run(context.Background(), args, a); code != exitUsage {
			t.Errorf("%q: exit %d, want %d (%s)", args, code, exitUsage, stderr.String())
		}
	}
}
