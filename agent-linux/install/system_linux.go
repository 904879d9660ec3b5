package install

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// System is what install does beyond writing files. Tests replace it, so
// that they never run systemctl or start an agent on the machine running
// them.
type System interface {
	// Systemd reports whether systemd is PID 1.
	Systemd() bool
	// Systemctl runs systemctl with args; an error is a non-zero exit.
	Systemctl(args ...string) error
	// Start runs command (a /bin/sh command line) in a session of its
	// own, as WSL runs the boot command, and waits for the shell.
	Start(command string) error
	// Agents returns the pids of the running `exe run` processes.
	Agents(exe string) ([]int, error)
	// Stop ends process pid: SIGTERM, then SIGKILL if it lingers.
	Stop(pid int) error
}

// ErrOffline is what an Offline system answers to anything beyond
// reading the tree.
var ErrOffline = errors.New("not run: the tree under --root is not a running system")

// NewSystem returns the system for root: the running one for "/", an
// Offline one for any other tree.
func NewSystem(root string) System {
	if filepath.Clean(root) == "/" {
		return Host{}
	}
	return Offline{Root: root}
}

// Host is the running system.
type Host struct{}

// Systemd checks for /run/systemd/system, as sd_booted(3) does: only
// systemd as PID 1 makes it.
func (Host) Systemd() bool { return Offline{Root: "/"}.Systemd() }

func (Host) Systemctl(args ...string) error {
	out, err := exec.Command("systemctl", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("systemctl %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

func (Host) Start(command string) error {
	cmd := exec.Command("/bin/sh", "-c", command)
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("start %q: %w: %s", command, err, bytes.TrimSpace(out))
	}
	return nil
}

func (Host) Agents(exe string) ([]int, error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		if isAgent(pid, exe) {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// isAgent reports whether pid runs `exe run`, also when exe was replaced
// since it started (the kernel then shows it as deleted).
func isAgent(pid int, exe string) bool {
	dir := "/proc/" + strconv.Itoa(pid)
	got, err := os.Readlink(dir + "/exe")
	if err != nil || (got != exe && got != exe+" (deleted)") {
		return false
	}
	argv, err := os.ReadFile(dir + "/cmdline")
	if err != nil {
		return false
	}
	args := strings.Split(string(argv), "\x00")
	return len(args) > 1 && args[1] == "run" && !exited(pid)
}

func (Host) Stop(pid int) error {
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		return fmt.Errorf("stop pid %d: %w", pid, err)
	}
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if exited(pid) {
			return nil
		}
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("stop pid %d: %w", pid, err)
	}
	return nil
}

// exited reports whether pid is gone or a zombie waiting for its parent.
func exited(pid int) bool {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	// The state follows the command name, which is in parentheses.
	i := bytes.LastIndexByte(stat, ')')
	return i < 0 || i+2 >= len(stat) || stat[i+2] == 'Z' || stat[i+2] == 'X'
}

// Offline is a tree that is not running (--root): it reads whether
// systemd would run it, and does nothing else.
type Offline struct{ Root string }

func (o Offline) Systemd() bool {
	fi, err := os.Stat(filepath.Join(o.Root, "run/systemd/system"))
	return err == nil && fi.IsDir()
}

func (Offline) Systemctl(...string) error    { return ErrOffline }
func (Offline) Start(string) error           { return ErrOffline }
func (Offline) Agents(string) ([]int, error) { return nil, nil }
func (Offline) Stop(int) error               { return ErrOffline }
