package ebpftrigger

import (
	"log/slog"
	"time"
)

// DefaultCoalesce is the burst window used when Options.Coalesce is zero.
const DefaultCoalesce = 2 * time.Millisecond

// Options configure New.
type Options struct {
	// IgnorePID is the process (tgid, as seen in the caller's pid
	// namespace) whose own socket changes must not wake the agent. The BPF
	// programs drop them in the kernel, so a process that binds often cannot
	// spin on its own events. Zero means the calling process.
	IgnorePID uint32

	// Coalesce is the burst window: the first event wakes at once, later
	// ones wait for the window to end, and one more wake always follows
	// the last event by a window (see the package doc). Zero means
	// DefaultCoalesce.
	Coalesce time.Duration

	// Cgroup is the cgroup v2 directory the UDP hooks attach to; empty
	// means the root of the cgroup2 mount, which covers the whole distro.
	Cgroup string

	// Logger receives the one-off notes about reduced filtering on older
	// kernels; nil means slog.Default().
	Logger *slog.Logger
}
