package policy

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"slices"
	"testing"
	"time"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/hostd-windows/backend"
	"github.com/wslfwd/wslfwd/hostd-windows/config"
)

func TestGroupsFollowRemapChains(t *testing.T) {
	cfg := config.Default()
	cfg.Remaps = []config.Remap{{Port: 22, HostPort: 2222}, {Port: 80, HostPort: 8080}, {Port: 2222, HostPort: 80, Distro: "Debian"}}
	g := NewGroups(cfg)
	for _, p := range []uint16{2222, 80, 8080} {
		if g.Of(p) != g.Of(22) {
			t.Errorf("port %d in group %d, want 22's (%d)", p, g.Of(p), g.Of(22))
		}
	}
	if g.Of(443) != 443 || g.Of(443) == g.Of(22) {
		t.Errorf("port 443 in group %d, want its own", g.Of(443))
	}
	members := g.Members(g.Of(22))
	slices.Sort(members)
	if !slices.Equal(members, []uint16{22, 80, 2222, 8080}) {
		t.Errorf("members of 22's group = %v", members)
	}
	if m := g.Members(443); !slices.Equal(m, []uint16{443}) {
		t.Errorf("members of 443's group = %v", m)
	}
}

// TestOnlyMatchesFullDecide checks the promise the incremental engine
// rests on: deciding only some port groups gives exactly the decisions a
// full Decide gives for those groups, with shared sockets, conflicts,
// remaps, statics and config forwards in play.
func TestOnlyMatchesFullDecide(t *testing.T) {
	for seed := range uint64(300) {
		rng := rand.New(rand.NewPCG(seed, 16))
		in := randomInput(rng)
		full := Decide(in)
		groups := NewGroups(in.Config)
		in.Only = map[uint16]bool{}
		for _, p := range ports {
			if rng.IntN(3) == 0 {
				in.Only[groups.Of(p)] = true
			}
		}
		var want []Decision
		for _, d := range full {
			if _, port, _ := d.hostSide(); in.Only[groups.Of(port)] {
				want = append(want, d)
			}
		}
		got := Decide(in)
		if (len(got) != 0 || len(want) != 0) && !reflect.DeepEqual(got, want) {
			t.Fatalf("seed %d: Only %v decides\n%s\nwant\n%s", seed, in.Only, dump(got), dump(want))
		}
	}
}

// ports are few, so that wishes collide.
var ports = []uint16{22, 80, 443, 2222, 8080}

func randomInput(rng *rand.Rand) Input {
	cfg := config.Default()
	cfg.IPv6 = rng.IntN(2) == 0
	if rng.IntN(2) == 0 {
		cfg.Remaps = []config.Remap{{Port: 22, HostPort: 2222, Distro: "Ubuntu"}, {Port: 8080, HostPort: 80, Protocol: backend.TCP}}
	}
	if rng.IntN(3) == 0 {
		cfg.Forwards = []config.StaticForward{{Protocol: backend.TCP, Port: 80, Distro: "Debian", HostPort: 443}}
	}
	in := Input{Config: cfg, ExposeAddr: netip.IPv4Unspecified(), Backend: config.BackendRelay}
	distros := []string{"Ubuntu", "Debian", "Alpine"}
	protos := []wslfwdv1.Protocol{tcp, udp}
	listens := []string{"0.0.0.0", "::", "127.0.0.1", "172.28.240.53", "fd00::53"}
	for i, distro := range distros[:1+rng.IntN(3)] {
		a := agent(fmt.Sprintf("a%d", i), distro, nat)
		a.Targets = []netip.Addr{netip.AddrFrom4([4]byte{172, 28, 240, byte(53 + i)}), ula6}
		a.ConnectedAt = t0.Add(time.Duration(rng.IntN(2)) * time.Second)
		if rng.IntN(5) == 0 {
			a.Mode = wslfwdv1.NetworkingMode_NETWORKING_MODE_MIRRORED
		}
		for range rng.IntN(6) {
			l := &wslfwdv1.Listener{Protocol: protos[rng.IntN(2)], Listen: listens[rng.IntN(len(listens))],
				Port: uint32(ports[rng.IntN(len(ports))]), Inode: uint64(rng.IntN(3)), Pid: uint32(rng.IntN(2))}
			a.Listeners = append(a.Listeners, l)
		}
		in.Agents = append(in.Agents, a)
	}
	for range rng.IntN(3) {
		in.Statics = append(in.Statics, Static{Protocol: backend.TCP, Port: ports[rng.IntN(len(ports))],
			HostPort: ports[rng.IntN(len(ports))], Distro: distros[rng.IntN(3)], Origin: wslfwdv1.ForwardOrigin_FORWARD_ORIGIN_STATIC})
	}
	return in
}
