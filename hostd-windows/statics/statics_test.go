package statics

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/hostd-windows/backend"
	"github.com/wslfwd/wslfwd/hostd-windows/policy"
)

const static = wslfwdv1.ForwardOrigin_FORWARD_ORIGIN_STATIC

func st(p backend.Protocol, port, hp uint16, distro, listen string) policy.Static {
	s := policy.Static{Protocol: p, Port: port, HostPort: hp, Distro: distro, Origin: static}
	if listen != "" {
		s.ListenAddr = netip.MustParseAddr(listen)
	}
	return s
}

func TestAddListRemovePersist(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	a := st(backend.TCP, 5432, 15432, "Ubuntu", "")
	b := st(backend.UDP, 53, 0, "Debian", "127.0.0.1")
	c := st(backend.TCP, 80, 0, "Ubuntu", "::")
	for _, x := range []policy.Static{a, b, c} {
		if err := s.Add(x); err != nil {
			t.Fatal(err)
		}
	}
	want := []policy.Static{a, b, c}
	if got := s.List(); !slices.Equal(got, want) {
		t.Fatalf("List = %v, want %v", got, want)
	}
	s2, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := s2.List(); !slices.Equal(got, want) {
		t.Fatalf("reopened List = %v, want %v", got, want)
	}
	got, err := s2.Remove(backend.TCP, netip.AddrPortFrom(netip.Addr{}, 15432))
	if err != nil || got != a {
		t.Fatalf("Remove = %v, %v; want %v", got, err, a)
	}
	s3, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := s3.List(); !slices.Equal(got, []policy.Static{b, c}) {
		t.Fatalf("after Remove List = %v", got)
	}
}

func TestAddRefusesDuplicatesAndInvalid(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Add(st(backend.TCP, 22, 2222, "Ubuntu", "")); err != nil {
		t.Fatal(err)
	}
	// Same host side (host port 2222 given implicitly) to another target.
	err = s.Add(st(backend.TCP, 2222, 0, "Debian", ""))
	if !errors.Is(err, ErrExists) || !strings.Contains(err.Error(), "Ubuntu port 22") {
		t.Fatalf("duplicate Add = %v, want ErrExists naming the existing forward", err)
	}
	// Other protocol or address: a different host side.
	if err := s.Add(st(backend.UDP, 2222, 0, "Debian", "")); err != nil {
		t.Fatal(err)
	}
	if err := s.Add(st(backend.TCP, 2222, 0, "Debian", "10.2.3.1")); err != nil {
		t.Fatal(err)
	}
	before := s.List()
	for name, bad := range map[string]policy.Static{
		"protocol":  st("sctp", 1, 0, "x", ""),
		"port":      st(backend.TCP, 0, 1, "x", ""),
		"distro":    st(backend.TCP, 1, 0, "", ""),
		"multicast": st(backend.TCP, 1, 0, "x", "224.0.0.1"),
		"zone":      {Protocol: backend.TCP, Port: 1, Distro: "x", ListenAddr: netip.MustParseAddr("fe80::1%eth0")},
	} {
		if err := s.Add(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("Add(%s) = %v, want ErrInvalid", name, err)
		}
	}
	if got := s.List(); !slices.Equal(got, before) {
		t.Fatalf("rejected Adds changed the store: %v", got)
	}
}

func TestRemoveUnknown(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Remove(backend.TCP, netip.MustParseAddrPort("0.0.0.0:80"))
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "tcp on 0.0.0.0:80") {
		t.Fatalf("Remove(unknown) = %v", err)
	}
	_, err = s.Remove(backend.TCP, netip.AddrPortFrom(netip.Addr{}, 80))
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "the expose address, port 80") {
		t.Fatalf("Remove(unknown on expose address) = %v", err)
	}
}

// When the state directory is gone, Add and Remove fail and the store in
// memory is unchanged.
func TestUnwritableKeepsMemory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	a := st(backend.TCP, 1, 0, "x", "")
	if err := s.Add(a); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := s.Add(st(backend.TCP, 2, 0, "x", "")); err == nil {
		t.Error("Add into a removed directory succeeded")
	}
	if _, err := s.Remove(backend.TCP, netip.AddrPortFrom(netip.Addr{}, 1)); err == nil {
		t.Error("Remove into a removed directory succeeded")
	}
	if got := s.List(); !slices.Equal(got, []policy.Static{a}) {
		t.Fatalf("List = %v, want [%v]", got, a)
	}
}

func TestOpenCorrupt(t *testing.T) {
	for name, content := range map[string]string{
		"torn":      `{"version":1,"forwards":[{"protocol":"tcp","port":5`,
		"version":   `{"version":9,"forwards":[]}`,
		"invalid":   `{"version":1,"forwards":[{"protocol":"tcp","port":0,"distro":"x"}]}`,
		"address":   `{"version":1,"forwards":[{"protocol":"tcp","port":1,"distro":"x","listen_address":"nope"}]}`,
		"duplicate": `{"version":1,"forwards":[{"protocol":"tcp","port":1,"distro":"x"},{"protocol":"tcp","port":2,"host_port":1,"distro":"y"}]}`,
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "statics.json")
			if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := Open(dir); err == nil || !strings.Contains(err.Error(), path) {
				t.Fatalf("Open = %v, want an error naming %s", err, path)
			}
		})
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(Encode([]policy.Static{st(backend.TCP, 5432, 15432, "Ubuntu", ""), st(backend.UDP, 53, 0, "D", "::")}))
	f.Add([]byte(`{"version":1,"forwards":[]}`))
	f.Add([]byte(`{"version":1,"forwards":[{"protocol":"udp","port":65535,"distro":"x","listen_address":"fe80::1%1"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		fwd, err := Decode(data)
		if err != nil {
			return
		}
		for _, s := range fwd {
			if err := Validate(s); err != nil {
				t.Fatalf("decoded an invalid forward %v: %v", s, err)
			}
		}
		again, err := Decode(Encode(fwd))
		if err != nil || !slices.Equal(again, fwd) {
			t.Fatalf("round trip: %v, %v; want %v", again, err, fwd)
		}
	})
}
