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
	"net/netip"
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
	"github.com/wslfwd/wslfwd/agent-linux/sockdiag"
	"github.com/wslfwd/wslfwd/agent-linux/tracker"
	"github.com/wslfwd/wslfwd/agent-linux/trigger"
	"github.com/wslfwd/wslfwd/agent-linux/wsldetect"
	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/internal/endpoint"
	"github.com/wslfwd/wslfwd/internal/fileperm"
	"github.com/wslfwd/wslfwd/internal/netproto"
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
	parts ebpftrigger.Parts // inspect: why a part of the eBPF trigger is not live
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
	if o.logFile != "" {
		if err := useLogFile(o.logFile); err != nil {
			fmt.Fprintln(os.Stderr, "wslfwd-agent:", err)
		}
	}
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
	triggers, detection, err := listenerTriggers(o, log, a.tr.ScanCost)
	if err != nil {
		return err
	}
	a.hello.Detection = detection
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
		triggers.Network = a.sys.Inventory()
		triggers.Full = []trigger.Trigger{trigger.Ticker{Interval: safetyScan}}
		triggers.Listeners = append(triggers.Listeners, a.sys.OwnerSearches())
		a.tr.Run(ctx, triggers)
	}()
	owner, err := peerOwner()
	if err != nil {
		return err
	}
	defer owner.Close()
	sess := session.New(session.Config{
		Addr: addr, Why: why, TokenFile: o.tokenFile, Hello: a.hello, State: a.tr, Logger: log,
		PeerOwner: owner.of,
	})
	served := a.serveStatus(ctx, o.statusSocket, sess, addr, why, log)
	err = sess.Run(ctx)
	stop()
	wg.Wait()
	<-served
	return err
}

// lookup asks sock_diag who owns the other end of a connection to the
// daemon (session.Config.PeerOwner), on a netlink socket of its own: a
// Scanner is not safe for concurrent use, and the tracker's is busy.
type lookup struct {
	mu sync.Mutex
	sc *sockdiag.Scanner
}

func peerOwner() (*lookup, error) {
	sc, err := sockdiag.Open()
	if err != nil {
		return nil, err
	}
	return &lookup{sc: sc}, nil
}

// of returns the owner of the other end of the connection from local to
// remote, if it is in the agent's namespace (Config.PeerOwner).
func (l *lookup) of(local, remote netip.AddrPort) (uint32, bool, error) {
	sk, found, err := l.other(local, remote)
	return sk.UID, found, err
}

// other finds the other end of the connection from local to remote.
func (l *lookup) other(local, remote netip.AddrPort) (sockdiag.Socket, bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.sc.Peer(remote, local)
}

func (l *lookup) Close() error { return l.sc.Close() }

// safetyScan is the periodic full re-read beside the other triggers. What
// it heals is rare and does little harm meanwhile, so it comes seldom:
// each one costs a full listener read (about 2.5 ms with a thousand
// listeners) and wakes the idle agent. Lost kernel events are reported
// and re-read at once (ebpftrigger's Lost), and lost netlink
// notifications make the network watch resubscribe and re-read
// (netinv.Inventory.Run); what is left is what no event announces: a bound
// UDP socket that connects later stays listed (the daemon forwards to a
// socket that no longer takes datagrams from anyone else) until this scan.
const safetyScan = 5 * time.Minute

// Scan-only pacing: the scans themselves take at most scanBudget of one
// core, and come at least every maxScanWait. Each scan also wakes the
// agent from its timer and the runtime's threads around it, which cost
// 40-80 % of the scan again on a small VM with a thousand listeners (0.88
// ms of process CPU per 0.63 ms scan, measured in the lab; with a budget
// of 0.12 % four full benches on one day put the agent at 0.165-0.216 %):
// 0.1 % for the scans keeps the whole agent under 0.2 % of a core.
const (
	scanBudget  = 0.0010
	maxScanWait = 4 * time.Second
)

// listenerTriggers picks what updates the listeners (--trigger) and says
// how each protocol's are detected, for the hello. With the eBPF trigger,
// each protocol whose part did not load is scanned on its own, paced by
// scan cost, and everything is if the events fail later; scan-only paces
// full scans.
func listenerTriggers(o *options, log *slog.Logger, cost func() time.Duration) (tracker.Triggers, *wslfwdv1.ListenerDetection, error) {
	paced := trigger.Paced{Min: o.scanInterval, Max: max(maxScanWait, o.scanInterval), Budget: scanBudget, Cost: cost}
	scans := &wslfwdv1.ListenerDetection{Tcp: wslfwdv1.DetectionMethod_DETECTION_METHOD_SCANS, Udp: wslfwdv1.DetectionMethod_DETECTION_METHOD_SCANS}
	switch o.trigger {
	case "scan":
		return tracker.Triggers{Listeners: []trigger.Trigger{paced}}, scans, nil
	case "auto", "ebpf":
		et, err := ebpftrigger.New(ebpftrigger.Options{Logger: log})
		if err == nil {
			tr, det := partTriggers(et, paced, log)
			return tr, det, nil
		}
		if o.trigger == "ebpf" {
			return tracker.Triggers{}, nil, fmt.Errorf("--trigger ebpf: %w", err)
		}
		log.Warn("eBPF trigger unavailable; scanning periodically", "interval", o.scanInterval, "cpu_budget", scanBudget, "err", err)
		return tracker.Triggers{Listeners: []trigger.Trigger{paced}}, scans, nil
	default:
		return tracker.Triggers{}, nil, fmt.Errorf("--trigger %q: want auto, ebpf or scan", o.trigger)
	}
}

// partTriggers uses each live part of et and scans, paced, for the
// protocol of each part that is not.
func partTriggers(et *ebpftrigger.Trigger, paced trigger.Paced, log *slog.Logger) (tracker.Triggers, *wslfwdv1.ListenerDetection) {
	tr := tracker.Triggers{Events: et, Fallback: paced}
	det := &wslfwdv1.ListenerDetection{}
	for _, p := range []struct {
		proto wslfwdv1.Protocol
		err   error
		det   *wslfwdv1.DetectionMethod
	}{
		{wslfwdv1.Protocol_PROTOCOL_TCP, et.Parts().TCP, &det.Tcp},
		{wslfwdv1.Protocol_PROTOCOL_UDP, et.Parts().UDP, &det.Udp},
	} {
		*p.det = wslfwdv1.DetectionMethod_DETECTION_METHOD_EVENTS
		if p.err != nil {
			*p.det = wslfwdv1.DetectionMethod_DETECTION_METHOD_SCANS
			tr.Narrow = append(tr.Narrow, tracker.Narrow{Protocol: p.proto, Trigger: paced})
			log.Warn("eBPF trigger: part unavailable; scanning for its listeners periodically", "protocol", netproto.Name(p.proto), "err", p.err)
		}
	}
	log.Info("eBPF trigger active", "tcp", det.Tcp, "udp", det.Udp, "safety_scan", safetyScan)
	return tr, det
}

// probeDetection loads the eBPF trigger to see which of its parts are
// live, as run with --trigger auto would, unloads it, and records the
// result in the hello.
func (a *agent) probeDetection() {
	quiet := slog.New(slog.DiscardHandler)
	et, err := ebpftrigger.New(ebpftrigger.Options{Logger: quiet})
	if err != nil {
		a.parts = ebpftrigger.Parts{TCP: err, UDP: err}
		a.hello.Detection = &wslfwdv1.ListenerDetection{Tcp: wslfwdv1.DetectionMethod_DETECTION_METHOD_SCANS, Udp: wslfwdv1.DetectionMethod_DETECTION_METHOD_SCANS}
		return
	}
	defer et.Close()
	a.parts = et.Parts()
	_, a.hello.Detection = partTriggers(et, trigger.Paced{}, quiet)
}

// detectionLines says, per protocol, how listeners are detected and, for
// scans, why not from events.
func (a *agent) detectionLines() [][2]string {
	line := func(name string, m wslfwdv1.DetectionMethod, why error) [2]string {
		how := "events (eBPF)"
		if m != wslfwdv1.DetectionMethod_DETECTION_METHOD_EVENTS {
			how = "periodic scans"
			if why != nil {
				how += ": " + why.Error()
			}
		}
		return [2]string{name + " listeners", how}
	}
	d := a.hello.GetDetection()
	return [][2]string{line("tcp", d.GetTcp(), a.parts.TCP), line("udp", d.GetUdp(), a.parts.UDP)}
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
