package relay

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/wslfwd/wslfwd/hostd-windows/backend"
)

func TestCheckEntry(t *testing.T) {
	for _, tc := range []struct {
		proto           backend.Protocol
		listen, connect string
		ok              bool
	}{
		{"tcp", "0.0.0.0:80", "172.28.240.53:80", true},
		{"udp", "127.0.0.1:53", "172.28.240.53:5353", true},
		{"tcp", "[::]:80", "172.28.240.53:80", true},
		{"tcp", "[fe80::1%eth0]:80", "[fe80::2%eth0]:80", true},
		{"tcp", "0.0.0.0:8080", "127.0.0.1:80", true},
		{"sctp", "0.0.0.0:80", "172.28.240.53:80", false},
		{"", "0.0.0.0:80", "172.28.240.53:80", false},
		{"tcp", "0.0.0.0:0", "172.28.240.53:80", false},
		{"tcp", "0.0.0.0:80", "172.28.240.53:0", false},
		{"tcp", "0.0.0.0:80", "0.0.0.0:80", false},
		{"tcp", "0.0.0.0:80", "[::]:81", false},
		{"tcp", "[::ffff:10.0.0.1]:80", "172.28.240.53:80", false},
		{"tcp", "0.0.0.0:80", "[::ffff:10.0.0.1]:80", false},
		{"tcp", "127.0.0.1:80", "127.0.0.1:80", false},
		{"tcp", "0.0.0.0:80", "127.0.0.1:80", false},
		{"tcp", "[::]:80", "[::1]:80", false},
		{"tcp", "0.0.0.0:80", "[::1]:80", true},
		{"tcp", "[::]:80", "127.0.0.1:80", true},
	} {
		e := backend.Entry{Protocol: tc.proto, Listen: parse(t, tc.listen), Connect: parse(t, tc.connect)}
		err := checkEntry(e)
		if (err == nil) != tc.ok {
			t.Errorf("checkEntry(%s) = %v, want ok=%v", e, err, tc.ok)
		}
		if unsup := tc.proto != "tcp" && tc.proto != "udp"; unsup != errors.Is(err, backend.ErrUnsupported) {
			t.Errorf("checkEntry(%s) = %v; wraps ErrUnsupported: %v, want %v", e, err, !unsup, unsup)
		}
	}
	if err := checkEntry(backend.Entry{Protocol: backend.TCP}); err == nil {
		t.Error("checkEntry accepts an entry without addresses")
	}
}

func parse(t *testing.T, s string) netip.AddrPort {
	t.Helper()
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		t.Fatal(err)
	}
	return ap
}

// FuzzCheckEntry checks that every entry checkEntry accepts is one the
// relay can serve without looping into itself, and that only an unknown
// protocol is reported as unsupported.
func FuzzCheckEntry(f *testing.F) {
	f.Add("tcp", "0.0.0.0:80", "172.28.240.53:80")
	f.Add("udp", "[::1]:53", "[fe80::1%eth0]:53")
	f.Add("tcp", "0.0.0.0:80", "127.0.0.1:80")
	f.Add("tcp", "[::ffff:1.2.3.4]:1", "1.2.3.4:0")
	f.Add("TCP", "1.2.3.4:5", "6.7.8.9:10")
	f.Fuzz(func(t *testing.T, proto, listen, connect string) {
		l, _ := netip.ParseAddrPort(listen)
		c, _ := netip.ParseAddrPort(connect)
		e := backend.Entry{Protocol: backend.Protocol(proto), Listen: l, Connect: c}
		err := checkEntry(e)
		known := e.Protocol == backend.TCP || e.Protocol == backend.UDP
		if errors.Is(err, backend.ErrUnsupported) == known {
			t.Fatalf("checkEntry(%s) = %v for a protocol known=%v", e, err, known)
		}
		if err != nil {
			return
		}
		switch {
		case !l.IsValid() || !c.IsValid() || l.Port() == 0 || c.Port() == 0:
			t.Fatalf("accepted %s with a missing address or port", e)
		case l.Addr().Is4In6() || c.Addr().Is4In6():
			t.Fatalf("accepted %s with an IPv4-mapped address", e)
		case c.Addr().IsUnspecified():
			t.Fatalf("accepted %s with an unspecified target", e)
		case l == c:
			t.Fatalf("accepted %s, which forwards to itself", e)
		}
	})
}
