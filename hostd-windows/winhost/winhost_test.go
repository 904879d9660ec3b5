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
	} {
		if got, _, err := WSLAddress(adapters); !errors.Is(err, ErrNoWSLAdapter) {
			t.Errorf("WSLAddress(%+v) = %v, %v; want ErrNoWSLAdapter", adapters, got, err)
		}
	}
}
