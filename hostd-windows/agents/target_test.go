package agents

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestTargetRules(t *testing.T) {
	host := func() ([]netip.Addr, error) {
		return []netip.Addr{netip.MustParseAddr("10.2.3.1"), netip.MustParseAddr("fd00::1")}, nil
	}
	strict := TargetRules{HostAddrs: host}
	for addr, want := range map[string]string{
		"172.28.240.53":   "",
		"fd00::53":        "",
		"::ffff:10.0.0.9": "",
		"0.0.0.0":         "unspecified",
		"::":              "unspecified",
		"127.0.0.1":       "loopback",
		"127.9.9.9":       "loopback",
		"::1":             "loopback",
		"169.254.7.7":     "link-local",
		"fe80::1%eth0":    "link-local",
		"224.0.0.251":     "multicast",
		"ff02::1":         "multicast",
		"255.255.255.255": "broadcast",
		"0.0.0.7":         "0.0.0.0/8",
		"192.0.2.2":       "documentation",
		"198.51.100.1":    "documentation",
		"203.0.113.200":   "documentation",
		"2001:db8::5":     "documentation",
		"10.2.3.1":        "the host itself",
		"::ffff:10.2.3.1": "the host itself",
		"fd00::1":         "the host itself",
	} {
		err := strict.Check(netip.MustParseAddr(addr))
		if want == "" && err != nil || want != "" && (err == nil || !strings.Contains(err.Error(), want)) {
			t.Errorf("Check(%s) = %v, want %q", addr, err, want)
		}
	}
	if err := (TargetRules{HostAddrs: host, AllowLoopback: true}).Check(netip.MustParseAddr("127.0.0.1")); err != nil {
		t.Errorf("AllowLoopback refused 127.0.0.1: %v", err)
	}
	// Not knowing the host's addresses refuses: it must never read as "none".
	broken := TargetRules{HostAddrs: func() ([]netip.Addr, error) { return nil, errors.New("no") }}
	if err := broken.Check(netip.MustParseAddr("172.28.240.53")); err == nil {
		t.Error("a failed host address lookup admitted a target")
	}
	// The real lookup lists at least loopback, which is the host's own.
	own, err := InterfaceAddrs()
	if err != nil || len(own) == 0 {
		t.Fatalf("InterfaceAddrs = %v, %v", own, err)
	}
}

// Every loopback address is one source; every address of the WSL network
// (the VM can send from any free one) is one source too, named by the
// daemon's address it came in on; without a local address, the remote's.
func TestSourceCountsTheVMOnce(t *testing.T) {
	wslAddr := netip.MustParseAddrPort("172.28.240.1:17810")
	for _, tc := range []struct {
		remote, local string
		want          string
	}{
		{"127.0.0.1:5000", "127.0.0.1:17810", "::1"},
		{"127.0.0.2:5000", "127.0.0.1:17810", "::1"},
		{"[::1]:5000", "[::1]:17810", "::1"},
		{"172.28.240.53:5000", wslAddr.String(), "172.28.240.1"},
		{"172.28.240.54:5000", wslAddr.String(), "172.28.240.1"},
		{"[::ffff:172.28.240.99]:5000", wslAddr.String(), "172.28.240.1"},
		{"172.28.240.53:5000", "", "172.28.240.53"},
	} {
		var local netip.AddrPort
		if tc.local != "" {
			local = netip.MustParseAddrPort(tc.local)
		}
		if got := Source(netip.MustParseAddrPort(tc.remote), local); got.String() != tc.want {
			t.Errorf("Source(%s, %s) = %s, want %s", tc.remote, tc.local, got, tc.want)
		}
	}
}

// The host's addresses are listed at most once a second however many
// hellos read them; a failed listing is not kept.
func TestHostAddrsAreCached(t *testing.T) {
	now := time.Unix(1000, 0)
	fetches, fail := 0, false
	c := &addrCache{ttl: time.Second, now: func() time.Time { return now }, fetch: func() ([]netip.Addr, error) {
		fetches++
		if fail {
			return nil, errors.New("no")
		}
		return []netip.Addr{netip.MustParseAddr("172.28.240.1")}, nil
	}}
	for range 1000 {
		if a, err := c.get(); err != nil || len(a) != 1 {
			t.Fatalf("get = %v, %v", a, err)
		}
	}
	if fetches != 1 {
		t.Fatalf("1,000 reads within a second listed the interfaces %d times, want 1", fetches)
	}
	now, fail = now.Add(time.Second), true
	if _, err := c.get(); err == nil {
		t.Fatal("a failed listing a second later was hidden by the old one")
	}
	fail = false
	if _, err := c.get(); err != nil || fetches != 3 {
		t.Fatalf("after a failure: %v, %d listings; want a new one (3)", err, fetches)
	}
}
