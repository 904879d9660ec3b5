//go:build windows

package winhost

import (
	"net/netip"
	"testing"
)

// TestAdapters reads the real adapter table: loopback must be there with
// 127.0.0.1, whatever else the host (or Wine) has.
func TestAdapters(t *testing.T) {
	adapters, err := Adapters()
	if err != nil {
		t.Fatal(err)
	}
	loopback := false
	for _, a := range adapters {
		t.Logf("adapter %q: %v", a.Name, a.Addrs)
		for _, ip := range a.Addrs {
			if ip == netip.MustParseAddr("127.0.0.1") {
				loopback = true
			}
		}
	}
	if !loopback {
		t.Errorf("no adapter has 127.0.0.1: %+v", adapters)
	}
}
