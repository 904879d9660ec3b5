// Package statics keeps the static forwards pinned with `wslfwd expose`, in
// <state dir>/statics.json, so they survive a daemon restart.
//
// A static forward is identified by its host side: protocol, host address
// (zero: the daemon's expose address) and host port. Two statics on one host
// side are refused here; a static that collides with a config forward or a
// listener is reported by the policy as a conflict.
//
// A corrupt file is an error naming the file: the daemon does not start
// rather than silently forget pinned forwards. Fix or delete the file.
package statics

import (
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
	"sync"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/hostd-windows/backend"
	"github.com/wslfwd/wslfwd/hostd-windows/policy"
	"github.com/wslfwd/wslfwd/hostd-windows/statefile"
)

// Errors callers map to status codes.
var (
	ErrExists   = errors.New("a static forward already uses this host address and port")
	ErrNotFound = errors.New("no such static forward")
	ErrInvalid  = errors.New("invalid static forward")
)

const version = 1

// Store is the set of static forwards. Safe for concurrent use.
type Store struct {
	path string

	mu  sync.Mutex
	fwd []policy.Static // in the order they were added: earlier wins conflicts
}

type fileFormat struct {
	Version  int         `json:"version"`
	Forwards []fileEntry `json:"forwards"`
}

type fileEntry struct {
	Protocol backend.Protocol `json:"protocol"`
	Port     uint16           `json:"port"`
	Distro   string           `json:"distro"`
	HostPort uint16           `json:"host_port,omitempty"`
	Listen   string           `json:"listen_address,omitempty"`
}

// Open loads the store from dir, creating dir (owner-only) if needed. A
// missing file is an empty store.
func Open(dir string) (*Store, error) {
	path := filepath.Join(dir, "statics.json")
	data, ok, err := statefile.Load(path)
	if err != nil {
		return nil, fmt.Errorf("open static forwards: %w", err)
	}
	s := &Store{path: path}
	if !ok {
		return s, nil
	}
	if s.fwd, err = Decode(data); err != nil {
		return nil, fmt.Errorf("static forwards file %s is corrupt (%w): repair or delete it", path, err)
	}
	return s, nil
}

// List returns the static forwards in the order they were added.
func (s *Store) List() []policy.Static {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.fwd)
}

// Add validates st and saves it. Origin is set to STATIC.
func (s *Store) Add(st policy.Static) error {
	st.Origin = wslfwdv1.ForwardOrigin_FORWARD_ORIGIN_STATIC
	if err := Validate(st); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k := key(st)
	for _, o := range s.fwd {
		if key(o) == k {
			return fmt.Errorf("%s %s: %w (to %s port %d)", st.Protocol, hostString(st), ErrExists, o.Distro, o.Port)
		}
	}
	return s.save(append(slices.Clone(s.fwd), st))
}

// Remove deletes the static forward on protocol p and host address:port
// listen (a zero address means the expose address) and returns it.
func (s *Store) Remove(p backend.Protocol, listen netip.AddrPort) (policy.Static, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := hostKey{p, listen}
	i := slices.IndexFunc(s.fwd, func(o policy.Static) bool { return key(o) == k })
	if i < 0 {
		where := listen.String()
		if !listen.Addr().IsValid() {
			where = fmt.Sprintf("the expose address, port %d", listen.Port())
		}
		return policy.Static{}, fmt.Errorf("%s on %s: %w (there are %d)", p, where, ErrNotFound, len(s.fwd))
	}
	st := s.fwd[i]
	if err := s.save(slices.Delete(slices.Clone(s.fwd), i, i+1)); err != nil {
		return policy.Static{}, err
	}
	return st, nil
}

// save writes next to disk, then makes it current. Called with s.mu held.
func (s *Store) save(next []policy.Static) error {
	if err := statefile.WriteAtomic(s.path, Encode(next), 0o600); err != nil {
		return fmt.Errorf("save static forwards: %w", err)
	}
	s.fwd = next
	return nil
}

// Validate checks a static forward: protocol tcp or udp, ports 1-65535 (host
// port 0 means the same as port), a distro, and a host address one can
// listen on.
func Validate(st policy.Static) error {
	switch {
	case st.Protocol != backend.TCP && st.Protocol != backend.UDP:
		return fmt.Errorf("%w: protocol %q is not tcp or udp", ErrInvalid, st.Protocol)
	case st.Port == 0:
		return fmt.Errorf("%w: port 0 out of range 1-65535", ErrInvalid)
	case st.Distro == "":
		return fmt.Errorf("%w: no distro", ErrInvalid)
	}
	if a := st.ListenAddr; a.IsValid() && (a.Zone() != "" || a.IsMulticast()) {
		return fmt.Errorf("%w: cannot listen on %s", ErrInvalid, a)
	}
	return nil
}

type hostKey struct {
	p      backend.Protocol
	listen netip.AddrPort
}

func key(st policy.Static) hostKey {
	hp := st.HostPort
	if hp == 0 {
		hp = st.Port
	}
	return hostKey{st.Protocol, netip.AddrPortFrom(st.ListenAddr, hp)}
}

func hostString(st policy.Static) string {
	k := key(st)
	if !k.listen.Addr().IsValid() {
		return fmt.Sprintf("expose address, port %d", k.listen.Port())
	}
	return k.listen.String()
}

// Encode renders the file format.
func Encode(fwd []policy.Static) []byte {
	f := fileFormat{Version: version, Forwards: make([]fileEntry, 0, len(fwd))}
	for _, st := range fwd {
		e := fileEntry{Protocol: st.Protocol, Port: st.Port, Distro: st.Distro, HostPort: st.HostPort}
		if st.ListenAddr.IsValid() {
			e.Listen = st.ListenAddr.String()
		}
		f.Forwards = append(f.Forwards, e)
	}
	return statefile.EncodeJSON(f)
}

// Decode parses the file format; every forward must pass Validate and no
// two may share a host side.
func Decode(data []byte) ([]policy.Static, error) {
	var f fileFormat
	if err := statefile.DecodeJSON(data, &f); err != nil {
		return nil, err
	}
	if f.Version != version {
		return nil, fmt.Errorf("version %d, this wslfwd reads version %d", f.Version, version)
	}
	out := make([]policy.Static, 0, len(f.Forwards))
	seen := map[hostKey]bool{}
	for i, e := range f.Forwards {
		st := policy.Static{Protocol: e.Protocol, Port: e.Port, Distro: e.Distro, HostPort: e.HostPort,
			Origin: wslfwdv1.ForwardOrigin_FORWARD_ORIGIN_STATIC}
		if e.Listen != "" {
			a, err := netip.ParseAddr(e.Listen)
			if err != nil {
				return nil, fmt.Errorf("forward %d: listen_address: %w", i, err)
			}
			st.ListenAddr = a
		}
		if err := Validate(st); err != nil {
			return nil, fmt.Errorf("forward %d: %w", i, err)
		}
		if seen[key(st)] {
			return nil, fmt.Errorf("forward %d: %w", i, ErrExists)
		}
		seen[key(st)] = true
		out = append(out, st)
	}
	return out, nil
}
