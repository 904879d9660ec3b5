//go:build windows

package portproxy

import (
	"crypto/rand"
	"errors"
	"net"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/registry"

	"github.com/wslfwd/wslfwd/hostd-windows/backend"
	"github.com/wslfwd/wslfwd/internal/winexec"
)

// testStore makes HKCU\Software\wslfwd-test-<random>\PortProxy with the
// given values and removes the whole tree when t ends.
func testStore(t *testing.T, values map[Kind]map[string]any) RegistryStore {
	t.Helper()
	base := `Software\wslfwd-test-` + rand.Text()
	s := RegistryStore{Root: registry.CURRENT_USER, Path: base + `\PortProxy`}
	var created []string
	t.Cleanup(func() {
		// Deepest first: DeleteKey removes only keys without subkeys.
		for i := len(created) - 1; i >= 0; i-- {
			if err := registry.DeleteKey(registry.CURRENT_USER, created[i]); err != nil {
				t.Errorf("delete test key %s: %v", created[i], err)
			}
		}
	})
	mk := func(path string) registry.Key {
		k, _, err := registry.CreateKey(registry.CURRENT_USER, path, registry.ALL_ACCESS)
		if err != nil {
			t.Fatalf("create %s: %v", path, err)
		}
		created = append(created, path)
		return k
	}
	mk(base).Close()
	mk(s.Path).Close()
	for kind, vals := range values {
		mk(s.Path + `\` + string(kind)).Close()
		k := mk(s.Path + `\` + string(kind) + `\tcp`)
		for name, v := range vals {
			var err error
			switch v := v.(type) {
			case string:
				err = k.SetStringValue(name, v)
			case uint32:
				err = k.SetDWordValue(name, v)
			case expandSZ:
				err = k.SetExpandStringValue(name, string(v))
			}
			if err != nil {
				t.Fatalf("set %s: %v", name, err)
			}
		}
		k.Close()
	}
	return s
}

// expandSZ is a REG_EXPAND_SZ value for testStore.
type expandSZ string

// TestRegistryStoreRead: entries are REG_SZ values that parse; a value of
// another type is unparsed, REG_EXPAND_SZ too (netsh writes REG_SZ, and
// whether iphlpsvc reads another is undocumented).
func TestRegistryStoreRead(t *testing.T) {
	s := testStore(t, map[Kind]map[string]any{
		V4ToV4: {
			"0.0.0.0/4000":        "172.28.240.53/4000",
			"0.0.0.0/30000-50000": "172.23.188.236/30000-50000",
			"0.0.0.0/5000":        uint32(5000),
			"0.0.0.0/6000":        expandSZ("172.28.240.53/6000"),
		},
		V6ToV4: {"::/4000": "172.28.240.53/4000"},
		// v4tov6 exists without values; v6tov6 does not exist at all.
		V4ToV6: {},
	})
	values, err := s.Read()
	if err != nil {
		t.Fatal(err)
	}
	snap := Sort(values)
	want := []backend.Entry{tcp("0.0.0.0:4000", "172.28.240.53:4000"), tcp("[::]:4000", "172.28.240.53:4000")}
	if !reflect.DeepEqual(snap.Entries, want) {
		t.Errorf("entries = %v, want %v", snap.Entries, want)
	}
	odd := map[string]string{}
	for _, u := range snap.Unparsed {
		odd[u.Name] = u.Reason
	}
	if len(odd) != 3 || !strings.Contains(odd["0.0.0.0/5000"], "not REG_SZ") || !strings.Contains(odd["0.0.0.0/6000"], "not REG_SZ") ||
		odd["0.0.0.0/30000-50000"] == "" {
		t.Errorf("unparsed = %+v", snap.Unparsed)
	}
}

func TestRegistryStoreMissing(t *testing.T) {
	s := RegistryStore{Root: registry.CURRENT_USER, Path: `Software\wslfwd-test-` + rand.Text() + `\PortProxy`}
	values, err := s.Read()
	if err != nil || len(values) != 0 {
		t.Fatalf("Read of a missing tree = %v, %v; want nothing and no error", values, err)
	}
}

// isWine reports whether the test runs under Wine, whose netsh does
// nothing and exits 0.
func isWine() bool {
	return windows.NewLazySystemDLL("ntdll.dll").NewProc("wine_get_version").Find() == nil
}

// TestNetshDidNothing runs the real netsh runner and finds in the registry
// that nothing changed: the failure mode of Wine's netsh, and of a real
// netsh that prints a usage or elevation error and exits 0. It runs only
// under Wine: on Windows the netsh would create a real portproxy entry.
func TestNetshDidNothing(t *testing.T) {
	if !isWine() {
		t.Skip("needs Wine: on real Windows netsh would change this host's portproxy table")
	}
	winexec.SetScriptDir(t.TempDir())
	t.Cleanup(func() { winexec.SetScriptDir("") })
	store := testStore(t, map[Kind]map[string]any{V4ToV4: {"0.0.0.0/22": "172.28.240.53/22"}})
	b := New(store, NetshRunner{}, Options{})
	add := tcp("0.0.0.0:4000", "172.28.240.53:4000")
	rm := tcp("0.0.0.0:22", "172.28.240.53:22")
	err := b.Apply(t.Context(), backend.Batch{Add: []backend.Entry{add}, Remove: []backend.Entry{rm}})
	var ae *backend.ApplyError
	if !errors.As(err, &ae) {
		t.Fatalf("Apply = %v, want an *ApplyError", err)
	}
	for _, want := range []struct {
		e      backend.Entry
		remove bool
	}{{add, false}, {rm, true}} {
		f, ok := ae.FailureFor(want.e.Key(), want.remove)
		if !ok || !errors.Is(f.Err, backend.ErrNotApplied) {
			t.Errorf("failure for %v (remove=%v) = %v, want ErrNotApplied; all: %v", want.e, want.remove, f.Err, ae)
		}
	}
	got, err := b.List(t.Context())
	if err != nil || !reflect.DeepEqual(got, []backend.Entry{rm}) {
		t.Errorf("List = %v, %v", got, err)
	}
}

func TestTryListen(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	held := l.Addr().(*net.TCPAddr).AddrPort()
	if err := TryListen(held); err == nil {
		t.Errorf("TryListen(%v) on a held port succeeded", held)
	}
	l.Close()
	if err := TryListen(held); err != nil {
		t.Errorf("TryListen(%v) after release: %v", held, err)
	}
}

func TestExcludedRangesRuns(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		ranges, err := ExcludedRanges(t.Context(), v6)
		if err != nil {
			t.Fatalf("ExcludedRanges(v6=%v): %v", v6, err)
		}
		for _, r := range ranges {
			if r.Start > r.End {
				t.Errorf("range %+v", r)
			}
		}
		t.Logf("ipv6=%v: %d excluded ranges", v6, len(ranges))
	}
}

// TestListeningTCP finds this process's own listeners, IPv4 and IPv6, in
// the table GetExtendedTcpTable returns: the thin Windows layer under
// Verify. The owner is this process where the host reports owners (Wine
// may report another id for its own processes).
func TestListeningTCP(t *testing.T) {
	var mine []net.Listener
	for _, addr := range []string{"127.0.0.1:0", "[::1]:0"} {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		mine = append(mine, l)
	}
	socks, err := ListeningTCP(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range mine {
		ap := l.Addr().(*net.TCPAddr).AddrPort()
		i := slices.IndexFunc(socks, func(s Socket) bool { return s.Addr == ap })
		switch {
		case i < 0:
			t.Errorf("%v not among the %d listening sockets", ap, len(socks))
		case socks[i].PID != uint32(os.Getpid()) && !isWine():
			t.Errorf("%v is owned by pid %d, want this process, %d", ap, socks[i].PID, os.Getpid())
		default:
			t.Logf("%v owned by pid %d (this process: %d)", ap, socks[i].PID, os.Getpid())
		}
	}
}

// TestIPHelperPID asks the service manager for iphlpsvc's process. Wine
// has no such service: there it must fail, not claim a process.
func TestIPHelperPID(t *testing.T) {
	pid, err := IPHelperPID()
	if isWine() {
		if err == nil && pid != 0 {
			t.Fatalf("IPHelperPID under Wine = %d, want an error or 0", pid)
		}
		t.Logf("IPHelperPID under Wine: %d, %v", pid, err)
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("iphlpsvc runs as pid %d", pid)
}

// TestVerifyWithHostTable runs Verify over the host's real socket table
// and service manager, as NewSystem wires it. An entry on a port nothing
// listens on is never ACTIVE: under Wine, whose netsh and iphlpsvc do
// nothing, that is every portproxy entry. An entry on a port this process
// holds is someone else's on Windows (not iphlpsvc's); under Wine, which
// has no iphlpsvc to compare with, any listener counts.
func TestVerifyWithHostTable(t *testing.T) {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	held := l.Addr().(*net.TCPAddr).AddrPort()
	free, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	freeAP := free.Addr().(*net.TCPAddr).AddrPort()
	free.Close()

	b := New(testStore(t, nil), NetshRunner{}, Options{Listening: ListeningTCP, ServicePID: IPHelperPID})
	mine := tcp(held.String(), "172.28.240.53:4000")
	nobody := tcp(freeAP.String(), "172.28.240.53:4000")
	got := b.Verify(t.Context(), []backend.Entry{mine, nobody})
	if err := got[nobody]; err == nil || !strings.Contains(err.Error(), "nothing listens on "+freeAP.String()) {
		t.Errorf("Verify of %v = %v, want nothing listening", nobody, err)
	}
	err = got[mine]
	switch {
	case isWine() && err != nil:
		t.Errorf("Verify of %v under Wine = %v, want it working (something listens)", mine, err)
	case !isWine() && (err == nil || !strings.Contains(err.Error(), "another process")):
		t.Errorf("Verify of %v = %v, want it held by another process than iphlpsvc", mine, err)
	}
}
