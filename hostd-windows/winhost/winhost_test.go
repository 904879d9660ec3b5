package winhost

import (
	"errors"
	"net/netip"
	"testing"
)

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
