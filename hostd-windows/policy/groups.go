package policy

import "github.com/wslfwd/wslfwd/hostd-windows/config"

// Groups partitions ports so that what Decide says about one group never
// depends on a wish of another. A listener's wish is decided on its host
// port, and sockets shared between agents are told apart by their port in
// the distro; the two are the same port unless a remap joins them, so a
// group is a port together with every port a chain of remaps links to it.
// This is what lets the engine decide again only the groups a change
// touched (Input.Only).
type Groups struct {
	of map[uint16]uint16 // a remapped port's group; absent: the port itself
}

// Members returns the ports of group g, in no order.
func (g Groups) Members(grp uint16) []uint16 {
	out := []uint16{grp}
	for p, of := range g.of {
		if of == grp && p != grp {
			out = append(out, p)
		}
	}
	return out
}

// NewGroups derives the groups from cfg's remaps; nil means the default
// config, which has none.
func NewGroups(cfg *config.Config) Groups {
	g := Groups{of: make(map[uint16]uint16)}
	if cfg == nil {
		return g
	}
	for _, r := range cfg.Remaps {
		a, b := g.Of(r.Port), g.Of(r.HostPort)
		if a == b {
			continue
		}
		// Merge b's group into a's: remaps are few, a scan is fine.
		for p, grp := range g.of {
			if grp == b {
				g.of[p] = a
			}
		}
		g.of[b] = a
	}
	return g
}

// Of returns the group of port: the same for every port a remap links.
func (g Groups) Of(port uint16) uint16 {
	if grp, ok := g.of[port]; ok {
		return grp
	}
	return port
}
