package layout

import (
	"fmt"
	"strings"
	"testing"
)

// hostdLayer ranks the daemon's packages that are built on the others:
// the engine (no gRPC), the RPC layer on top of it (control serves
// ControlService, server the listeners, auth and AgentService), the
// composition root (daemon), its test harness (daemontest) and the
// program. A package imports only packages of a lower layer; every other
// hostd-windows package is a part, layer 0, and imports only parts.
var hostdLayer = map[string]int{
	"hostd-windows/engine":            1,
	"hostd-windows/control":           2,
	"hostd-windows/server":            2,
	"hostd-windows/daemon":            3,
	"hostd-windows/daemon/daemontest": 4,
	"hostd-windows":                   5,
}

// engineMayNotImport are the imports that would tie the engine to gRPC:
// its Go API is served by control, and its errors carry kinds, not codes.
// The generated messages (gen/) and protobuf's own types are allowed.
const engineMayNotImport = "google.golang.org/grpc"

// hostdViolation names what is wrong with pkg importing imp within
// hostd-windows, or returns "". Tests may import daemontest, which runs
// the whole daemon, and what it runs.
func hostdViolation(pkg, imp string, test bool) string {
	from, ok := strings.CutPrefix(pkg, module+"/")
	if !ok || top(pkg) != "hostd-windows" {
		return ""
	}
	if from == "hostd-windows/engine" && !test && (imp == engineMayNotImport || strings.HasPrefix(imp, engineMayNotImport+"/")) {
		return fmt.Sprintf("%s imports %s: the engine knows nothing of gRPC (package control serves it)", pkg, imp)
	}
	to, ok := strings.CutPrefix(imp, module+"/")
	if !ok || top(imp) != "hostd-windows" || test {
		return ""
	}
	if hostdLayer[to] >= hostdLayer[from] && (hostdLayer[to] > 0 || hostdLayer[from] > 0) {
		return fmt.Sprintf("%s imports %s: a hostd-windows package imports only the layers below it (engine, then control and server, then daemon)", pkg, imp)
	}
	return ""
}

// TestHostdLayers fails naming every import inside hostd-windows that
// runs up its layers, and every gRPC import of the engine.
func TestHostdLayers(t *testing.T) { checkImports(t, hostdViolation) }

// The rules themselves.
func TestHostdViolation(t *testing.T) {
	tests := []struct {
		pkg, imp string
		test     bool
		bad      bool
	}{
		{"hostd-windows/engine", "google.golang.org/grpc/status", false, true},
		{"hostd-windows/engine", "google.golang.org/grpc", false, true},
		{"hostd-windows/engine", "google.golang.org/protobuf/proto", false, false},
		{"hostd-windows/engine", "google.golang.org/grpc/codes", true, false},
		{"hostd-windows/engine", "hostd-windows/control", false, true},
		{"hostd-windows/engine", "hostd-windows/server", false, true},
		{"hostd-windows/engine", "hostd-windows/policy", false, false},
		{"hostd-windows/control", "hostd-windows/engine", false, false},
		{"hostd-windows/control", "hostd-windows/daemon", false, true},
		{"hostd-windows/control", "hostd-windows/server", false, true},
		{"hostd-windows/server", "hostd-windows/agents", false, false},
		{"hostd-windows/agents", "hostd-windows/engine", false, true},
		{"hostd-windows/policy", "hostd-windows/daemon", false, true},
		{"hostd-windows/daemon", "hostd-windows/control", false, false},
		{"hostd-windows/daemon", "hostd-windows/daemon/daemontest", false, true},
		{"hostd-windows/engine", "hostd-windows/daemon/daemontest", true, false},
		{"hostd-windows", "hostd-windows/daemon", false, false},
		{"hostd-windows/reconcile", "hostd-windows/ledger", false, false},
	}
	for _, tt := range tests {
		imp := tt.imp
		if strings.HasPrefix(imp, "hostd-windows") {
			imp = module + "/" + imp
		}
		v := hostdViolation(module+"/"+tt.pkg, imp, tt.test)
		if (v != "") != tt.bad {
			t.Errorf("%s -> %s (test %v): got %q, want a violation: %v", tt.pkg, tt.imp, tt.test, v, tt.bad)
		}
	}
}
