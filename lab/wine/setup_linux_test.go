package wine

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/internal/token"
	"github.com/wslfwd/wslfwd/internal/waitfor"
	"github.com/wslfwd/wslfwd/lab/winstandin/wslexe"
)

// Where setup's test puts things in the prefix.
const (
	releaseDir = `C:\wslfwd-release`
	installDir = `C:\Program Files\wslfwd`
	setupState = `C:\ProgramData\wslfwd`
	wslExe     = `C:\windows\system32\wsl.exe`
	serviceKey = `HKLM\SYSTEM\CurrentControlSet\Services\wslfwd-hostd`
)

// TestSetupUnderWine is issue 15's Done-when: `wslfwd setup` from nothing
// installs the service and puts a connected agent into each of two WSL 2
// distros (a WSL 1 one is left alone); run again it changes nothing, read
// back from the files, the service's registration and the processes; and
// `setup --uninstall --purge` leaves nothing of ours: no file in either
// distro's scratch layers or in the install and state folders, no agent
// running, no service, and no portproxy entry or wslfwd firewall rule.
//
// Not covered under Wine, and why: the UAC re-launch (ShellExecuteEx with
// runas and the named pipe back). Wine runs every process with an
// elevated token, so setup takes its in-process path, as it does when
// started from an elevated prompt; the elevated path's logic is tested
// with fakes in cli (TestSetupElevatesAndWorkerChecksDistros).
func TestSetupUnderWine(t *testing.T) {
	h := newHost(t)
	h.addUserState()
	t.Log("not exercised under Wine: the UAC re-launch (Wine's processes are all elevated, so setup runs its elevated steps in-process)")
	h.release()
	ds := []*labDistro{h.startDistro("Ubuntu", false), h.startDistro("Debian", false), h.startDistro("Legacy", true)}
	t.Setenv(wslexe.AddrEnv, h.serveWSL(ds))
	t.Cleanup(func() {
		if t.Failed() {
			for _, d := range ds {
				b, _ := os.ReadFile(filepath.Join(d.uppers["/var/log"], "wslfwd-agent.log"))
				t.Logf("%s's agent log:\n%s", d.name, b)
			}
			b, _ := os.ReadFile(h.hostPath(setupState + `\wslfwd-hostd.log`))
			t.Logf("the service's log:\n%s", b)
		}
	})
	h.listen(servicePort)

	h.setup("setup", "--", "--listen", daemonAddr.String(), "--listen", "127.0.0.1:17810", "--backend", "portproxy")
	c := h.control(h.loadToken(setupState + `\token`))
	waitfor.Cond(t, wait, "both agents listed as connected", func() bool {
		return connected(c, "Ubuntu") && connected(c, "Debian")
	})
	for _, d := range ds[:2] {
		h.checkInstalled(d)
	}
	if f := ds[2].files(t); len(f) > 0 {
		t.Errorf("setup wrote into the WSL 1 distro: %v", f)
	}
	h.waitView("the forward of the distros' service", func(v view) bool { return v.entries[forwardKey] == forwardTarget })

	before := h.snapshot(ds)
	if before["service process"] == "[]" {
		t.Fatal("no process runs the service's program: the snapshot could not tell a restart")
	}
	h.setup("setup")
	if after := h.snapshot(ds); !maps.Equal(before, after) {
		t.Errorf("a second setup changed things:\n%s", diff(before, after))
	}

	h.setup("setup", "--uninstall", "--purge")
	h.checkNothingLeft(ds)
}

// release builds wslfwd.exe and the wsl.exe stand-in, and lays out a
// release folder on drive C (so distros see it under /mnt/c) as the
// Windows zip does, and the stand-in as wsl.exe.
func (h *host) release() {
	h.t.Helper()
	cli, standin := filepath.Join(h.dir, "wslfwd.exe"), filepath.Join(h.dir, "wsl.exe")
	// wslfwd.exe is built with gowine.sh's overlay of Go's standard
	// library: its os.RemoveAll (setup --purge) uses a call Wine 8 does
	// not implement. The release is built without it, for Windows.
	overlay, err := exec.Command("../../.ci/wine/gowine.sh", filepath.Join(h.dir, "overlay")).Output()
	if err != nil {
		h.t.Fatalf("gowine.sh: %v", err)
	}
	for out, args := range map[string][]string{
		cli:     {"-overlay", strings.TrimSpace(string(overlay)), "github.com/wslfwd/wslfwd/cli"},
		standin: {"github.com/wslfwd/wslfwd/lab/winstandin/cmd/wsl"},
	} {
		cmd := exec.Command("go", append([]string{"build", "-o", out}, args...)...)
		cmd.Env = append(os.Environ(), "GOOS=windows", "GOARCH=amd64")
		if b, err := cmd.CombinedOutput(); err != nil {
			h.t.Fatalf("go build %s: %v\n%s", args, err, b)
		}
	}
	for src, dst := range map[string]string{
		cli: releaseDir + `\wslfwd.exe`, h.exe: releaseDir + `\wslfwd-hostd.exe`,
		h.agent: releaseDir + `\linux-amd64\wslfwd-agent`, standin: wslExe,
	} {
		copyFile(h.t, src, h.hostPath(dst))
	}
	for _, dir := range []string{installDir, setupState} {
		if err := os.RemoveAll(h.hostPath(dir)); err != nil {
			h.t.Fatal(err)
		}
	}
	h.t.Cleanup(func() {
		// A registered service would start with the prefix's next use.
		h.wine("sc", "delete", "wslfwd-hostd")
		for _, p := range []string{releaseDir, installDir, setupState, wslExe} {
			os.RemoveAll(h.hostPath(p))
		}
	})
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err == nil {
		err = os.MkdirAll(filepath.Dir(dst), 0o755)
	}
	if err == nil {
		err = os.WriteFile(dst, b, 0o755)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// setup runs wslfwd.exe from the release folder and fails the test
// unless it exits 0.
func (h *host) setup(args ...string) {
	h.t.Helper()
	out, ok := h.wine(append([]string{releaseDir + `\wslfwd.exe`}, args...)...)
	h.t.Logf("wslfwd %s:\n%s", strings.Join(args, " "), out)
	if !ok {
		h.t.Fatalf("wslfwd %s failed", strings.Join(args, " "))
	}
}

func (h *host) loadToken(winPath string) string {
	h.t.Helper()
	tok, err := token.Load(h.hostPath(winPath))
	if err != nil {
		h.t.Fatal(err)
	}
	return tok
}

func connected(c wslfwdv1.ControlServiceClient, distro string) bool {
	resp, err := c.ListAgents(context.Background(), &wslfwdv1.ListAgentsRequest{})
	return err == nil && slices.ContainsFunc(resp.GetAgents(), func(a *wslfwdv1.Agent) bool {
		return a.GetDistro() == distro && a.GetConnected()
	})
}

// checkInstalled checks a distro as install leaves it: the program, the
// agents' token readable by root only, and one agent running.
func (h *host) checkInstalled(d *labDistro) {
	h.t.Helper()
	files := d.files(h.t)
	if !strings.HasPrefix(files["/usr/local/bin/wslfwd-agent"], "-rwx") {
		h.t.Errorf("%s: /usr/local/bin/wslfwd-agent is %q", d.name, files["/usr/local/bin/wslfwd-agent"])
	}
	if !strings.HasPrefix(files["/etc/wslfwd/token"], "-rw-------") {
		h.t.Errorf("%s: /etc/wslfwd/token is %q, want mode 0600", d.name, files["/etc/wslfwd/token"])
	}
	tok, err := token.Load(filepath.Join(d.uppers["/etc"], "wslfwd", "token"))
	if want := h.loadToken(setupState + `\agent.token`); err != nil || tok != want {
		h.t.Errorf("%s: token %q (%v), want the daemon's agent token", d.name, tok, err)
	}
	if pids := d.agentPids(h.t); len(pids) != 1 {
		h.t.Errorf("%s: %d agents running (%v), want 1", d.name, len(pids), pids)
	}
}

// snapshot is what setup may change, read back: each distro's files and
// agent processes, the install folder's files, the service's
// registration and the service's process.
func (h *host) snapshot(ds []*labDistro) map[string]string {
	h.t.Helper()
	s := map[string]string{}
	for _, d := range ds {
		for p, desc := range d.files(h.t) {
			s[d.name+":"+p] = desc
		}
		s[d.name+": agents"] = fmt.Sprint(d.agentPids(h.t))
	}
	root := h.hostPath(installDir)
	filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err == nil && !e.IsDir() {
			fi, _ := e.Info()
			b, _ := os.ReadFile(p)
			s[installDir+strings.TrimPrefix(p, root)] = fmt.Sprintf("%d %s %x", fi.Size(), fi.ModTime(), sum(b))
		}
		return err
	})
	s["service"], _ = h.wine("reg", "query", serviceKey)
	s["service process"] = fmt.Sprint(servicePids())
	return s
}

// servicePids are the processes Wine runs the service's program in. Wine
// starts a process (netsh or PowerShell, for a firewall sync or its check
// each minute) by forking twice and then running its loader, so until it
// does, the new process shows the service's command line; a fork has one
// thread, and the service, a Go program under Wine, many. So a process of
// one thread is not counted.
func servicePids() []string {
	var pids []string
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		argv, _ := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if strings.Contains(string(argv), `wslfwd\wslfwd-hostd.exe`) && threads(e.Name()) > 1 {
			pids = append(pids, e.Name())
		}
	}
	return pids
}

// threads is how many threads process pid has, from /proc/<pid>/status;
// 0 when it cannot be read.
func threads(pid string) int {
	status, _ := os.ReadFile("/proc/" + pid + "/status")
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "Threads:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(v))
			return n
		}
	}
	return 0
}

func sum(b []byte) []byte { s := sha256.Sum256(b); return s[:] }

func diff(a, b map[string]string) string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(a)) {
		if a[k] != b[k] {
			out = append(out, fmt.Sprintf("%s: %q -> %q", k, a[k], b[k]))
		}
	}
	for _, k := range slices.Sorted(maps.Keys(b)) {
		if _, ok := a[k]; !ok {
			out = append(out, fmt.Sprintf("%s: new %q", k, b[k]))
		}
	}
	return strings.Join(out, "\n")
}

// checkNothingLeft checks that uninstall left nothing of ours.
func (h *host) checkNothingLeft(ds []*labDistro) {
	h.t.Helper()
	for _, d := range ds {
		if f := d.files(h.t); len(f) > 0 {
			h.t.Errorf("%s still holds: %v", d.name, f)
		}
		if pids := d.agentPids(h.t); len(pids) > 0 {
			h.t.Errorf("%s: agents still run: %v", d.name, pids)
		}
	}
	for _, dir := range []string{installDir, setupState} {
		if _, err := os.Stat(h.hostPath(dir)); !os.IsNotExist(err) {
			left, _ := filepath.Glob(h.hostPath(dir) + "/*")
			h.t.Errorf("%s is still there (%v): %q", dir, err, left)
		}
	}
	if out, ok := h.wine("reg", "query", serviceKey); ok {
		h.t.Errorf("the service is still registered:\n%s", out)
	}
	v, err := h.look()
	if err != nil {
		h.t.Fatal(err)
	}
	if !maps.Equal(v.entries, userValues) {
		h.t.Errorf("portproxy entries %v, want only the user's %v", v.entries, userValues)
	}
	h.checkUserState()
	for _, r := range v.rules {
		if strings.HasPrefix(r, "wslfwd ") {
			h.t.Errorf("firewall rule left: %q", r)
		}
	}
}
