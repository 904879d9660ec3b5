//go:build linux

package adversary

import (
	"strconv"
	"strings"
	"testing"

	"github.com/wslfwd/wslfwd/lab/labrun"
	"github.com/wslfwd/wslfwd/lab/labtest"
)

// The real wslfwd expose of a forward the host can never have exits 1
// with the daemon's reason (no gRPC transport text), and forwards --all
// shows nothing saved. A host port past 65535 is a usage error (exit 2).
func TestInputExposeImpossibleForwards(t *testing.T) {
	_, env := labtest.StartWithAgent(t, labrun.Options{}, inputTimeout, "Ubuntu")
	own := strconv.Itoa(int(labrun.DaemonLoopback.Port()))
	for _, tc := range []struct {
		args []string
		code int
		want string // the start of stderr
	}{
		{[]string{"expose", "8080", "--listen-address", "192.0.2.99"}, 1,
			"wslfwd: expose 8080/tcp: listen_address 192.0.2.99: the host has no such address (it has "},
		{[]string{"expose", "8080", "--listen-address", "255.255.255.255"}, 1,
			"wslfwd: expose 8080/tcp: listen_address 255.255.255.255: a broadcast address is not one a forward can listen on; " +
				"use one of the host's addresses, or 0.0.0.0 or :: for all of them\n"},
		{[]string{"expose", "8080", "--listen-address", "224.0.0.251"}, 1,
			"wslfwd: expose 8080/tcp: listen_address 224.0.0.251: a multicast address is not one a forward can listen on"},
		{[]string{"expose", "8080", "--host-port", own}, 1,
			"wslfwd: expose 8080/tcp: host port " + own + " is the daemon's own port: pick another host port\n"},
		{[]string{"expose", "8080", "--host-port", "3389"}, 1,
			"wslfwd: expose 8080/tcp: host port 3389 is in the daemon's deny list (deny_ports): pick another host port\n"},
		{[]string{"expose", "8080", "--host-port", "70000"}, 2,
			"wslfwd: --host-port \"70000\": port must be 1 to 65535\nRun 'wslfwd expose --help' for usage.\n"},
		{[]string{"expose", "8080/sctp"}, 2,
			"wslfwd: port \"8080/sctp\": protocol must be tcp or udp\n"},
	} {
		o := cli(t, env, tc.args...)
		if o.code != tc.code || !strings.HasPrefix(o.stderr, tc.want) || o.stdout != "" {
			t.Errorf("wslfwd %v: exit %d, stdout %q, stderr %q\nwant exit %d, stderr starting %q",
				tc.args, o.code, o.stdout, o.stderr, tc.code, tc.want)
		}
		if strings.Contains(o.stderr, "rpc error") || strings.Contains(o.stderr, "desc =") {
			t.Errorf("wslfwd %v: raw gRPC text in %q", tc.args, o.stderr)
		}
	}
	if saved := staticForwards(t, env); len(saved) != 0 {
		t.Errorf("refused exposes left static forwards: %v", saved)
	}
	// The same request with a good address is accepted: the refusals
	// above were about the address and ports, not the agent or token.
	if o := cli(t, env, "expose", "8080", "--listen-address", "0.0.0.0"); o.code != 0 {
		t.Fatalf("a valid expose: exit %d: %s", o.code, o.stderr)
	}
	if saved := staticForwards(t, env); len(saved) != 1 {
		t.Errorf("after one valid expose: %v, want one static forward", saved)
	}
}
