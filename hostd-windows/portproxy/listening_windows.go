package portproxy

import (
	"context"
	"errors"
	"fmt"
	"unsafe"

	"golang.org/x/sys/windows"
)

var procGetExtendedTcpTable = windows.NewLazySystemDLL("iphlpapi.dll").NewProc("GetExtendedTcpTable")

// tcpTableOwnerPIDListener is TCP_TABLE_OWNER_PID_LISTENER: listening
// sockets with their owners' process ids.
const tcpTableOwnerPIDListener = 3

// ListeningTCP lists the host's listening TCP sockets, IPv4 and IPv6,
// with their owning processes, from GetExtendedTcpTable; ParseTCPTable
// reads the tables.
func ListeningTCP(context.Context) ([]Socket, error) {
	if err := procGetExtendedTcpTable.Find(); err != nil {
		return nil, err
	}
	var out []Socket
	for _, fam := range []struct {
		af uint32
		v6 bool
	}{{windows.AF_INET, false}, {windows.AF_INET6, true}} {
		buf, err := tcpTable(fam.af)
		if err != nil {
			return nil, fmt.Errorf("GetExtendedTcpTable (IPv6 %v): %w", fam.v6, err)
		}
		socks, err := ParseTCPTable(buf, fam.v6)
		if err != nil {
			return nil, err
		}
		out = append(out, socks...)
	}
	return out, nil
}

// tcpTable fetches one family's table, growing the buffer while sockets
// appear between the size query and the read.
func tcpTable(af uint32) ([]byte, error) {
	size := uint32(4096)
	for range 8 {
		buf := make([]byte, size)
		r, _, _ := procGetExtendedTcpTable.Call(uintptr(unsafe.Pointer(&buf[0])), uintptr(unsafe.Pointer(&size)),
			0, uintptr(af), tcpTableOwnerPIDListener, 0)
		switch errno := windows.Errno(r); errno {
		case 0:
			return buf[:size], nil
		case windows.ERROR_INSUFFICIENT_BUFFER:
			size += 4096 // room for sockets opened meanwhile
		default:
			return nil, errno
		}
	}
	return nil, errors.New("the table kept growing")
}
