//go:build linux

package sockdiag

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"golang.org/x/sys/unix"
)

// reply builds one SOCK_DIAG_BY_FAMILY message as the kernel sends it.
func reply(seq uint32, family uint8, src netip.Addr, port uint16, inode, uid uint32, v6only bool) []byte {
	ne := binary.NativeEndian
	body := make([]byte, msgLen)
	body[0] = family
	body[1] = tcpListen
	binary.BigEndian.PutUint16(body[4:], port)
	copy(body[8:24], src.AsSlice())
	ne.PutUint32(body[64:], uid)
	ne.PutUint32(body[68:], inode)
	if family == unix.AF_INET6 {
		attr := make([]byte, 8) // 5 bytes padded to 8
		ne.PutUint16(attr[0:], 5)
		ne.PutUint16(attr[2:], attrSKV6Only)
		if v6only {
			attr[4] = 1
		}
		body = append(body, attr...)
	}
	hdr := make([]byte, nlmsgHdrLen)
	ne.PutUint32(hdr[0:], uint32(nlmsgHdrLen+len(body)))
	ne.PutUint16(hdr[4:], sockDiagByFamily)
	ne.PutUint32(hdr[8:], seq)
	return append(hdr, body...)
}

func done(seq uint32) []byte {
	hdr := make([]byte, nlmsgHdrLen+4)
	binary.NativeEndian.PutUint32(hdr[0:], uint32(len(hdr)))
	binary.NativeEndian.PutUint16(hdr[4:], unix.NLMSG_DONE)
	binary.NativeEndian.PutUint32(hdr[8:], seq)
	return hdr
}

func TestParse(t *testing.T) {
	s := &Scanner{seq: 7}
	var b []byte
	b = append(b, reply(7, unix.AF_INET, netip.MustParseAddr("127.0.0.1"), 8080, 11, 1000, false)...)
	b = append(b, reply(6, unix.AF_INET, netip.MustParseAddr("10.0.0.1"), 1, 12, 0, false)...) // stale seq
	b = append(b, reply(7, unix.AF_INET6, netip.MustParseAddr("::"), 443, 13, 0, true)...)
	b = append(b, done(7)...)
	got, fin, err := s.parse(nil, b, TCP)
	if err != nil || !fin {
		t.Fatalf("parse: done %v err %v", fin, err)
	}
	want := []Socket{
		{Protocol: TCP, Addr: netip.MustParseAddr("127.0.0.1"), Port: 8080, Inode: 11, UID: 1000},
		{Protocol: TCP, Addr: netip.MustParseAddr("::"), Port: 443, Inode: 13, V6Only: true},
	}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("parse = %+v, want %+v", got, want)
	}
	if _, _, err := s.parse(nil, b[:10+nlmsgHdrLen], TCP); err == nil {
		t.Error("a message longer than the datagram was accepted")
	}
}

func FuzzParse(f *testing.F) {
	f.Add(append(reply(1, unix.AF_INET, netip.MustParseAddr("0.0.0.0"), 22, 5, 0, false), done(1)...))
	f.Add(reply(1, unix.AF_INET6, netip.MustParseAddr("::1"), 53, 6, 0, true))
	f.Add(done(1))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		s := &Scanner{seq: 1}
		got, _, _ := s.parse(nil, b, UDP)
		for _, sk := range got {
			if sk.Port == 0 || !sk.Addr.IsValid() || sk.Protocol != UDP {
				t.Fatalf("parse returned an invalid socket %+v", sk)
			}
		}
	})
}
