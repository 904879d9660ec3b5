//go:build linux

package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/wslfwd/wslfwd/agent-linux/ebpftrigger"
	"github.com/wslfwd/wslfwd/agent-linux/netinv"
	"github.com/wslfwd/wslfwd/agent-linux/scan"
	"github.com/wslfwd/wslfwd/agent-linux/session"
	"github.com/wslfwd/wslfwd/agent-linux/tracker"
	"github.com/wslfwd/wslfwd/agent-linux/trigger"
	"github.com/wslfwd/wslfwd/agent-linux/wsldetect"
	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/internal/endpoint"
	"github.com/wslfwd/wslfwd/internal/fileperm"
	"github.com/wslfwd/wslfwd/internal/version"
)

// protocolRevision is the highest agent protocol revision spoken.
const protocolRevision = 2

// agent is what run and inspect share: the kernel source, the tracker and
// the hello.
type agent struct {
	sys   *scan.System
	tr    *tracker.Tracker
	info  wsldetect.Info
	hello *wslfwdv1.AgentHello
}

// setup reads the system once and detects the environment. The returned
// error covers what cannot work at all; problems is what detection could
// not find (fatal for run, a warning for inspect).
func setup(ctx context.Context, o *options, log *slog.Logger) (a *agent, problems, err error) {
	var ov wsldetect.Overrides
	if o.mode != "" {
		if ov.Mode, err = wsldetect.ParseModeFlag(o.mode); err != nil {
			return nil, nil, fmt.Errorf("--networking-mode: %w", err)
		}
	}
	ov.Distro = o.distro
	sys, err := scan.Open()
	if err != nil {
		return nil, nil, err
	}
	tr := tracker.New(tracker.Config{Source: sys, SelfPID: os.Getpid(), Logger: log})
	if err := tr.Refresh(); err != nil {
		sys.Close()
		return nil, nil, fmt.Errorf("first scan: %w", err)
	}
	st, _ := tr.Current()
	info, problems := (&wsldetect.Detector{}).Detect(ctx, st.Network, ov)
	var id [16]byte
	rand.Read(id[:])
	return &agent{sys: sys, tr: tr, info: info, hello: &wslfwdv1.AgentHello{
		Distro:           info.Distro,
		AgentVersion:     version.Version,
		BootId:           info.BootID,
		VmId:             info.VMID,
		NetworkingMode:   info.Mode,
		KernelRelease:    info.KernelRelease,
		InstanceId:       hex.EncodeToString(id[:]),
		ProtocolRevision: protocolRevision,
	}}, problems, nil
}

func run(cmd *cobra.Command, o *options) error {
	log, err := newLogger(o.logLevel)
	if err != nil {
		return err
	}
	if os.Geteuid() != 0 {
		return errors.New("run needs root: it reads every process's /proc/<pid>/fd to name the owners of listening sockets, " +
			"and the token file; start it with sudo or as the systemd service")
	}
	if err := checkRunOptions(o); err != nil {
		return err
	}
	// One thread runs Go code: the agent is a small event loop, and on
	// a second one every hand-off between its goroutines (event, session,
	// gRPC writer and reader) wakes another OS thread, which costs more
	// CPU than the work itself. GOMAXPROCS in the environment still wins.
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(1)
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	a, problems, err := setup(ctx, o, log)
	if err != nil {
		return err
	}
	defer a.sys.Close()
	if problems != nil {
		return problems
	}
	listeners, events, fallback, err := listenerTriggers(o, log, a.tr.ScanCost)
	if err != nil {
		return err
	}
	addr, why, err := a.daemonAddr(ctx, o.host, log)
	if err != nil {
		return err
	}
	log.Info("agent started", "distro", a.info.Distro, "mode", endpoint.ModeName(a.info.Mode), "mode_from", a.info.ModeHow,
		"daemon", addr, "why", why, "version", version.Version)

	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		a.tr.Run(ctx, tracker.Triggers{
			Listeners: listeners,
			Events:    events,
			Fallback:  fallback,
			Network:   a.sys.Inventory(),
			Full:      []trigger.Trigger{trigger.Ticker{Interval: safetyScan}},
		})
	}()
	err = session.Run(ctx, session.Config{
		Addr: addr, Why: why, TokenFile: o.tokenFile, Hello: a.hello, State: a.tr, Logger: log,
	})
	stop()
	wg.Wait()
	return err
}

// safetyScan is the periodic full re-read beside the event triggers: it
// heals what they cannot see (a bound UDP socket that connects later, a
// netlink notification lost to a failed subscription).
const safetyScan = 30 * time.Second

// Scan-only pacing: scans take at most scanBudget of one core, and come
// at least every maxScanWait.
const (
	scanBudget  = 0.0015
	maxScanWait = 4 * time.Second
)

// listenerTriggers picks what updates the listeners (--trigger): the
// eBPF event source, with scans paced by their cost to fall back on if it
// fails, or those scans alone.
func listenerTriggers(o *options, log *slog.Logger, cost func() time.Duration) (
	scans []trigger.Trigger, events trigger.EventSource, fallback trigger.Trigger, err error) {
	paced := trigger.Paced{Min: o.scanInterval, Max: max(maxScanWait, o.scanInterval), Budget: scanBudget, Cost: cost}
	switch o.trigger {
	case "scan":
		return []trigger.Trigger{paced}, nil, nil, nil
	case "auto", "ebpf":
		et, err := ebpftrigger.New(ebpftrigger.Options{Logger: log})
		if err == nil {
			log.Info("eBPF trigger active", "safety_scan", safetyScan)
			return nil, et, paced, nil
		}
		if o.trigger == "ebpf" {
			return nil, nil, nil, fmt.Errorf("--trigger ebpf: %w", err)
		}
		log.Warn("eBPF trigger unavailable; scanning periodically", "interval", o.scanInterval, "cpu_budget", scanBudget, "err", err)
		return []trigger.Trigger{paced}, nil, nil, nil
	default:
		return nil, nil, nil, fmt.Errorf("--trigger %q: want auto, ebpf or scan", o.trigger)
	}
}

// daemonAddr picks the address to dial: --host, else the mode's default.
// In NAT mode at boot the default route may not exist yet: wait for it.
func (a *agent) daemonAddr(ctx context.Context, host string, log *slog.Logger) (addr, why string, err error) {
	if host != "" {
		addr, err := endpoint.ParseHost(host)
		return addr, "--host flag", err
	}
	for logged := false; ; logged = true {
		st, _ := a.tr.Current()
		addr, why, err = endpoint.ForMode(a.info.Mode, netinv.Gateway4(st.Network))
		if err == nil || a.info.Mode != wslfwdv1.NetworkingMode_NETWORKING_MODE_NAT {
			return addr, why, err
		}
		if !logged {
			log.Warn("waiting for an IPv4 default gateway", "err", err)
		}
		select {
		case <-ctx.Done():
			return "", "", err
		case <-time.After(time.Second):
		}
		if err := a.tr.Refresh(); err != nil {
			log.Debug("refresh while waiting for a gateway", "err", err)
		}
	}
}

// checkRunOptions refuses what run cannot work with, before it starts.
func checkRunOptions(o *options) error {
	if o.scanInterval <= 0 {
		return fmt.Errorf("--scan-interval %v: must be positive", o.scanInterval)
	}
	return checkTokenFile(o.tokenFile)
}

// checkTokenFile refuses a token file that group or others may read or
// write: any user of the distro could then act as its agent, or swap the
// token. The daemon checks its own files harder (fileperm.CheckPrivate);
// here root provides the file, so only the mode is judged. A file that
// does not exist yet is the session's to wait for; it says so.
func checkTokenFile(path string) error {
	err := fileperm.CheckNotShared(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("token file: %w", err)
	}
	return nil
}

func newLogger(level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l})), nil
}
