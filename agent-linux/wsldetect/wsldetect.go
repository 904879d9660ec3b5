//go:build linux

// Package wsldetect finds out what kind of WSL the agent runs in: the
// networking mode, the distro name, the VM id and the boot id.
//
// The networking mode comes from `wslinfo --networking-mode`. Older WSL
// releases have no wslinfo; there the kernel release tells WSL1 from WSL2,
// and a WSL2 whose eth0 has a private IPv4 address and a default gateway is
// taken to be in NAT mode, the only mode those releases had by default.
package wsldetect

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/internal/endpoint"
)

// Detector reads the environment. The zero value reads the real system;
// tests replace the fields.
type Detector struct {
	// WSLInfo is the wslinfo program; empty means "wslinfo" from PATH, else
	// /bin/wslinfo.
	WSLInfo string
	// Getenv reads an environment variable; nil means os.Getenv.
	Getenv func(string) string
	// BootIDPath is read for the boot id; empty means the kernel's file.
	BootIDPath string
	// KernelRelease returns the uname release; nil means uname(2).
	KernelRelease func() (string, error)
}

// maxDistro is the longest distro name the protocol allows.
const maxDistro = 64

// Info is what the agent says about its environment in its hello.
type Info struct {
	Mode wslfwdv1.NetworkingMode
	// ModeHow says how Mode was found, for logs and inspect.
	ModeHow       string
	Distro        string
	VMID          string
	BootID        string
	KernelRelease string
}

// Overrides replace detection; zero fields are detected.
type Overrides struct {
	Mode   wslfwdv1.NetworkingMode
	Distro string
}

// Detect gathers Info. net is the current network state, used only by the
// kernel-release fallback. Whatever cannot be found is reported in the
// error, which says which flag overrides it, while Info is still filled as
// far as possible (Mode UNKNOWN, Distro empty): run refuses to start with
// such an error, inspect shows it as a warning.
func (d *Detector) Detect(ctx context.Context, net *wslfwdv1.NetworkState, o Overrides) (Info, error) {
	var info Info
	var errs []error
	var err error
	if info.KernelRelease, err = d.release(); err != nil {
		errs = append(errs, err)
	}
	if o.Mode != wslfwdv1.NetworkingMode_NETWORKING_MODE_UNSPECIFIED {
		info.Mode, info.ModeHow = o.Mode, "--networking-mode flag"
	} else if info.Mode, info.ModeHow, err = d.NetworkingMode(ctx, info.KernelRelease, net); err != nil {
		info.Mode, info.ModeHow = wslfwdv1.NetworkingMode_NETWORKING_MODE_UNKNOWN, "detection failed"
		errs = append(errs, fmt.Errorf("%w (pass --networking-mode to set it)", err))
	}
	info.Distro = o.Distro
	if info.Distro == "" {
		info.Distro = d.getenv("WSL_DISTRO_NAME")
	}
	switch {
	case info.Distro == "":
		errs = append(errs, errors.New("distro name unknown: WSL_DISTRO_NAME is not set (services started by systemd or wsl.conf do not inherit it); pass --distro"))
	case len(info.Distro) > maxDistro:
		errs = append(errs, fmt.Errorf("distro name %.20q... is %d bytes, the daemon accepts at most %d", info.Distro, len(info.Distro), maxDistro))
	}
	if info.BootID, err = d.bootID(); err != nil {
		errs = append(errs, err)
	}
	info.VMID = d.VMID(ctx)
	return info, errors.Join(errs...)
}

// NetworkingMode runs `wslinfo --networking-mode`, falling back to the
// kernel release when wslinfo does not exist. how says which source
// decided.
func (d *Detector) NetworkingMode(ctx context.Context, release string, net *wslfwdv1.NetworkState) (mode wslfwdv1.NetworkingMode, how string, err error) {
	prog, ok := d.wslinfo()
	if !ok {
		mode, how = FromKernelRelease(release, net)
		return mode, how, nil
	}
	out, err := run(ctx, prog, "--networking-mode")
	if err != nil {
		return wslfwdv1.NetworkingMode_NETWORKING_MODE_UNSPECIFIED, "", err
	}
	mode, err = ParseMode(out)
	if err != nil {
		return mode, "", fmt.Errorf("%s --networking-mode: %w", prog, err)
	}
	return mode, prog + " --networking-mode", nil
}

// ParseMode reads the output of `wslinfo --networking-mode`
// (endpoint.ParseMode); anything else is an error quoting it, bounded.
func ParseMode(out string) (wslfwdv1.NetworkingMode, error) {
	if m, ok := endpoint.ParseMode(out); ok {
		return m, nil
	}
	s := strings.TrimSpace(out)
	if len(s) > 64 {
		s = s[:64] + "..."
	}
	return wslfwdv1.NetworkingMode_NETWORKING_MODE_UNSPECIFIED, fmt.Errorf("unrecognised networking mode %q", s)
}

// ParseModeFlag accepts every name the flag --networking-mode takes: wslinfo's
// outputs plus "unknown".
func ParseModeFlag(s string) (wslfwdv1.NetworkingMode, error) {
	if strings.TrimSpace(s) == "unknown" {
		return wslfwdv1.NetworkingMode_NETWORKING_MODE_UNKNOWN, nil
	}
	return ParseMode(s)
}

// FromKernelRelease guesses the mode for a WSL without wslinfo: WSL1
// kernels say "Microsoft", WSL2 kernels "microsoft-standard"; WSL2 is taken
// as NAT when eth0 has a private IPv4 address and there is an IPv4 default
// gateway, else the mode is unknown.
func FromKernelRelease(release string, net *wslfwdv1.NetworkState) (wslfwdv1.NetworkingMode, string) {
	switch {
	case strings.Contains(release, "Microsoft"):
		return wslfwdv1.NetworkingMode_NETWORKING_MODE_WSL1, "kernel release " + release + " (WSL1)"
	case strings.Contains(release, "microsoft-standard"):
		if natLooking(net) {
			return wslfwdv1.NetworkingMode_NETWORKING_MODE_NAT,
				"kernel release " + release + " (WSL2 without wslinfo) with a private eth0 address and a default gateway"
		}
		return wslfwdv1.NetworkingMode_NETWORKING_MODE_UNKNOWN,
			"kernel release " + release + " (WSL2 without wslinfo), but eth0 has no private IPv4 address or there is no default gateway"
	default:
		return wslfwdv1.NetworkingMode_NETWORKING_MODE_UNKNOWN, "no wslinfo and kernel release " + release + " is not a WSL kernel"
	}
}

func natLooking(net *wslfwdv1.NetworkState) bool {
	var private, gateway bool
	for _, i := range net.GetInterfaces() {
		if i.GetName() != "eth0" {
			continue
		}
		for _, a := range i.GetAddresses() {
			if ip, err := netip.ParseAddr(a.GetAddress()); err == nil && ip.Is4() && ip.IsPrivate() {
				private = true
			}
		}
	}
	for _, r := range net.GetRoutes() {
		if r.GetFamily() == wslfwdv1.AddressFamily_ADDRESS_FAMILY_IPV4 && r.GetGateway() != "" {
			gateway = true
		}
	}
	return private && gateway
}

// VMID returns `wslinfo --vm-id`, or "" when wslinfo is missing, too old
// to know the flag, or prints something that is not an id.
func (d *Detector) VMID(ctx context.Context) string {
	prog, ok := d.wslinfo()
	if !ok {
		return ""
	}
	out, err := run(ctx, prog, "--vm-id")
	if err != nil {
		return ""
	}
	id := strings.TrimSpace(out)
	if id == "wsl1" || isGUID(id) {
		return id
	}
	return ""
}

// isGUID reports whether s looks like 8-4-4-4-12 hex digits.
func isGUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, c := range s {
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !strings.ContainsRune("0123456789abcdefABCDEF", c) {
				return false
			}
		}
	}
	return true
}

func (d *Detector) wslinfo() (string, bool) {
	if d.WSLInfo != "" {
		_, err := os.Stat(d.WSLInfo)
		return d.WSLInfo, err == nil
	}
	if p, err := exec.LookPath("wslinfo"); err == nil {
		return p, true
	}
	if _, err := os.Stat("/bin/wslinfo"); err == nil {
		return "/bin/wslinfo", true
	}
	return "", false
}

// run runs prog with arg and returns its standard output; a failure
// carries what the program said on standard error.
func run(ctx context.Context, prog, arg string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, prog, arg)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = strings.TrimSpace(stdout.String())
		}
		if msg != "" {
			return "", fmt.Errorf("%s %s: %w: %s", prog, arg, err, msg)
		}
		return "", fmt.Errorf("%s %s: %w", prog, arg, err)
	}
	return stdout.String(), nil
}

func (d *Detector) getenv(k string) string {
	if d.Getenv != nil {
		return d.Getenv(k)
	}
	return os.Getenv(k)
}

func (d *Detector) bootID() (string, error) {
	p := d.BootIDPath
	if p == "" {
		p = "/proc/sys/kernel/random/boot_id"
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return "", fmt.Errorf("read boot id: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

func (d *Detector) release() (string, error) {
	if d.KernelRelease != nil {
		return d.KernelRelease()
	}
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return "", fmt.Errorf("uname: %w", err)
	}
	return unix.ByteSliceToString(u.Release[:]), nil
}
