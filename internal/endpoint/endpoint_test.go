package endpoint

import (
	"net/netip"
	"strings"
	"testing"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
)

func TestForMode(t *testing.T) {
	gw := netip.MustParseAddr("172.28.240.1")
	cases := []struct {
		mode    wslfwdv1.NetworkingMode
		gw      netip.Addr
		want    string
		wantErr string
	}{
		{wslfwdv1.NetworkingMode_NETWORKING_MODE_NAT, gw, "172.28.240.1:17810", ""},
		{wslfwdv1.NetworkingMode_NETWORKING_MODE_NAT, netip.Addr{}, "", "no IPv4 default gateway"},
		{wslfwdv1.NetworkingMode_NETWORKING_MODE_NAT, netip.MustParseAddr("fe80::1"), "", "no IPv4 default gateway"},
		{wslfwdv1.NetworkingMode_NETWORKING_MODE_MIRRORED, netip.Addr{}, "127.0.0.1:17810", ""},
		{wslfwdv1.NetworkingMode_NETWORKING_MODE_WSL1, gw, "127.0.0.1:17810", ""},
		{wslfwdv1.NetworkingMode_NETWORKING_MODE_BRIDGED, gw, "", "bridged has no default"},
		{wslfwdv1.NetworkingMode_NETWORKING_MODE_VIRTIOPROXY, gw, "", "virtioproxy has no default"},
		{wslfwdv1.NetworkingMode_NETWORKING_MODE_NONE, gw, "", "none has no default"},
		{wslfwdv1.NetworkingMode_NETWORKING_MODE_UNKNOWN, gw, "", "unknown has no default"},
	}
	for _, c := range cases {
		addr, why, err := ForMode(c.mode, c.gw)
		if c.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("ForMode(%v, %v) err = %v, want containing %q", c.mode, c.gw, err, c.wantErr)
			}
			continue
		}
		if err != nil || addr != c.want || why == "" {
			t.Errorf("ForMode(%v, %v) = %q, %q, %v; want %q with a reason", c.mode, c.gw, addr, why, err, c.want)
		}
	}
}

func TestParseMode(t *testing.T) {
	for in, want := range map[string]wslfwdv1.NetworkingMode{
		"nat\n":         wslfwdv1.NetworkingMode_NETWORKING_MODE_NAT,
		" Mirrored\r\n": wslfwdv1.NetworkingMode_NETWORKING_MODE_MIRRORED,
		"bridged":       wslfwdv1.NetworkingMode_NETWORKING_MODE_BRIDGED,
		"virtioproxy":   wslfwdv1.NetworkingMode_NETWORKING_MODE_VIRTIOPROXY,
		"consomme":      wslfwdv1.NetworkingMode_NETWORKING_MODE_VIRTIOPROXY,
		"none":          wslfwdv1.NetworkingMode_NETWORKING_MODE_NONE,
		"wsl1":          wslfwdv1.NetworkingMode_NETWORKING_MODE_WSL1,
	} {
		if got, ok := ParseMode(in); !ok || got != want {
			t.Errorf("ParseMode(%q) = %v, %v; want %v", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "unknown", "natural", "nat mirrored", "n\x00at"} {
		if got, ok := ParseMode(in); ok {
			t.Errorf("ParseMode(%q) = %v, want not ok", in, got)
		}
	}
}

// FuzzParseMode: every accepted text names its mode (ModeName), modulo
// white space, case and the consomme alias.
func FuzzParseMode(f *testing.F) {
	for _, s := range []string{"nat", " mirrored\r\n", "CONSOMME", "wsl1", "", "unknown", "\u212a"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, ok := ParseMode(s)
		if !ok {
			if m != wslfwdv1.NetworkingMode_NETWORKING_MODE_UNSPECIFIED {
				t.Fatalf("ParseMode(%q) not ok but returned %v", s, m)
			}
			return
		}
		name := strings.ToLower(strings.TrimSpace(s))
		if name == "consomme" {
			name = "virtioproxy"
		}
		if ModeName(m) != name {
			t.Fatalf("ParseMode(%q) = %v, named %q", s, m, ModeName(m))
		}
	})
}

func TestParseHost(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.0.1":         "127.0.0.1:17810",
		"127.0.0.1:9":       "127.0.0.1:9",
		"localhost":         "localhost:17810",
		"winhost:17811":     "winhost:17811",
		"::1":               "[::1]:17810",
		"[::1]:5":           "[::1]:5",
		"172.28.240.1:0017": "172.28.240.1:17",
		"host.local":        "host.local:17810",
		"fd00::1":           "[fd00::1]:17810",
		"[fd00::1]:9000":    "[fd00::1]:9000",
	} {
		got, err := ParseHost(in)
		if err != nil || got != want {
			t.Errorf("ParseHost(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", ":17810", "host:", "host:0", "host:65536", "host:http", "a b", "[::1", "[::1]", "http://host", "a:b:c:d:e:f:g:h:i"} {
		if got, err := ParseHost(in); err == nil {
			t.Errorf("ParseHost(%q) = %q, want an error", in, got)
		}
	}
}

func FuzzParseHost(f *testing.F) {
	for _, s := range []string{"127.0.0.1", "host:1", "[::1]:5", "::1", "", ":", "[", "a b", "h:65536"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseHost(s)
		if err != nil {
			return
		}
		// What ParseHost returns is a valid host:port it accepts again
		// unchanged.
		again, err := ParseHost(got)
		if err != nil || again != got {
			t.Fatalf("ParseHost(%q) = %q, which gives %q, %v", s, got, again, err)
		}
	})
}
