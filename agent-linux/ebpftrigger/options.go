package ebpftrigger

import (
	"log/slog"
	"time"

	"github.com/vishvananda/netns"
)

// DefaultRecheck is the recheck delay used when Options.Recheck is zero.
const DefaultRecheck = 2 * time.Millisecond

// Options configure New.
type Options struct {
	// IgnorePID is the process (tgid, as seen in the caller's pid
	// namespace) whose own socket changes must not wake the agent. The BPF
	// programs drop them in the kernel, so a process that binds often cannot
	// spin on its own events. Zero means the calling process.
	IgnorePID uint32

	// Recheck is how long after an early event (one the kernel sends
	// before it has finished the change) the event is handed over again;
	// see the package doc. Zero means DefaultRecheck.
	Recheck time.Duration

	// NetNS is the network namespace whose TCP listeners to report (the
	// one the agent lists sockets of); zero means the calling thread's.
	// Listeners in other namespaces, such as containers', are dropped in
	// the kernel.
	NetNS netns.NsHandle

	// Cgroup is the cgroup v2 directory the UDP hooks attach to; empty
	// means the root of the cgroup2 mount, which covers the whole distro.
	Cgroup string

	// Logger receives the one-off notes about reduced filtering on older
	// kernels; nil means slog.Default().
	Logger *slog.Logger
}

// Parts says which parts of a Trigger are live: each field is nil when its
// part reports, or says why it does not. The parts load and attach on
// their own, because each needs something the other does not (the UDP
// hooks a cgroup2 hierarchy, the TCP tracepoint raw tracepoints): a missing
// piece costs only its protocol's events, and the agent scans for those
// alone.
type Parts struct {
	// TCP is the listen tracepoint: TCP sockets entering and leaving LISTEN.
	TCP error
	// UDP is the cgroup hooks: UDP binds and closes.
	UDP error
}
