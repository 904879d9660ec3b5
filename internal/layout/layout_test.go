package layout

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/wslfwd/wslfwd"

// forbidden says, for a package under each top-level folder, which
// top-level folders it must not import from. A folder not listed (lab/)
// may import anything.
var forbidden = map[string][]string{
	"gen":           {"internal", "agent-linux", "hostd-windows", "cli", "lab"},
	"internal":      {"agent-linux", "hostd-windows", "cli", "lab"},
	"agent-linux":   {"hostd-windows", "cli", "lab"},
	"hostd-windows": {"agent-linux", "cli", "lab"},
	"cli":           {"agent-linux", "hostd-windows", "lab"},
}

// testExempt are test-only imports allowed across a rule: the CLI's
// tests run a real daemon in process. Non-test imports have no exemptions.
var testExempt = map[string]string{"cli": "hostd-windows"}

// top returns the module's top-level folder path p lies under, or "" when p
// is outside the module.
func top(p string) string {
	rest, ok := strings.CutPrefix(p, module+"/")
	if !ok {
		return ""
	}
	first, _, _ := strings.Cut(rest, "/")
	return first
}

// violation names what is wrong with pkg importing imp, or returns "".
func violation(pkg, imp string, test bool) string {
	from, to := top(pkg), top(imp)
	if to == "" || from == to {
		return ""
	}
	if test && testExempt[from] == to {
		return ""
	}
	for _, f := range forbidden[from] {
		if f == to {
			what := "imports"
			if test {
				what = "imports in its tests"
			}
			return fmt.Sprintf("%s %s %s: nothing under %s/ may import from %s/", pkg, what, imp, from, to)
		}
	}
	return ""
}

// imports lists every package of the module as built for goos, each with
// its imports and its tests' imports.
func imports(t *testing.T, goos string) map[string][2][]string {
	t.Helper()
	cmd := exec.Command("go", "list", "-e", "-f",
		"{{.ImportPath}}\t{{join .Imports \" \"}}\t{{join .TestImports \" \"}} {{join .XTestImports \" \"}}",
		module+"/...")
	cmd.Env = append(os.Environ(), "GOOS="+goos)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list (GOOS=%s): %v\n%s", goos, err, stderr.String())
	}
	pkgs := map[string][2][]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Split(sc.Text(), "\t")
		if len(f) != 3 {
			t.Fatalf("go list: unexpected line %q", sc.Text())
		}
		pkgs[f[0]] = [2][]string{strings.Fields(f[1]), strings.Fields(f[2])}
	}
	return pkgs
}

// TestImportsRunDown fails naming every import that runs the wrong way,
// for the Linux and the Windows build of each package.
func TestImportsRunDown(t *testing.T) { checkImports(t, violation) }

// checkImports fails naming every import, of the Linux and the Windows
// build of each package and its tests, that rule names.
func checkImports(t *testing.T, rule func(pkg, imp string, test bool) string) {
	t.Helper()
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command here (the Windows test binaries run under Wine without one)")
	}
	for _, goos := range []string{"linux", "windows"} {
		for pkg, imps := range imports(t, goos) {
			for i, list := range imps {
				for _, imp := range list {
					if v := rule(pkg, imp, i == 1); v != "" {
						t.Errorf("GOOS=%s: %s", goos, v)
					}
				}
			}
		}
	}
}

// The rules themselves: a wrong-way import is named, a right-way one is not.
func TestViolation(t *testing.T) {
	tests := []struct {
		pkg, imp string
		test     bool
		bad      bool
	}{
		{"cli", "hostd-windows/winhost", false, true},
		{"cli", "hostd-windows/server", true, false},
		{"cli", "agent-linux/scan", true, true},
		{"hostd-windows", "cli/output", false, true},
		{"agent-linux/session", "hostd-windows/agents", false, true},
		{"internal/wsl", "hostd-windows/winhost", false, true},
		{"internal/wsl", "lab/netlab", true, true},
		{"gen/wslfwd/v1", "internal/token", false, true},
		{"hostd-windows/daemon", "lab/labrun", false, true},
		{"cli", "internal/controlclient", false, false},
		{"hostd-windows/server", "gen/wslfwd/v1", false, false},
		{"hostd-windows/daemon", "hostd-windows/policy", false, false},
		{"lab/e2e", "hostd-windows/server", false, false},
	}
	for _, tt := range tests {
		v := violation(module+"/"+tt.pkg, module+"/"+tt.imp, tt.test)
		if (v != "") != tt.bad {
			t.Errorf("%s -> %s (test %v): got %q, want a violation: %v", tt.pkg, tt.imp, tt.test, v, tt.bad)
		}
	}
	if v := violation(module+"/cli", "google.golang.org/grpc", false); v != "" {
		t.Errorf("an import outside the module: %q", v)
	}
}
