// Package controlclient is the client side of the daemon's ControlService:
// it finds the wslfwd daemon from wherever the CLI runs (Windows, a WSL
// distro, plain Linux), finds a token it will accept, dials it, and turns
// gRPC failures into errors that say what was tried and what to do. The CLI
// and the daemon's selftest both dial with it.
package controlclient

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/internal/endpoint"
	"github.com/wslfwd/wslfwd/internal/token"
)

// Env is what the CLI reads from the machine it runs on. SystemEnv fills it
// from the real machine; tests fill it by hand.
type Env struct {
	// GOOS is the operating system, as runtime.GOOS names it.
	GOOS string
	// Getenv reads an environment variable.
	Getenv func(string) string
	// ReadFile reads a whole file.
	ReadFile func(string) ([]byte, error)
	// Wslinfo runs `wslinfo` with the given arguments and returns its
	// standard output; ErrNoWslinfo means wslinfo is not installed.
	Wslinfo func(args ...string) (string, error)
	// Gateway4 returns the IPv4 default gateway.
	Gateway4 func() (netip.Addr, error)
	// HomeDir returns the user's home directory.
	HomeDir func() (string, error)
	// LoadToken reads and validates a token file (token.Load).
	LoadToken func(path string) (string, error)
	// ProgramData returns Windows' ProgramData folder, from the
	// known-folder API: %ProgramData% is the user's to set, and reaches
	// the processes UAC elevates for them.
	ProgramData func() (string, error)
}

// ErrNoWslinfo is returned by Env.Wslinfo when the program is not installed
// (WSL older than 2.0, or not WSL at all).
var ErrNoWslinfo = errors.New("wslinfo not found")

// SystemEnv returns an Env reading the real machine.
func SystemEnv() Env {
	return Env{
		GOOS:        runtime.GOOS,
		Getenv:      os.Getenv,
		ReadFile:    os.ReadFile,
		Wslinfo:     runWslinfo,
		Gateway4:    defaultGateway4,
		HomeDir:     os.UserHomeDir,
		LoadToken:   token.Load,
		ProgramData: programData,
	}
}

// runWslinfo runs wslinfo with a short deadline: it talks to the WSL
// service, which can hang while WSL is shutting down.
func runWslinfo(args ...string) (string, error) {
	path, err := exec.LookPath("wslinfo")
	if err != nil {
		return "", ErrNoWslinfo
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		if msg := strings.TrimSpace(stderr.String()); msg != "" {
			return "", fmt.Errorf("wslinfo %s: %w: %s", strings.Join(args, " "), err, msg)
		}
		return "", fmt.Errorf("wslinfo %s: %w", strings.Join(args, " "), err)
	}
	return string(out), nil
}

// Kind is the sort of machine the CLI runs on.
type Kind int

const (
	// Windows: the daemon's own machine.
	Windows Kind = iota
	// WSL: a distro under WSL1 or WSL2.
	WSL
	// Linux: Linux outside WSL, where the daemon itself may run (the lab).
	Linux
	// Other: any other system; only --host works there.
	Other
)

// Place describes where the CLI runs, as far as finding the daemon goes.
type Place struct {
	Kind Kind
	// Distro is WSL_DISTRO_NAME inside WSL.
	Distro string
	// The fields below are set inside WSL by DetectNetwork.
	//
	// Mode is the networking mode; ModeSource says how it was found, for
	// messages.
	Mode       wslfwdv1.NetworkingMode
	ModeSource string
	// Gateway4 is the IPv4 default gateway in NAT mode; GatewayErr says
	// why it is missing.
	Gateway4   netip.Addr
	GatewayErr error

	osrelease string
}

// Detect works out where the CLI runs. It never fails: what it cannot find
// is recorded in the Place and reported by whoever needs it.
func Detect(env Env) Place {
	switch env.GOOS {
	case "windows":
		return Place{Kind: Windows}
	case "linux":
	default:
		return Place{Kind: Other}
	}
	osrelease, _ := env.ReadFile("/proc/sys/kernel/osrelease")
	distro := env.Getenv("WSL_DISTRO_NAME")
	if distro == "" && !strings.Contains(strings.ToLower(string(osrelease)), "microsoft") {
		return Place{Kind: Linux}
	}
	return Place{Kind: WSL, Distro: distro, osrelease: strings.TrimSpace(string(osrelease))}
}

// DetectNetwork finds, inside WSL, the networking mode and in NAT mode the
// default gateway. It runs wslinfo and reads the routing table, so it is
// done only when the daemon's address is not given. It does nothing
// outside WSL or when done before.
func (p *Place) DetectNetwork(env Env) {
	if p.Kind != WSL || p.Mode != wslfwdv1.NetworkingMode_NETWORKING_MODE_UNSPECIFIED {
		return
	}
	p.Mode, p.ModeSource = detectMode(env, p.osrelease)
	if p.Mode == wslfwdv1.NetworkingMode_NETWORKING_MODE_NAT {
		p.Gateway4, p.GatewayErr = env.Gateway4()
		if p.GatewayErr == nil && !p.Gateway4.Is4() {
			p.GatewayErr = errors.New("no IPv4 default route")
		}
	}
}

// detectMode asks wslinfo for the networking mode. Without wslinfo, a
// kernel release with a capital-M "Microsoft" is WSL1, anything else is
// taken to be NAT, WSL2's default.
func detectMode(env Env, osrelease string) (wslfwdv1.NetworkingMode, string) {
	out, err := env.Wslinfo("--networking-mode")
	if err == nil {
		m := strings.TrimSpace(out)
		return ParseMode(m), fmt.Sprintf("wslinfo --networking-mode printed %q", m)
	}
	if strings.Contains(osrelease, "Microsoft") {
		return wslfwdv1.NetworkingMode_NETWORKING_MODE_WSL1, "kernel release names WSL1 (" + osrelease + ")"
	}
	if errors.Is(err, ErrNoWslinfo) {
		return wslfwdv1.NetworkingMode_NETWORKING_MODE_NAT, "assumed nat: wslinfo not found"
	}
	return wslfwdv1.NetworkingMode_NETWORKING_MODE_NAT, "assumed nat: " + err.Error()
}

// ParseMode maps what `wslinfo --networking-mode` prints to a mode
// (endpoint.ParseMode); anything unrecognised is NETWORKING_MODE_UNKNOWN.
func ParseMode(s string) wslfwdv1.NetworkingMode {
	if m, ok := endpoint.ParseMode(s); ok {
		return m
	}
	return wslfwdv1.NetworkingMode_NETWORKING_MODE_UNKNOWN
}
