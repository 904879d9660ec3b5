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

const english = "  NAME                   STATE           VERSION\r\n" +
	"* Ubuntu-22.04           Running         2\r\n" +
	"  docker-desktop         Stopped         2\r\n" +
	"  Legacy                 Stopped         1\r\n"

var englishWant = []Distro{
	{Name: "Ubuntu-22.04", State: "Running", Version: 2, Default: true},
	{Name: "docker-desktop", State: "Stopped", Version: 2},
	{Name: "Legacy", State: "Stopped", Version: 1},
}

func TestParseList(t *testing.T) {
	german := "  NAME      STATUS            VERSION\r\n* Debian    Wird ausgeführt   2\r\n  Alpine    Beendet           2\r\n"
	tests := []struct {
		name string
		in   []byte
		want []Distro
	}{
		{"utf16le with bom", utf16le(english, true), englishWant},
		{"utf16le without bom", utf16le(english, false), englishWant},
		{"utf8 (WSL_UTF8=1)", []byte(english), englishWant},
		{"lf line ends, no header", []byte("* Ubuntu Running 2\n  Other Installing 2\n"), []Distro{
			{Name: "Ubuntu", State: "Running", Version: 2, Default: true},
			{Name: "Other", State: "Installing", Version: 2},
		}},
		{"german, multi-word state", utf16le(german, false), []Distro{
			{Name: "Debian", State: "Wird ausgeführt", Version: 2, Default: true},
			{Name: "Alpine", State: "Beendet", Version: 2},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseList(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
	if !englishWant[0].Running() || englishWant[1].Running() {
		t.Error("Running() wrong for the English states")
	}
}

func TestParseListNone(t *testing.T) {
	for _, in := range [][]byte{
		nil,
		utf16le("Windows Subsystem for Linux has no installed distributions.\r\nDistributions can be installed by visiting the Microsoft Store:\r\nhttps://aka.ms/wslstore\r\n", true),
		utf16le("  NAME STATE VERSION\r\n", false),
		[]byte("Invalid command line option: -v\r\n"),
	} {
		ds, err := ParseList(in)
		if err == nil {
			t.Errorf("ParseList(%q) = %+v, want an error", in, ds)
		}
	}
	_, err := ParseList(utf16le("Windows Subsystem for Linux has no installed distributions.\r\n", true))
	if err == nil || !strings.Contains(err.Error(), "has no installed distributions") {
		t.Errorf("error %v does not carry wsl.exe's text", err)
	}
}

func FuzzParseList(f *testing.F) {
	f.Add(utf16le(english, true))
	f.Add(utf16le(english, false))
	f.Add([]byte(english))
	f.Add([]byte("* a b c 2\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		ds, err := ParseList(b)
		if err != nil {
			return
		}
		for _, d := range ds {
			if d.Name == "" || d.State == "" || (d.Version != 1 && d.Version != 2) || strings.ContainsAny(d.Name, " \t\r\n") {
				t.Fatalf("bad distro %+v from %q", d, b)
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
