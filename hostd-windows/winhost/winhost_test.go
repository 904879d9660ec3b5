package winhost

import (
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"unicode/utf16"
)

func utf16le(s string, bom bool) []byte {
	var b []byte
	if bom {
		b = append(b, 0xFF, 0xFE)
	}
	for _, u := range utf16.Encode([]rune(s)) {
		b = append(b, byte(u), byte(u>>8))
	}
	return b
}

// What `wsl.exe -l --running -q` prints, as it arrives.
func TestParseNames(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want DistroList
	}{
		{"utf16le with bom", utf16le("Ubuntu-22.04\r\ndocker-desktop\r\n", true),
			DistroList{Names: []string{"Ubuntu-22.04", "docker-desktop"}}},
		{"utf16le without bom", utf16le("Ubuntu\r\n", false), DistroList{Names: []string{"Ubuntu"}}},
		{"utf8 (WSL_UTF8=1), lf, blank lines", []byte("Debian\n\nkali-linux\n"), DistroList{Names: []string{"Debian", "kali-linux"}}},
		{"none running, english", utf16le("There are no running distributions.\r\n", false),
			DistroList{Said: "There are no running distributions."}},
		{"none running, german", utf16le("Es werden keine Distributionen ausgeführt.\r\n", true),
			DistroList{Said: "Es werden keine Distributionen ausgeführt."}},
		{"not installed", utf16le("Windows Subsystem for Linux has no installed distributions.\r\nhttps://aka.ms/wslstore\r\n", false),
			DistroList{Names: nil, Said: "Windows Subsystem for Linux has no installed distributions. https://aka.ms/wslstore"}},
		{"nothing", nil, DistroList{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ParseNames(tt.in); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

// Whatever arrives, a name never holds a space, a path separator or a
// quote: names go on command lines (wsl.exe -d NAME).
func FuzzParseNames(f *testing.F) {
	f.Add(utf16le("Ubuntu\r\nDebian\r\n", true))
	f.Add([]byte("There are no running distributions.\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, n := range ParseNames(b).Names {
			if n == "" || strings.ContainsAny(n, " \t\r\n\\/\"'") {
				t.Fatalf("bad name %q from %q", n, b)
			}
		}
	})
}

func TestWSLAddress(t *testing.T) {
	a := netip.MustParseAddr
	tests := []struct {
		name     string
		adapters []Adapter
		want     netip.Addr
		wantName string
	}{
		{"nat", []Adapter{
			{Name: "Ethernet", Addrs: []netip.Addr{a("192.168.1.20")}},
			{Name: "vEthernet (WSL)", Addrs: []netip.Addr{a("fe80::1"), a("169.254.3.4"), a("172.28.240.1")}},
		}, a("172.28.240.1"), "vEthernet (WSL)"},
		{"hyper-v firewall name", []Adapter{
			{Name: "vEthernet (Default Switch)", Addrs: []netip.Addr{a("172.17.0.1")}},
			{Name: "vEthernet (WSL (Hyper-V firewall))", Addrs: []netip.Addr{a("172.23.176.1")}},
		}, a("172.23.176.1"), "vEthernet (WSL (Hyper-V firewall))"},
		{"exact name wins", []Adapter{
			{Name: "vEthernet (WSL (Hyper-V firewall))", Addrs: []netip.Addr{a("172.23.176.1")}},
			{Name: "vEthernet (WSL)", Addrs: []netip.Addr{a("172.28.240.1")}},
		}, a("172.28.240.1"), "vEthernet (WSL)"},
		{"case-insensitive", []Adapter{{Name: "VETHERNET (wsl)", Addrs: []netip.Addr{a("172.28.240.1")}}}, a("172.28.240.1"), "VETHERNET (wsl)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, name, err := WSLAddress(tt.adapters)
			if err != nil || got != tt.want || name != tt.wantName {
				t.Errorf("WSLAddress = %v, %q, %v; want %v, %q", got, name, err, tt.want, tt.wantName)
			}
		})
	}
	for _, adapters := range [][]Adapter{
		nil,
		{{Name: "Ethernet", Addrs: []netip.Addr{a("192.168.1.20")}}},
		{{Name: "vEthernet (WSL)", Addrs: []netip.Addr{a("fe80::1")}}}, // mirrored mode leftovers
		{{Name: "vEthernet (Default Switch)", Addrs: []netip.Addr{a("172.17.0.1")}}},
		{{Name: "vEthernet (WSLBridge)", Addrs: []netip.Addr{a("192.168.50.1")}}}, // a user's switch, not WSL's
		{{Name: "vEthernet (WSL) 2", Addrs: []netip.Addr{a("192.168.51.1")}}},
	} {
		if got, _, err := WSLAddress(adapters); !errors.Is(err, ErrNoWSLAdapter) {
			t.Errorf("WSLAddress(%+v) = %v, %v; want ErrNoWSLAdapter", adapters, got, err)
		}
	}
}

func TestLANAddress(t *testing.T) {
	a := func(name string, addrs ...string) Adapter {
		ad := Adapter{Name: name}
		for _, s := range addrs {
			ad.Addrs = append(ad.Addrs, netip.MustParseAddr(s))
		}
		return ad
	}
	wsl := a("vEthernet (WSL (Hyper-V firewall))", "172.28.240.1")
	def := a("vEthernet (Default Switch)", "172.20.0.1")
	lo := a("Loopback Pseudo-Interface 1", "127.0.0.1")
	wifi := a("Wi-Fi", "fe80::1", "169.254.3.4", "192.168.1.20")
	ip, name, err := LANAddress([]Adapter{wsl, def, lo, wifi})
	if err != nil || ip != netip.MustParseAddr("192.168.1.20") || name != "Wi-Fi" {
		t.Errorf("LANAddress = %v %q %v, want Wi-Fi's 192.168.1.20", ip, name, err)
	}
	// Only an external Hyper-V switch has the LAN: it counts, WSL's never.
	ip, _, err = LANAddress([]Adapter{wsl, a("vEthernet (External)", "10.0.0.5")})
	if err != nil || ip != netip.MustParseAddr("10.0.0.5") {
		t.Errorf("external switch: %v %v", ip, err)
	}
	if _, _, err := LANAddress([]Adapter{wsl, lo}); err == nil {
		t.Error("a host with only WSL's adapter has a LAN address")
	}
}
