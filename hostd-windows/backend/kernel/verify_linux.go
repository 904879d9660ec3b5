package kernel

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/wslfwd/wslfwd/hostd-windows/backend"
)

var _ backend.Verifier = (*Backend)(nil)

// forwardingSysctls are the switches, per family of the target, without
// which the kernel drops a rewritten packet bound for another machine.
// They are read in the daemon's own network namespace.
var forwardingSysctls = map[bool]string{
	true:  "net/ipv4/ip_forward",
	false: "net/ipv6/conf/all/forwarding",
}

// Verify implements backend.Verifier: a rule rewrites packets, but only
// forwarding moves them on to a target on another machine. A target on
// loopback needs no forwarding.
func (b *Backend) Verify(_ context.Context, entries []backend.Entry) map[backend.Entry]error {
	out := make(map[backend.Entry]error)
	why := make(map[bool]error, 2) // each switch read once per call
	for _, e := range entries {
		if e.Connect.Addr().IsLoopback() {
			continue
		}
		v4 := e.Connect.Addr().Is4()
		err, read := why[v4]
		if !read {
			err = forwardingOn(forwardingSysctls[v4])
			why[v4] = err
		}
		if err != nil {
			out[e] = err
		}
	}
	return out
}

// forwardingOn reports why forwarding is off, or nil when it is on.
func forwardingOn(key string) error {
	raw, err := os.ReadFile("/proc/sys/" + key)
	if err != nil {
		return fmt.Errorf("cannot tell whether the kernel forwards (read %s): %w", key, err)
	}
	if v := strings.TrimSpace(string(raw)); v != "1" {
		name := strings.ReplaceAll(key, "/", ".")
		return fmt.Errorf("%s is %s in the daemon's network namespace: the kernel drops forwarded packets (sysctl -w %s=1)", name, v, name)
	}
	return nil
}
