package wine

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/wslfwd/wslfwd/internal/waitfor"
	"github.com/wslfwd/wslfwd/lab/netlab"
	"github.com/wslfwd/wslfwd/lab/winstandin/wslexe"
)

// labDistro is a "distro" for the wsl.exe stand-in: a process holding
// its own mount and PID namespaces inside the lab's WSL network namespace
// (all WSL 2 distros share one network namespace; each has its own PIDs
// and mounts). /etc, /usr/local and /var/log are overlays whose upper
// layers are the test's scratch dirs, so whatever install writes there is
// in uppers and nothing reaches the machine; /run is empty (no systemd),
// and /mnt/c is the Wine prefix's drive_c.
type labDistro struct {
	name string
	// wsl1 makes the distro answer uname as WSL 1 does.
	wsl1 bool
	// uppers are the overlays' upper layers, by the path they cover.
	uppers map[string]string
	holder *netlab.Proc
	// pid1 is the distro's init (as the machine numbers it).
	pid1 int
	// bin holds WSL's own programs (wslinfo), last on PATH.
	bin string
}

// wslinfo answers as WSL 2's /bin/wslinfo does in NAT mode. It lies in
// a folder of the test's on the distros' PATH, not in their scratch
// layers, so it is not counted as something setup left.
const wslinfo = `#!/bin/sh
nl='\n'
for a; do [ "$a" = -n ] && nl=''; done
for a; do
	case $a in
	--networking-mode) printf "nat$nl"; exit 0 ;;
	--version) printf "2.4.13$nl"; exit 0 ;;
	esac
done
echo "wslinfo: unsupported: $*" >&2
exit 1
`

// wslBin is the folder of WSL's own programs the stand-in emulates.
func (h *host) wslBin() string {
	dir := filepath.Join(h.dir, "wsl-bin")
	err := os.MkdirAll(dir, 0o755)
	if err == nil {
		err = os.WriteFile(filepath.Join(dir, "wslinfo"), []byte(wslinfo), 0o755)
	}
	if err != nil {
		h.t.Fatal(err)
	}
	return dir
}

// overlaid are the distro's folders whose changes land in scratch dirs.
var overlaid = []string{"/etc", "/usr/local", "/var/log"}

// startDistro starts a distro's namespace holder and waits until its
// mounts are made.
func (h *host) startDistro(name string, wsl1 bool) *labDistro {
	h.t.Helper()
	dir := filepath.Join(h.dir, "distro-"+name)
	d := &labDistro{name: name, wsl1: wsl1, uppers: map[string]string{}, bin: h.wslBin()}
	var script strings.Builder
	script.WriteString("set -e\n")
	for _, p := range overlaid {
		key := strings.ReplaceAll(strings.TrimPrefix(p, "/"), "/", "-")
		up, work := filepath.Join(dir, "upper", key), filepath.Join(dir, "work", key)
		for _, x := range []string{up, work} {
			if err := os.MkdirAll(x, 0o755); err != nil {
				h.t.Fatal(err)
			}
		}
		d.uppers[p] = up
		fmt.Fprintf(&script, "mount -t overlay overlay -o lowerdir=%s,upperdir=%s,workdir=%s %s\n", p, up, work, p)
	}
	ready := filepath.Join(dir, "ready")
	fmt.Fprintf(&script, "mount -t tmpfs none /run\nmount -t tmpfs none /mnt\nmkdir /mnt/c\nmount --bind %s /mnt/c\ntouch %s\nexec sleep infinity\n",
		filepath.Join(h.prefix, "drive_c"), ready)
	p, err := h.lab.Start("distro-"+name, h.lab.WSL.Command(context.Background(), "unshare",
		"--mount", "--pid", "--fork", "--kill-child", "--mount-proc", "--propagation", "private", "--", "/bin/sh", "-c", script.String()))
	if err != nil {
		h.t.Fatal(err)
	}
	d.holder = p
	waitfor.Cond(h.t, wait, "distro "+name+"'s namespaces", func() bool {
		if exited, err := p.Exited(); exited {
			h.t.Fatalf("distro %s's holder exited (%v):\n%s", name, err, p.Tail(20))
		}
		_, err := os.Stat(ready)
		return err == nil
	})
	pid := p.Pid()
	kids, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	if d.pid1, err = strconv.Atoi(strings.TrimSpace(string(kids))); err != nil {
		h.t.Fatalf("distro %s: init of unshare %d: %q", name, pid, kids)
	}
	return d
}

// serveWSL answers the wsl.exe stand-in for the distros (the first is
// the default) on a loopback port in winhost, where Wine's processes
// are, and returns its address.
func (h *host) serveWSL(ds []*labDistro) string {
	h.t.Helper()
	l, err := h.lab.WinHost.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { l.Close() })
	go wslexe.Serve(l, func(ctx context.Context, r wslexe.Request, stdin io.Reader, stdout, stderr io.Writer) int {
		return wslAnswer(ctx, ds, r, stdin, stdout, stderr)
	})
	return l.Addr().String()
}

// wslAnswer does what wsl.exe does for one parsed command line.
func wslAnswer(ctx context.Context, ds []*labDistro, r wslexe.Request, stdin io.Reader, stdout, stderr io.Writer) int {
	switch r.Kind {
	case wslexe.List:
		wslexe.Say(stdout, r, listing(ds, r))
		return 0
	case wslexe.Status:
		wslexe.Say(stdout, r, "Default Distribution: "+ds[0].name+"\nDefault Version: 2")
		return 0
	}
	d := ds[0]
	if r.Distro != "" {
		d = nil
		for _, x := range ds {
			if strings.EqualFold(x.name, r.Distro) {
				d = x
			}
		}
	}
	switch {
	case d == nil:
		wslexe.Say(stderr, r, "There is no distribution with the supplied name.\nError code: Wsl/Service/WSL_E_DISTRO_NOT_FOUND")
		return -1
	case r.User != "" && r.User != "root":
		wslexe.Say(stderr, r, "User not found.\nError code: Wsl/Service/CreateInstance/CreateProcess/0x80070525")
		return -1
	}
	return d.run(ctx, r, stdin, stdout, stderr)
}

// listing is `wsl -l` as wsl.exe prints it: names with -q, else the
// table (every distro runs here).
func listing(ds []*labDistro, r wslexe.Request) string {
	var b strings.Builder
	if r.Verbose {
		b.WriteString("  NAME      STATE           VERSION\n")
	} else if !r.Quiet {
		b.WriteString("Windows Subsystem for Linux Distributions:\n")
	}
	for i, d := range ds {
		switch {
		case r.Quiet:
			b.WriteString(d.name + "\n")
		case r.Verbose:
			mark, version := " ", 2
			if i == 0 {
				mark = "*"
			}
			if d.wsl1 {
				version = 1
			}
			fmt.Fprintf(&b, "%s %-9s Running         %d\n", mark, d.name, version)
		default:
			b.WriteString(d.name + map[bool]string{true: " (Default)", false: ""}[i == 0] + "\n")
		}
	}
	return b.String()
}

// run runs a command inside the distro, with what WSL emulates itself:
// wslpath, and WSL 1's uname.
func (d *labDistro) run(ctx context.Context, r wslexe.Request, stdin io.Reader, stdout, stderr io.Writer) int {
	argv := r.Argv
	if r.Shell {
		argv = []string{"/bin/sh", "-c", strings.Join(r.Argv, " ")}
	}
	switch {
	case argv[0] == "wslpath":
		return wslpath(argv[1:], stdout, stderr)
	case d.wsl1 && strings.Join(argv, " ") == "uname -r -m":
		io.WriteString(stdout, "4.4.0-19041-Microsoft x86_64\n")
		return 0
	}
	args := append([]string{"--target", strconv.Itoa(d.pid1), "--mount", "--pid", "--net", "--wd=/", "--",
		"env", "-i", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:" + d.bin, "HOME=/root",
		"WSL_DISTRO_NAME=" + d.name}, argv...)
	cmd := exec.CommandContext(ctx, "nsenter", args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, stdout, stderr
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	if err != nil {
		fmt.Fprintf(stderr, "<3>WSL (1) ERROR: CreateProcessEntryCommon:505: execvpe %s failed 2\n", argv[0])
		return 1
	}
	return 0
}

// wslpathArg is a Windows path on a drive.
var wslpathArg = regexp.MustCompile(`^([A-Za-z]):\\(.*)$`)

// wslpath translates a drive path as `wslpath [-a] -u` does (the drives
// mount under /mnt); any other use is refused.
func wslpath(args []string, stdout, stderr io.Writer) int {
	if len(args) == 3 && args[0] == "-a" && args[1] == "-u" {
		if m := wslpathArg.FindStringSubmatch(args[2]); m != nil {
			fmt.Fprintf(stdout, "/mnt/%s/%s\n", strings.ToLower(m[1]), strings.ReplaceAll(m[2], `\`, "/"))
			return 0
		}
	}
	fmt.Fprintf(stderr, "wslpath: %s: the stand-in translates only -a -u DRIVE:\\PATH\n", strings.Join(args, " "))
	return 1
}

// agentPids are the distro's processes running the installed agent.
func (d *labDistro) agentPids(t *testing.T) []int {
	t.Helper()
	want, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", d.pid1))
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		ns, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", pid))
		argv, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if ns == want && strings.HasPrefix(string(argv), "/usr/local/bin/wslfwd-agent\x00run\x00") {
			pids = append(pids, pid)
		}
	}
	return pids
}

// files lists what the distro's overlays hold, "path mode size" each
// (whiteouts, which hide a file of the machine's, are character devices).
func (d *labDistro) files(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	for cover, up := range d.uppers {
		err := filepath.WalkDir(up, func(p string, e fs.DirEntry, err error) error {
			if err != nil || p == up {
				return err
			}
			fi, err := e.Info()
			if err != nil {
				return err
			}
			rel := filepath.Join(cover, strings.TrimPrefix(p, up))
			if fi.IsDir() {
				// A folder of the machine's, copied up when something
				// was made in it, is nothing of ours by itself.
				if _, err := os.Stat(rel); err == nil {
					return nil
				}
			}
			desc := fi.Mode().String()
			if !fi.IsDir() {
				b, _ := os.ReadFile(p)
				st := fi.Sys().(*syscall.Stat_t)
				desc += fmt.Sprintf(" %d bytes mtime %d.%d %x", fi.Size(), st.Mtim.Sec, st.Mtim.Nsec, sum(b))
			}
			out[rel] = desc
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}
