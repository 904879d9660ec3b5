package controlclient

import (
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/internal/token"
)

// fakeEnv describes a machine for Detect.
type fakeEnv struct {
	goos        string
	programData string // Windows' known folder; "" for an error
	vars        map[string]string
	osrelease   string
	wslinfo     string
	wslErr      error
	gw          string
}

func (f fakeEnv) env() Env {
	return Env{
		GOOS:   f.goos,
		Getenv: func(k string) string { return f.vars[k] },
		ReadFile: func(p string) ([]byte, error) {
			if p == "/proc/sys/kernel/osrelease" && f.osrelease != "" {
				return []byte(f.osrelease + "\n"), nil
			}
			return nil, fs.ErrNotExist
		},
		Wslinfo: func(args ...string) (string, error) {
			if len(args) != 1 || args[0] != "--networking-mode" {
				return "", fmt.Errorf("unexpected wslinfo %v", args)
			}
			return f.wslinfo, f.wslErr
		},
		Gateway4: func() (netip.Addr, error) {
			if f.gw == "" {
				return netip.Addr{}, errors.New("no IPv4 default route")
			}
			return netip.MustParseAddr(f.gw), nil
		},
		HomeDir:   func() (string, error) { return "/home/ada", nil },
		LoadToken: token.Load,
		ProgramData: func() (string, error) {
			if f.programData == "" {
				return "", errors.New("no known folder")
			}
			return f.programData, nil
		},
	}
}

const (
	wsl2Kernel = "5.15.153.1-microsoft-standard-WSL2"
	wsl1Kernel = "4.4.0-19041-Microsoft"
)

func TestLocate(t *testing.T) {
	for _, tc := range []struct {
		name    string
		env     fakeEnv
		host    string
		addr    string
		why     string // substring
		errWant string // substring; addr ignored when set
	}{
		{name: "windows", env: fakeEnv{goos: "windows"}, addr: "127.0.0.1:17810", why: "on Windows"},
		{name: "plain linux", env: fakeEnv{goos: "linux", osrelease: "6.1.0-18-amd64"}, addr: "127.0.0.1:17810", why: "outside WSL"},
		{name: "wsl nat", env: fakeEnv{goos: "linux", vars: map[string]string{"WSL_DISTRO_NAME": "Ubuntu"}, osrelease: wsl2Kernel, wslinfo: "nat\n", gw: "172.28.240.1"},
			addr: "172.28.240.1:17810", why: `NAT mode: the host is the IPv4 default gateway; wslinfo --networking-mode printed "nat"`},
		{name: "wsl without wslinfo assumes nat", env: fakeEnv{goos: "linux", osrelease: wsl2Kernel, wslErr: ErrNoWslinfo, gw: "172.28.240.1"},
			addr: "172.28.240.1:17810", why: "assumed nat: wslinfo not found"},
		{name: "wslinfo failing assumes nat", env: fakeEnv{goos: "linux", osrelease: wsl2Kernel, wslErr: errors.New("exit status 1: no service"), gw: "10.0.0.1"},
			addr: "10.0.0.1:17810", why: "assumed nat: exit status 1"},
		{name: "wsl mirrored", env: fakeEnv{goos: "linux", vars: map[string]string{"WSL_DISTRO_NAME": "Ubuntu"}, wslinfo: "mirrored"},
			addr: "127.0.0.1:17810", why: "share the host's loopback"},
		{name: "wsl1 by kernel", env: fakeEnv{goos: "linux", osrelease: wsl1Kernel, wslErr: ErrNoWslinfo},
			addr: "127.0.0.1:17810", why: "kernel release names WSL1"},
		{name: "nat without gateway", env: fakeEnv{goos: "linux", osrelease: wsl2Kernel, wslinfo: "nat"},
			errWant: "no IPv4 default gateway"},
		{name: "bridged", env: fakeEnv{goos: "linux", osrelease: wsl2Kernel, wslinfo: "bridged"},
			errWant: "networking mode bridged has no default daemon address; pass --host"},
		{name: "consomme", env: fakeEnv{goos: "linux", osrelease: wsl2Kernel, wslinfo: "consomme"},
			errWant: "networking mode virtioproxy"},
		{name: "--host wins", env: fakeEnv{goos: "linux", osrelease: wsl2Kernel, wslinfo: "bridged"}, host: "10.1.2.3",
			addr: "10.1.2.3:17810", why: "from --host"},
		{name: "other os", env: fakeEnv{goos: "darwin"}, errWant: "pass --host"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := tc.env.env()
			p := Detect(env)
			got, err := Locate(env, &p, tc.host)
			if tc.errWant != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errWant) {
					t.Fatalf("error = %v, want it to contain %q", err, tc.errWant)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Addr != tc.addr || !strings.Contains(got.Why, tc.why) {
				t.Errorf("got %+v, want %s (%s)", got, tc.addr, tc.why)
			}
		})
	}
}

func TestDetectWSL(t *testing.T) {
	env := fakeEnv{goos: "linux", vars: map[string]string{"WSL_DISTRO_NAME": "Debian"}, osrelease: wsl2Kernel, wslinfo: "nat", gw: "172.28.240.1"}.env()
	p := Detect(env)
	p.DetectNetwork(env)
	if p.Kind != WSL || p.Distro != "Debian" || p.Mode != wslfwdv1.NetworkingMode_NETWORKING_MODE_NAT || p.Gateway4 != netip.MustParseAddr("172.28.240.1") {
		t.Errorf("Detect = %+v", p)
	}
	// An IPv6 "gateway" is no use to a NAT client.
	env = fakeEnv{goos: "linux", osrelease: wsl2Kernel, wslinfo: "nat", gw: "fe80::1"}.env()
	p = Detect(env)
	p.DetectNetwork(env)
	if p.GatewayErr == nil {
		t.Errorf("IPv6 gateway accepted: %+v", p)
	}
}

func TestHostSkipsNetworkDetection(t *testing.T) {
	env := fakeEnv{goos: "linux", osrelease: wsl2Kernel}.env()
	env.Wslinfo = func(...string) (string, error) { t.Error("wslinfo run although --host was given"); return "", nil }
	env.Gateway4 = func() (netip.Addr, error) { t.Error("routes read although --host was given"); return netip.Addr{}, nil }
	p := Detect(env)
	if _, err := Locate(env, &p, "10.0.0.1"); err != nil {
		t.Fatal(err)
	}
}

func TestParseMode(t *testing.T) {
	for in, want := range map[string]wslfwdv1.NetworkingMode{
		"nat": wslfwdv1.NetworkingMode_NETWORKING_MODE_NAT, "Mirrored\n": wslfwdv1.NetworkingMode_NETWORKING_MODE_MIRRORED,
		"virtioproxy": wslfwdv1.NetworkingMode_NETWORKING_MODE_VIRTIOPROXY, "consomme": wslfwdv1.NetworkingMode_NETWORKING_MODE_VIRTIOPROXY,
		"bridged": wslfwdv1.NetworkingMode_NETWORKING_MODE_BRIDGED, "none": wslfwdv1.NetworkingMode_NETWORKING_MODE_NONE,
		"wsl1": wslfwdv1.NetworkingMode_NETWORKING_MODE_WSL1, "": wslfwdv1.NetworkingMode_NETWORKING_MODE_UNKNOWN,
		"natural": wslfwdv1.NetworkingMode_NETWORKING_MODE_UNKNOWN,
	} {
		if got := ParseMode(in); got != want {
			t.Errorf("ParseMode(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestTokenPaths(t *testing.T) {
	win := Detect(fakeEnv{goos: "windows"}.env())
	// The known folder, never %ProgramData%, which the user may point at
	// a token of their own choosing.
	e := fakeEnv{goos: "windows", programData: `D:\Data\`, vars: map[string]string{"ProgramData": `C:\Users\x\evil`}}.env()
	if got := strings.Join(TokenPaths(win, e), ";"); got != `D:\Data\wslfwd\token;D:\Data\wslfwd\read.token` {
		t.Errorf("windows: %s", got)
	}
	if got := TokenPaths(win, fakeEnv{goos: "windows"}.env())[0]; got != `C:\ProgramData\wslfwd\token` {
		t.Errorf("windows without the known folder: %s", got)
	}
	wsl := fakeEnv{goos: "linux", osrelease: wsl2Kernel, wslinfo: "mirrored"}
	if got := strings.Join(TokenPaths(Detect(wsl.env()), wsl.env()), ";"); got != "/home/ada/.config/wslfwd/token;/etc/wslfwd/cli.token" {
		t.Errorf("wsl: %s", got)
	}
	wsl.vars = map[string]string{"XDG_CONFIG_HOME": "/cfg"}
	paths := TokenPaths(Detect(wsl.env()), wsl.env())
	if paths[0] != "/cfg/wslfwd/token" {
		t.Errorf("wsl with XDG_CONFIG_HOME: %v", paths)
	}
	for _, p := range paths {
		if p == "/etc/wslfwd/token" {
			t.Errorf("the agent's token is tried: %v", paths)
		}
	}
	lin := fakeEnv{goos: "linux", osrelease: "6.1.0"}
	if got := strings.Join(TokenPaths(Detect(lin.env()), lin.env()), ";"); got != "/var/lib/wslfwd/token;/var/lib/wslfwd/read.token" {
		t.Errorf("linux: %s", got)
	}
}

func TestFindToken(t *testing.T) {
	dir := t.TempDir()
	tok, err := token.Generate()
	if err != nil {
		t.Fatal(err)
	}
	good := filepath.Join(dir, "good.token")
	short := filepath.Join(dir, "short.token")
	os.WriteFile(good, []byte(tok+"\n"), 0o600)
	os.WriteFile(short, []byte("abc"), 0o600)
	missing := filepath.Join(dir, "missing.token")

	// The default paths of a WSL place start in XDG_CONFIG_HOME: point it
	// at the temp directory.
	env := fakeEnv{goos: "linux", vars: map[string]string{"XDG_CONFIG_HOME": dir}}.env()
	place := Place{Kind: WSL}
	os.MkdirAll(filepath.Join(dir, "wslfwd"), 0o700)

	// Flag given: only that file counts.
	if got, from, err := FindToken(good, place, env); err != nil || got != tok || from != good {
		t.Errorf("FindToken(flag) = %q, %q, %v", got, from, err)
	}
	if _, _, err := FindToken(missing, place, env); err == nil || !strings.Contains(err.Error(), "--token-file") {
		t.Errorf("FindToken(missing flag) error = %v", err)
	}
	if _, _, err := FindToken(short, place, env); err == nil || !strings.Contains(err.Error(), "at least") {
		t.Errorf("FindToken(short flag) error = %v", err)
	}

	// The default paths of a WSL place are Unix paths (path.IsAbs), which
	// a Windows temp directory is not, so they cannot point at one.
	if runtime.GOOS == "windows" {
		t.Skip("the rest needs a Unix temp directory for the WSL place's default paths")
	}

	// No flag, nothing in place: the error lists every path and the fix.
	_, _, err = FindToken("", place, env)
	var nt *NoTokenError
	if !errors.As(err, &nt) || len(nt.Tried) != 2 {
		t.Fatalf("FindToken(no files) error = %v", err)
	}
	want := "no token: tried " + filepath.Join(dir, "wslfwd", "token") + " (does not exist), /etc/wslfwd/cli.token ("
	if !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), "~/.config/wslfwd/token") {
		t.Errorf("error = %q, want prefix %q", err, want)
	}

	// A token in the first default place is found.
	os.WriteFile(filepath.Join(dir, "wslfwd", "token"), []byte(tok), 0o600)
	if got, from, err := FindToken("", place, env); err != nil || got != tok || from != filepath.Join(dir, "wslfwd", "token") {
		t.Errorf("FindToken(default) = %q, %q, %v", got, from, err)
	}
}

func TestExplain(t *testing.T) {
	c := &Conn{Target: Target{Addr: "172.28.240.1:17810", Why: "NAT mode"}, TokenFrom: "/home/ada/.config/wslfwd/token"}
	for _, tc := range []struct {
		err  error
		want []string
	}{
		{status.Error(codes.Unavailable, "connection refused"),
			[]string{"daemon unreachable at 172.28.240.1:17810 (NAT mode): connection refused", "is wslfwd-hostd running?"}},
		{status.Error(codes.Unauthenticated, "invalid token"),
			[]string{"daemon at 172.28.240.1:17810 rejected the token from /home/ada/.config/wslfwd/token: invalid token"}},
		{status.Error(codes.PermissionDenied, "the agent token may not call GetStatus"),
			[]string{"list agents: the token from /home/ada/.config/wslfwd/token is not allowed", "agent's token is refused", "elevated prompt"}},
		{status.Error(codes.DeadlineExceeded, "context deadline exceeded"), []string{"did not answer in time", "--timeout"}},
		{status.Error(codes.NotFound, "no static forward on tcp 0.0.0.0:80"), []string{"list agents: no static forward on tcp 0.0.0.0:80"}},
		{errors.New("plain"), []string{"list agents: plain"}},
	} {
		err := c.Explain("list agents", tc.err)
		for _, w := range tc.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("Explain(%v) = %v, want it to contain %q", tc.err, err, w)
			}
		}
		if s, ok := status.FromError(tc.err); ok && Code(err) != s.Code() {
			t.Errorf("Code(Explain(%v)) = %v", tc.err, Code(err))
		}
	}
	if c.Explain("x", nil) != nil {
		t.Error("Explain(nil) != nil")
	}
}

// A refused dial reads as its cause, without gRPC's layers around it.
func TestExplainCutsTransportText(t *testing.T) {
	c := &Conn{Target: Target{Addr: "127.0.0.1:1", Why: "from --host"}}
	for raw, cause := range map[string]string{
		`connection error: desc = "transport: Error while dialing: dial tcp 127.0.0.1:1: connect: connection refused"`:                                                                                   "connection refused",
		`last connection error: connection error: desc = "transport: Error while dialing: dial tcp 127.0.0.1:1: connectex: No connection could be made because the target machine actively refused it."`: "No connection could be made because the target machine actively refused it",
		`connection error: desc = "error reading server preface: EOF"`:                                                                                                                                   "error reading server preface: EOF",
		"name resolver error: produced zero addresses":                                                                                                                                                   "name resolver error: produced zero addresses",
	} {
		got := c.Explain("get status", status.Error(codes.Unavailable, raw)).Error()
		want := "daemon unreachable at 127.0.0.1:1 (from --host): " + cause + "; is wslfwd-hostd running?"
		if !strings.HasPrefix(got, want) {
			t.Errorf("Explain(%q) = %q, want it to start %q", raw, got, want)
		}
	}
}
