package portproxy

import (
	"context"
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"

	"github.com/wslfwd/wslfwd/hostd-windows/backend"
)

// Socket is a listening TCP socket of the host and its owner's process id.
type Socket struct {
	Addr netip.AddrPort
	PID  uint32
}

var _ backend.Verifier = (*Backend)(nil)

// Verify implements backend.Verifier: a portproxy entry is only a registry
// value, and carries connections only while the IP Helper service
// (iphlpsvc) listens on its listen address and port. With the service
// stopped, the value is there and nothing listens; with another process
// on the port, portproxy could not take it. Both are errors that say so.
func (b *Backend) Verify(ctx context.Context, entries []backend.Entry) map[backend.Entry]error {
	out := make(map[backend.Entry]error)
	if b.opts.Listening == nil {
		for _, e := range entries {
			out[e] = fmt.Errorf("the portproxy entry exists, but this wslfwd cannot read the host's listening sockets to tell whether anything listens on %s", e.Listen)
		}
		return out
	}
	socks, err := b.opts.Listening(ctx)
	if err != nil {
		for _, e := range entries {
			out[e] = fmt.Errorf("the portproxy entry exists, but whether anything listens on %s is unknown: %w", e.Listen, err)
		}
		return out
	}
	owners := make(map[netip.AddrPort][]uint32, len(socks))
	for _, s := range socks {
		owners[s.Addr] = append(owners[s.Addr], s.PID)
	}
	svc, known := b.servicePID()
	for _, e := range entries {
		if err := listenedBy(e.Listen, owners[e.Listen], svc, known); err != nil {
			out[e] = err
		}
	}
	return out
}

// servicePID is iphlpsvc's process id (0: stopped), and whether it is
// known.
func (b *Backend) servicePID() (uint32, bool) {
	if b.opts.ServicePID == nil {
		return 0, false
	}
	pid, err := b.opts.ServicePID()
	if err != nil {
		b.log.Debug("cannot find the IP Helper service's process; any listener counts", "err", err)
		return 0, false
	}
	return pid, true
}

// listenedBy says what is wrong when the processes pids listen on ap and
// iphlpsvc runs as svc (0: stopped; known false: unknown).
func listenedBy(ap netip.AddrPort, pids []uint32, svc uint32, known bool) error {
	switch {
	case len(pids) == 0 && known && svc == 0:
		return fmt.Errorf("the portproxy entry exists but nothing listens on %s: the IP Helper service (iphlpsvc), which serves portproxy, is not running", ap)
	case len(pids) == 0:
		return fmt.Errorf("the portproxy entry exists but nothing listens on %s: is the IP Helper service (iphlpsvc) running?", ap)
	case !known || slices.Contains(pids, svc):
		return nil
	case svc == 0:
		return fmt.Errorf("the portproxy entry exists but the IP Helper service (iphlpsvc) is not running; %s is held by another process (pid %d)", ap, pids[0])
	}
	return fmt.Errorf("the portproxy entry exists but %s is held by another process (pid %d), not the IP Helper service (iphlpsvc, pid %d)", ap, pids[0], svc)
}

// MIB_TCP_STATE_LISTEN, and the sizes of the rows GetExtendedTcpTable
// returns for TCP_TABLE_OWNER_PID_LISTENER: MIB_TCPROW_OWNER_PID (six
// DWORDs) and MIB_TCP6ROW_OWNER_PID (two 16-byte addresses, six DWORDs).
const (
	tcpStateListen = 2
	tcpRow4Size    = 24
	tcpRow6Size    = 56
)

// ParseTCPTable reads the buffer GetExtendedTcpTable fills with a
// MIB_TCPTABLE_OWNER_PID (v6 false) or MIB_TCP6TABLE_OWNER_PID: a DWORD
// count, then the rows. Addresses and ports are in network byte order, the
// other fields in the machine's (little-endian on every Windows Go
// supports). Only listening sockets are returned.
func ParseTCPTable(buf []byte, v6 bool) ([]Socket, error) {
	if len(buf) < 4 {
		return nil, fmt.Errorf("TCP table of %d bytes: no row count", len(buf))
	}
	n := int(binary.LittleEndian.Uint32(buf))
	size := tcpRow4Size
	if v6 {
		size = tcpRow6Size
	}
	if n > (len(buf)-4)/size {
		return nil, fmt.Errorf("TCP table of %d bytes cannot hold the %d rows it counts", len(buf), n)
	}
	out := make([]Socket, 0, n)
	for i := range n {
		row := buf[4+i*size : 4+(i+1)*size]
		var s Socket
		var state uint32
		if v6 {
			addr := netip.AddrFrom16([16]byte(row[0:16]))
			s.Addr = netip.AddrPortFrom(addr, binary.BigEndian.Uint16(row[20:22]))
			state = binary.LittleEndian.Uint32(row[48:52])
			s.PID = binary.LittleEndian.Uint32(row[52:56])
		} else {
			addr := netip.AddrFrom4([4]byte(row[4:8]))
			s.Addr = netip.AddrPortFrom(addr, binary.BigEndian.Uint16(row[8:10]))
			state = binary.LittleEndian.Uint32(row[0:4])
			s.PID = binary.LittleEndian.Uint32(row[20:24])
		}
		if state == tcpStateListen {
			out = append(out, s)
		}
	}
	return out, nil
}
