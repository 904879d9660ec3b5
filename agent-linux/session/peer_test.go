package session

import (
	"errors"
	"log/slog"
	"net/netip"
	"testing"
)

// The token goes on no connection whose other end is a socket of a user
// other than root in the distro; root's, a socket elsewhere, and one the
// lookup cannot tell about are let through.
func TestCheckPeerRefusesOnlyAnotherUsersSocket(t *testing.T) {
	local, remote := netip.MustParseAddrPort("127.0.0.1:50000"), netip.MustParseAddrPort("127.0.0.1:17810")
	for _, c := range []struct {
		uid   uint32
		found bool
		err   error
		want  error
	}{
		{1000, true, nil, errImpostor},
		{0, true, nil, nil},
		{0, false, nil, nil},
		{0, false, errors.New("no sock_diag"), nil},
	} {
		l := localAddr{log: slog.New(slog.DiscardHandler), owner: func(lo, re netip.AddrPort) (uint32, bool, error) {
			if lo != local || re != remote {
				t.Fatalf("asked about %v -> %v, want %v -> %v", lo, re, local, remote)
			}
			return c.uid, c.found, c.err
		}}
		if err := l.checkPeer(local, remote); !errors.Is(err, c.want) {
			t.Errorf("uid %d found %v err %v: checkPeer = %v, want %v", c.uid, c.found, c.err, err, c.want)
		}
	}
}
