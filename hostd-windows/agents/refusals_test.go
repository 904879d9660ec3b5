package agents

import (
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/internal/syncbuf"
)

// Refusals under ever new distro names are each recorded but logged at
// most refusalLogMax times a minute in all.
func TestRefusalLogIsBounded(t *testing.T) {
	var logs syncbuf.Buffer
	now := time.Unix(1000, 0)
	r := New(Options{Logger: slog.New(slog.NewTextHandler(&logs, nil)), Now: func() time.Time { return now }})
	peer := netip.MustParseAddrPort("127.0.0.1:5000") // NAT from loopback: refused
	for i := range 100 {
		h := &wslfwdv1.AgentHello{Distro: fmt.Sprintf("d%d", i), NetworkingMode: wslfwdv1.NetworkingMode_NETWORKING_MODE_NAT}
		if _, err := r.Open(h, peer, peer); err == nil {
			t.Fatal("NAT hello from loopback accepted")
		}
	}
	if n := strings.Count(logs.String(), "agent session refused"); n != refusalLogMax {
		t.Fatalf("%d refusals logged in a minute, want %d", n, refusalLogMax)
	}
	if got := len(r.Refusals()); got != maxRefusals {
		t.Fatalf("%d refusal rows kept, want the %d newest", got, maxRefusals)
	}
	now = now.Add(refusalLogEvery)
	if _, err := r.Open(&wslfwdv1.AgentHello{Distro: "late", NetworkingMode: wslfwdv1.NetworkingMode_NETWORKING_MODE_NAT}, peer, peer); err == nil {
		t.Fatal("accepted")
	}
	if !strings.Contains(logs.String(), "suppressed_other_refusals=80") {
		t.Fatalf("the next minute's first line does not count the 80 not logged:\n%s", logs.String())
	}
}
