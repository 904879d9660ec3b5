package engine

import (
	"net/netip"
	"testing"
)

func TestLANAddr(t *testing.T) {
	host := []netip.Addr{
		netip.MustParseAddr("127.0.0.1"),
		netip.MustParseAddr("169.254.3.4"),
		netip.MustParseAddr("fe80::1"),
		netip.MustParseAddr("172.28.240.1"),
		netip.MustParseAddr("10.2.3.1"),
	}
	wsl := []netip.Prefix{netip.MustParsePrefix("172.28.240.0/20")}
	if got, ok := lanAddr(host, wsl); !ok || got != netip.MustParseAddr("10.2.3.1") {
		t.Fatalf("lanAddr = %v %v, want 10.2.3.1", got, ok)
	}
	if _, ok := lanAddr(host[:4], wsl); ok {
		t.Fatal("found a LAN address among loopback, link-local and WSL addresses")
	}
}
