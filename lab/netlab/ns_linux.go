//go:build linux

package netlab

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"

	"github.com/vishvananda/netns"
)

// runDir is where `ip netns` keeps its named namespaces; netns.NewNamed
// uses the same place, so both tools see ours.
const runDir = "/run/netns"

// NS is one named network namespace.
type NS struct {
	// Name is the namespace's name under /run/netns, e.g. "wf-3fa2c1-wsl".
	Name string
	h    netns.NsHandle
}

// createNS makes a named namespace. netns.NewNamed moves the calling
// thread into the new namespace, so it runs on a locked thread that is moved
// back afterwards. The thread must survive: children started from a thread
// get their Pdeathsig when that thread ends, not only when the process does.
func createNS(name string) (*NS, error) {
	type result struct {
		created bool // the name exists and is ours
		err     error
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			done <- result{err: fmt.Errorf("get current namespace: %w", err)}
			return
		}
		defer orig.Close()
		h, err := netns.NewNamed(name)
		if err == nil {
			h.Close()
		}
		if rerr := netns.Set(orig); rerr != nil {
			// Stay locked: the runtime discards the thread with the
			// goroutine rather than reuse it in the wrong namespace.
			done <- result{err == nil, errors.Join(err, fmt.Errorf("leave namespace %s: %w", name, rerr))}
			return
		}
		runtime.UnlockOSThread()
		done <- result{err == nil, err}
	}()
	if r := <-done; r.err != nil {
		if r.created {
			_ = netns.DeleteNamed(name)
		}
		return nil, fmt.Errorf("create namespace %s: %w", name, r.err)
	}
	h, err := netns.GetFromName(name)
	if err != nil {
		_ = netns.DeleteNamed(name)
		return nil, fmt.Errorf("open namespace %s: %w", name, err)
	}
	return &NS{Name: name, h: h}, nil
}

// remove closes the handle and deletes the name. The kernel frees the
// namespace, and the veth ends inside it, once no process is left in it.
func (ns *NS) remove() error {
	if ns.h.IsOpen() {
		ns.h.Close()
	}
	if err := netns.DeleteNamed(ns.Name); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("delete namespace %s: %w", ns.Name, err)
	}
	return nil
}

// Do runs fn with the calling OS thread inside the namespace. Goroutines
// that fn starts run elsewhere, in the process's own namespace; sockets fn
// opens stay in this one for their whole life.
func (ns *NS) Do(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("get current namespace: %w", err)
			return
		}
		defer orig.Close()
		if err := netns.Set(ns.h); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("enter namespace %s: %w", ns.Name, err)
			return
		}
		ferr := fn()
		if err := netns.Set(orig); err != nil {
			// The thread stays locked: the runtime destroys it when this
			// goroutine returns, so no other goroutine runs in ns by accident.
			errc <- errors.Join(ferr, fmt.Errorf("leave namespace %s: %w", ns.Name, err))
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// Dial connects from inside the namespace. address must be an IP literal
// with a port: name resolution would look outside the lab.
func (ns *NS) Dial(ctx context.Context, network, address string) (net.Conn, error) {
	if _, err := netip.ParseAddrPort(address); err != nil {
		return nil, fmt.Errorf("dial from %s: address %q: %w", ns.Name, address, err)
	}
	var c net.Conn
	err := ns.Do(func() error {
		var err error
		c, err = (&net.Dialer{}).DialContext(ctx, network, address)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("dial from %s: %w", ns.Name, err)
	}
	return c, nil
}

// Listen opens a stream listener inside the namespace.
func (ns *NS) Listen(network, address string) (net.Listener, error) {
	var l net.Listener
	err := ns.Do(func() error {
		var err error
		l, err = net.Listen(network, address)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("in %s: %w", ns.Name, err)
	}
	return l, nil
}

// ListenPacket opens a packet socket (UDP) inside the namespace.
func (ns *NS) ListenPacket(network, address string) (net.PacketConn, error) {
	var pc net.PacketConn
	err := ns.Do(func() error {
		var err error
		pc, err = net.ListenPacket(network, address)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("in %s: %w", ns.Name, err)
	}
	return pc, nil
}

// HTTPClient returns a client whose connections are opened inside the
// namespace. Keep-alives are off, so every request makes a new connection
// and sees the forwards as they are now.
func (ns *NS) HTTPClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext:       ns.Dial,
		DisableKeepAlives: true,
	}}
}

// Command returns a command that runs inside the namespace. It goes
// through nsenter, which enters the network namespace only and execs the
// program in place, so the process's pid is the program's own and it sees
// the machine's mounts, as a WSL distro sees its own: `ip netns exec` would
// remount /sys and hide cgroup2, which the agent's eBPF trigger needs. The
// process gets SIGKILL if the lab process dies, so a crashed run leaves no
// daemons behind.
func (ns *NS) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	full := append([]string{"--net=" + filepath.Join(runDir, ns.Name), "--", name}, args...)
	cmd := exec.CommandContext(ctx, nsenterPath(), full...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return cmd
}

// nsenterPath finds util-linux's nsenter, also in /usr/sbin and /sbin for
// systems whose PATH lacks them.
func nsenterPath() string {
	if p, err := exec.LookPath("nsenter"); err == nil {
		return p
	}
	for _, dir := range []string{"/usr/bin", "/usr/sbin", "/bin", "/sbin"} {
		p := filepath.Join(dir, "nsenter")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return "nsenter"
}
