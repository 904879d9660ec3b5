package portproxy

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/wslfwd/wslfwd/hostd-windows/backend"
)

func entry(proto backend.Protocol, listen, connect string) backend.Entry {
	return backend.Entry{Protocol: proto, Listen: netip.MustParseAddrPort(listen), Connect: netip.MustParseAddrPort(connect)}
}

func tcp(listen, connect string) backend.Entry { return entry(backend.TCP, listen, connect) }

func TestScript(t *testing.T) {
	tests := []struct {
		name  string
		batch backend.Batch
		want  []string
	}{
		{"empty", backend.Batch{}, nil},
		{
			"v4tov4 add",
			backend.Batch{Add: []backend.Entry{tcp("0.0.0.0:4000", "172.28.240.53:4000")}},
			[]string{"interface portproxy add v4tov4 listenport=4000 listenaddress=0.0.0.0 connectport=4000 connectaddress=172.28.240.53 protocol=tcp"},
		},
		{
			"v6tov4 add with remapped port",
			backend.Batch{Add: []backend.Entry{tcp("[::]:8080", "172.28.240.53:80")}},
			[]string{"interface portproxy add v6tov4 listenport=8080 listenaddress=:: connectport=80 connectaddress=172.28.240.53 protocol=tcp"},
		},
		{
			"v4tov6 and v6tov6",
			backend.Batch{Add: []backend.Entry{tcp("10.2.3.1:22", "[fd00::53]:22"), tcp("[fd00::1]:443", "[fd00::53]:8443")}},
			[]string{
				"interface portproxy add v4tov6 listenport=22 listenaddress=10.2.3.1 connectport=22 connectaddress=fd00::53 protocol=tcp",
				"interface portproxy add v6tov6 listenport=443 listenaddress=fd00::1 connectport=8443 connectaddress=fd00::53 protocol=tcp",
			},
		},
		{
			"removals before additions",
			backend.Batch{
				Add:    []backend.Entry{tcp("0.0.0.0:80", "172.28.240.54:80")},
				Remove: []backend.Entry{tcp("0.0.0.0:80", "172.28.240.53:80"), tcp("[::]:81", "172.28.240.53:81")},
			},
			[]string{
				"interface portproxy delete v4tov4 listenport=80 listenaddress=0.0.0.0 protocol=tcp",
				"interface portproxy delete v6tov4 listenport=81 listenaddress=:: protocol=tcp",
				"interface portproxy add v4tov4 listenport=80 listenaddress=0.0.0.0 connectport=80 connectaddress=172.28.240.54 protocol=tcp",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Script(tt.batch)
			if err != nil {
				t.Fatal(err)
			}
			want := ""
			if tt.want != nil {
				want = strings.Join(tt.want, "\r\n") + "\r\n"
			}
			if got != want {
				t.Errorf("Script() =\n%s\nwant\n%s", got, want)
			}
		})
	}
}

func TestScriptRefuses(t *testing.T) {
	tests := []struct {
		name    string
		e       backend.Entry
		wantErr error // nil: any error
	}{
		{"udp", entry(backend.UDP, "0.0.0.0:53", "172.28.240.53:53"), backend.ErrUnsupported},
		{"zone", tcp("[fe80::1%eth0]:80", "[fe80::2]:80"), backend.ErrUnsupported},
		{"mapped", tcp("[::ffff:10.0.0.1]:80", "172.28.240.53:80"), backend.ErrUnsupported},
		{"listen port 0", tcp("0.0.0.0:0", "172.28.240.53:80"), nil},
		{"connect port 0", tcp("0.0.0.0:80", "172.28.240.53:0"), nil},
		{"unspecified connect", tcp("0.0.0.0:80", "0.0.0.0:80"), nil},
		{"missing address", backend.Entry{Protocol: backend.TCP, Connect: netip.MustParseAddrPort("1.2.3.4:5")}, nil},
		{"bad protocol", entry("tcp listenport=1", "0.0.0.0:80", "172.28.240.53:80"), backend.ErrUnsupported},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, b := range []backend.Batch{{Add: []backend.Entry{tt.e}}, {Remove: []backend.Entry{tt.e}}} {
				s, err := Script(b)
				if err == nil {
					t.Fatalf("Script(%v) = %q, want an error", b, s)
				}
				if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
					t.Errorf("Script(%v) error %v, want %v", b, err, tt.wantErr)
				}
			}
		})
	}
}

func TestKindOf(t *testing.T) {
	for _, tt := range []struct {
		l, c string
		want Kind
	}{
		{"0.0.0.0", "1.2.3.4", V4ToV4},
		{"0.0.0.0", "fd00::1", V4ToV6},
		{"::", "1.2.3.4", V6ToV4},
		{"::", "fd00::1", V6ToV6},
	} {
		if got := KindOf(netip.MustParseAddr(tt.l), netip.MustParseAddr(tt.c)); got != tt.want {
			t.Errorf("KindOf(%s, %s) = %s, want %s", tt.l, tt.c, got, tt.want)
		}
	}
}

// FuzzScript renders an entry, runs the script through the fake netsh and
// reads the registry back: what was rendered must come back as the same
// entry, and nothing else may appear.
func FuzzScript(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0}, uint16(4000), []byte{172, 28, 240, 53}, uint16(4000))
	f.Add(make([]byte, 16), uint16(80), []byte{0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x53}, uint16(8080))
	f.Add([]byte{10, 2, 3, 1}, uint16(0), []byte{0, 0, 0, 0}, uint16(1))
	f.Fuzz(func(t *testing.T, listen []byte, lport uint16, connect []byte, cport uint16) {
		la, ok1 := netip.AddrFromSlice(listen)
		ca, ok2 := netip.AddrFromSlice(connect)
		if !ok1 || !ok2 {
			return
		}
		e := backend.Entry{Protocol: backend.TCP, Listen: netip.AddrPortFrom(la, lport), Connect: netip.AddrPortFrom(ca, cport)}
		script, err := Script(backend.Batch{Add: []backend.Entry{e}})
		if err != nil {
			return
		}
		if strings.Count(script, "\r\n") != 1 {
			t.Fatalf("one entry rendered as %q", script)
		}
		store := newMemStore()
		if out, _ := (&fakeNetsh{store: store}).Run(t.Context(), script); len(out) != 0 {
			t.Fatalf("netsh refused %q: %s", script, out)
		}
		values, _ := store.Read()
		snap := Sort(values)
		if len(snap.Entries) != 1 || snap.Entries[0] != e || len(snap.Unparsed) != 0 {
			t.Fatalf("rendered %v as %q, read back %+v", e, script, snap)
		}
	})
}
