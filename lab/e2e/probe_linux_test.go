//go:build linux

package e2e

import (
	"testing"

	"google.golang.org/protobuf/encoding/protojson"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/lab/labrun"
	"github.com/wslfwd/wslfwd/lab/netlab"
)

// wslfwd probe passes every path in a healthy lab, cleans up its echo
// forward, and, once the host has lost its LAN address, fails naming the
// LAN path while the others still pass.
func TestProbe(t *testing.T) {
	ctx, env := startWithAgent(t, labrun.Options{})
	probe := func() (*wslfwdv1.ProbeResponse, map[string]*wslfwdv1.PathResult, error) {
		t.Helper()
		out, err := env.CLI(ctx, "probe", "-o", "json")
		var r wslfwdv1.ProbeResponse
		if uerr := protojson.Unmarshal([]byte(out), &r); uerr != nil {
			t.Fatalf("wslfwd probe -o json: %v (exit: %v)\n%s", uerr, err, out)
		}
		paths := map[string]*wslfwdv1.PathResult{}
		for _, p := range r.GetPaths() {
			paths[p.GetName()] = p
		}
		return &r, paths, err
	}

	r, paths, err := probe()
	if err != nil || !r.GetOk() {
		t.Fatalf("healthy lab: probe failed: %v\n%v", err, r)
	}
	for _, name := range []string{"wsl-to-host", "host-to-wsl", "lan-to-wsl"} {
		if p := paths[name]; p == nil || !p.GetOk() || p.GetLatency() == nil {
			t.Errorf("healthy lab: path %s = %v, want ok with a latency", name, p)
		}
	}
	if err := env.WaitNoForward(ctx, labrun.Match{Port: r.GetPort()}); err != nil {
		t.Errorf("the probe's echo forward stayed: %v", err)
	}

	cmd := env.Lab.WinHost.Command(ctx, "ip", "addr", "del", netlab.HostLANAddr.String(), "dev", netlab.HostLANLink)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("remove the host's LAN address: %v\n%s", err, out)
	}
	r, paths, err = probe()
	if err == nil || r.GetOk() {
		t.Fatalf("probe without a LAN address: exit %v, ok %v; want a failure", err, r.GetOk())
	}
	if p := paths["lan-to-wsl"]; p == nil || p.GetOk() || p.GetError() == "" {
		t.Errorf("lan-to-wsl = %v, want failed with a reason", p)
	}
	for _, name := range []string{"wsl-to-host", "host-to-wsl"} {
		if p := paths[name]; p == nil || !p.GetOk() {
			t.Errorf("path %s = %v, want still ok", name, p)
		}
	}
}
