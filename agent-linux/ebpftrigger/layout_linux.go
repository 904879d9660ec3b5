//go:build linux

package ebpftrigger

import (
	"errors"
	"fmt"
	"strings"

	"github.com/cilium/ebpf/btf"
)

// sockLayout holds where the listen program finds what it reports about a
// socket, in bytes from the start of the named kernel struct. Kernel
// structs are not ABI, so New reads the offsets from the running kernel's
// BTF; without them the program reports only that some TCP socket changed
// and the agent re-reads all TCP listeners (see the package doc).
type sockLayout struct {
	protocol   int32 // sock.sk_protocol, u16
	family     int32 // sock.__sk_common.skc_family, u16
	port       int32 // sock.__sk_common.skc_num, u16, host order
	addr4      int32 // sock.__sk_common.skc_rcv_saddr, 4 bytes
	addr6      int32 // sock.__sk_common.skc_v6_rcv_saddr, 16 bytes
	v6onlyByte int32 // the byte holding the skc_ipv6only bit
	v6onlyBit  int32 // its bit in that byte
	uid        int32 // sock.sk_uid, u32
	net        int32 // sock.__sk_common.skc_net.net, pointer to struct net
	netInum    int32 // net.ns.inum, u32: the namespace's inode number
	socket     int32 // sock.sk_socket, pointer to struct socket
	inode      int32 // from a struct socket to its inode number: socket_alloc.vfs_inode + inode.i_ino, u64
	leader     int32 // task_struct.group_leader, pointer: the process of a thread
	comm       int32 // task_struct.comm, char[16]: the process name, as /proc/<pid>/comm shows it
}

// kernelLayout reads sockLayout from the kernel's BTF.
func kernelLayout() (*sockLayout, error) {
	spec, err := btf.LoadKernelSpec()
	if err != nil {
		return nil, fmt.Errorf("read kernel BTF: %w", err)
	}
	return layoutFrom(spec)
}

// layoutFrom finds every field of sockLayout in spec, or says which one is
// missing.
func layoutFrom(spec *btf.Spec) (*sockLayout, error) {
	r := resolver{spec: spec}
	l := &sockLayout{
		protocol: r.field("sock", 2, "sk_protocol"),
		family:   r.field("sock", 2, "__sk_common", "skc_family"),
		port:     r.field("sock", 2, "__sk_common", "skc_num"),
		addr4:    r.field("sock", 4, "__sk_common", "skc_rcv_saddr"),
		addr6:    r.field("sock", 16, "__sk_common", "skc_v6_rcv_saddr"),
		uid:      r.field("sock", 4, "sk_uid"),
		net:      r.field("sock", 8, "__sk_common", "skc_net", "net"),
		netInum:  r.field("net", 4, "ns", "inum"),
		socket:   r.field("sock", 8, "sk_socket"),
		inode:    r.field("socket_alloc", 0, "vfs_inode") + r.field("inode", 8, "i_ino"),
		leader:   r.field("task_struct", 8, "group_leader"),
		comm:     r.field("task_struct", 16, "comm"),
	}
	bit := r.bit("sock", "__sk_common", "skc_ipv6only")
	l.v6onlyByte, l.v6onlyBit = bit/8, bit%8
	if err := errors.Join(r.errs...); err != nil {
		return nil, err
	}
	return l, nil
}

// resolver looks up member offsets, collecting what it cannot find.
type resolver struct {
	spec *btf.Spec
	errs []error
}

// field returns the byte offset of the member at path in struct typ, and
// checks that it is size bytes (0: any size) and not a bit field.
func (r *resolver) field(typ string, size uint32, path ...string) int32 {
	m, off, err := r.find(typ, path)
	if err == nil && m.BitfieldSize != 0 {
		err = errors.New("is a bit field")
	}
	if err == nil && size != 0 {
		var n int
		if n, err = btf.Sizeof(m.Type); err == nil && uint32(n) != size {
			err = fmt.Errorf("is %d bytes, want %d", n, size)
		}
	}
	if err != nil {
		r.errs = append(r.errs, fmt.Errorf("%s.%s: %w", typ, strings.Join(path, "."), err))
		return 0
	}
	return int32(off / 8)
}

// bit returns the bit offset of the one-bit field at path in struct typ.
func (r *resolver) bit(typ string, path ...string) int32 {
	m, off, err := r.find(typ, path)
	if err == nil && m.BitfieldSize != 1 {
		err = fmt.Errorf("is not a one-bit field")
	}
	if err != nil {
		r.errs = append(r.errs, fmt.Errorf("%s.%s: %w", typ, strings.Join(path, "."), err))
		return 0
	}
	return int32(off)
}

// find walks path from struct typ, looking into anonymous structs and
// unions on the way (the kernel keeps many socket fields in those), and
// returns the last member and its bit offset from the start of typ.
func (r *resolver) find(typ string, path []string) (btf.Member, btf.Bits, error) {
	var s *btf.Struct
	if err := r.spec.TypeByName(typ, &s); err != nil {
		return btf.Member{}, 0, fmt.Errorf("struct %s: %w", typ, err)
	}
	var t btf.Type = s
	var off btf.Bits
	var m btf.Member
	for _, name := range path {
		ms, ok := members(t)
		if !ok {
			return btf.Member{}, 0, fmt.Errorf("%s is not a struct or union", t.TypeName())
		}
		var found bool
		if m, found = member(ms, name); !found {
			return btf.Member{}, 0, fmt.Errorf("no member %s", name)
		}
		off += m.Offset
		t = btf.UnderlyingType(m.Type)
	}
	return m, off, nil
}

// member finds name among ms, descending into anonymous members. The
// offset of the returned member is relative to the start of ms's type.
func member(ms []btf.Member, name string) (btf.Member, bool) {
	for _, m := range ms {
		if m.Name == name {
			return m, true
		}
		if m.Name != "" {
			continue
		}
		inner, ok := members(btf.UnderlyingType(m.Type))
		if !ok {
			continue
		}
		if found, ok := member(inner, name); ok {
			found.Offset += m.Offset
			return found, true
		}
	}
	return btf.Member{}, false
}

func members(t btf.Type) ([]btf.Member, bool) {
	switch t := t.(type) {
	case *btf.Struct:
		return t.Members, true
	case *btf.Union:
		return t.Members, true
	}
	return nil, false
}
