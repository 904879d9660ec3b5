//go:build linux

package kernel

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/nftables/expr"

	"github.com/wslfwd/wslfwd/hostd-windows/backend"
)

// TestDecodeRoundTrip: every rule ruleExprs writes reads back as its
// entry, and a rule cut short or of another shape reads as none.
func TestDecodeRoundTrip(t *testing.T) {
	for _, s := range []string{
		"tcp 0.0.0.0:80 172.28.240.53:80",
		"udp 10.2.3.1:53 172.28.240.53:5353",
		"tcp [::]:443 [fd00::53]:8443",
		"udp [2001:db8::1]:9 [fd00::53]:9",
	} {
		e := parseEntry(t, s)
		ex := ruleExprs(e)
		if got, err := decode(ex); err != nil || got != e {
			t.Errorf("decode(ruleExprs(%s)) = %v, %v", e, got, err)
		}
		for cut := range len(ex) {
			if got, err := decode(ex[:cut]); err == nil {
				t.Errorf("decode of %s cut to %d expressions = %s, want an error", e, cut, got)
			}
		}
		odd := append(ex[:len(ex):len(ex)], &expr.Counter{})
		if _, err := decode(odd); !errors.Is(err, errShape) {
			t.Errorf("decode of %s with a counter: %v, want errShape", e, err)
		}
	}
}

// TestCheckEntry: what NAT cannot carry fails with ErrUnsupported.
func TestCheckEntry(t *testing.T) {
	for s, unsup := range map[string]bool{
		"tcp 0.0.0.0:80 172.28.240.53:80":   false,
		"tcp [::]:80 172.28.240.53:80":      true, // v6tov4
		"tcp 0.0.0.0:80 [fd00::53]:80":      true,
		"tcp 127.0.0.1:80 172.28.240.53:80": true, // loopback clients
		"udp [::1]:80 [fd00::53]:80":        true,
	} {
		err := checkEntry(parseEntry(t, s))
		if got := errors.Is(err, backend.ErrUnsupported); got != unsup {
			t.Errorf("checkEntry(%s) = %v, want ErrUnsupported: %v", s, err, unsup)
		}
	}
}

func parseEntry(t *testing.T, s string) backend.Entry {
	t.Helper()
	f := strings.Fields(s)
	return backend.Entry{Protocol: backend.Protocol(f[0]), Listen: netip.MustParseAddrPort(f[1]), Connect: netip.MustParseAddrPort(f[2])}
}
