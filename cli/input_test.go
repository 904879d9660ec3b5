package main

import (
	"net/netip"
	"strconv"
	"strings"
	"testing"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
)

// A port flag past 65535 gets the CLI's own message, not strconv's, exits
// 2 and sends nothing: expose --host-port and probe --port (with and
// without --from-lan) alike.
func TestPortFlagOutOfRangeMessage(t *testing.T) {
	fake := &fakeControl{status: sampleStatus()}
	d := startFake(t, fake)
	const expose, probe = "\nRun 'wslfwd expose --help' for usage.\n", "\nRun 'wslfwd probe --help' for usage.\n"
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"expose", "80", "--host-port", "70000"}, "wslfwd: --host-port \"70000\": port must be 1 to 65535" + expose},
		{[]string{"expose", "80", "--host-port", "0"}, "wslfwd: --host-port \"0\": port must be 1 to 65535" + expose},
		{[]string{"expose", "80", "--host-port", "http"}, "wslfwd: --host-port \"http\": \"http\" is not a port number" + expose},
		{[]string{"expose", "80", "--host-port", ""}, "wslfwd: --host-port \"\": missing port number" + expose},
		{[]string{"probe", "--port", "70000"}, "wslfwd: --port \"70000\": port must be 1 to 65535" + probe},
		{[]string{"probe", "--from-lan", "192.0.2.1", "--port", "70000"}, "wslfwd: --port \"70000\": port must be 1 to 65535" + probe},
	} {
		r := runCLI(t, t.Context(), plainLinux(), d.args(tc.args...)...)
		if r.code != exitUsage || r.stderr != tc.want || r.stdout != "" {
			t.Errorf("%v: exit %d, stderr %q; want exit %d, %q", tc.args, r.code, r.stderr, exitUsage, tc.want)
		}
	}
	fake.mu.Lock()
	defer fake.mu.Unlock()
	if len(fake.requests) != 0 {
		t.Errorf("bad ports reached the daemon: %v", fake.requests)
	}
}

// Against the real daemon, an expose no forward can satisfy exits 1 with
// the daemon's reason (no gRPC transport text) and saves nothing.
func TestRealDaemonRefusesImpossibleExpose(t *testing.T) {
	rd := startRealDaemon(t)
	connectAgent(t, rd, "Ubuntu")
	waitAgent(t, rd, "Ubuntu")
	own := strconv.Itoa(int(netip.MustParseAddrPort(rd.addr).Port()))
	for _, tc := range []struct {
		args []string
		want string // the whole first line of stderr, or its start when it ends in "("
	}{
		{[]string{"expose", "8080", "--listen-address", "192.0.2.99"},
			"wslfwd: expose 8080/tcp: listen_address 192.0.2.99: the host has no such address (it has "},
		{[]string{"expose", "8080", "--listen-address", "255.255.255.255"},
			"wslfwd: expose 8080/tcp: listen_address 255.255.255.255: a broadcast address is not one a forward can listen on; " +
				"use one of the host's addresses, or 0.0.0.0 or :: for all of them\n"},
		{[]string{"expose", "8080", "--host-port", own},
			"wslfwd: expose 8080/tcp: host port " + own + " is the daemon's own port: pick another host port\n"},
		{[]string{"expose", own},
			"wslfwd: expose " + own + "/tcp: host port " + own + " is the daemon's own port: pick another host port\n"},
		{[]string{"expose", "8080", "--host-port", "445"},
			"wslfwd: expose 8080/tcp: host port 445 is in the daemon's deny list (deny_ports): pick another host port\n"},
		{[]string{"expose", "445"},
			"wslfwd: expose 445/tcp: host port 445 is in the daemon's deny list (deny_ports): pick another host port\n"},
	} {
		r := runCLI(t, t.Context(), plainLinux(), rd.args(rd.admin, tc.args...)...)
		if r.code != exitFailure || !strings.HasPrefix(r.stderr, tc.want) || r.stdout != "" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit %d and %q", tc.args, r.code, r.stdout, r.stderr, exitFailure, tc.want)
		}
		if strings.Contains(r.stderr, "rpc error") || strings.Contains(r.stderr, "desc =") {
			t.Errorf("%v: raw gRPC text in %q", tc.args, r.stderr)
		}
	}
	r := runCLI(t, t.Context(), plainLinux(), rd.args(rd.read, "forwards", "--all", "-o", "json")...)
	var got wslfwdv1.ListForwardsResponse
	decode(t, r.stdout, &got)
	if r.code != 0 || len(got.GetForwards()) != 0 {
		t.Errorf("forwards --all after refused exposes: exit %d, %v; want none", r.code, got.GetForwards())
	}
}
