//go:build linux

package faults

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"

	"github.com/wslfwd/wslfwd/lab/netlab"
)

// sock is one listening socket as the tests compare them: protocol
// ("tcp" or "udp") and port. Address families are folded together: the
// forward table has one row per protocol and port.
type sock struct {
	proto string
	port  uint16
}

func (s sock) String() string { return fmt.Sprintf("%s/%d", s.proto, s.port) }

// Socket states in /proc/net/{tcp,udp}: TCP_LISTEN for TCP listeners,
// TCP_CLOSE for unconnected UDP sockets.
const (
	stateListen = 0x0A
	stateClose  = 0x07
)

// listening reads the kernel's socket tables inside ns and returns the
// TCP listeners and unconnected UDP sockets bound to anything but
// loopback. It reads /proc/thread-self/net, which follows the calling
// thread's network namespace (/proc/self/net follows the main thread's).
func listening(ns *netlab.NS) (map[sock]bool, error) {
	out := map[sock]bool{}
	err := ns.Do(func() error {
		for _, t := range []struct{ file, proto string }{
			{"tcp", "tcp"}, {"tcp6", "tcp"}, {"udp", "udp"}, {"udp6", "udp"},
		} {
			data, err := os.ReadFile("/proc/thread-self/net/" + t.file)
			if err != nil {
				return err
			}
			rows, err := parseProcNet(string(data))
			if err != nil {
				return fmt.Errorf("/proc/net/%s: %w", t.file, err)
			}
			for _, r := range rows {
				if r.local.Addr().IsLoopback() {
					continue
				}
				if (t.proto == "tcp" && r.state == stateListen) ||
					(t.proto == "udp" && r.state == stateClose && r.remote.Port() == 0) {
					out[sock{t.proto, r.local.Port()}] = true
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("socket tables in %s: %w", ns.Name, err)
	}
	return out, nil
}

// procNetRow is one socket of /proc/net/{tcp,tcp6,udp,udp6}.
type procNetRow struct {
	local, remote netip.AddrPort
	state         int
}

// parseProcNet parses a /proc/net socket table: a header line, then one
// socket per line, "sl local_address rem_address st ...", addresses as
// hex words in host (little-endian) order and ports in big-endian hex.
func parseProcNet(text string) ([]procNetRow, error) {
	lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
	if len(lines) == 0 || !strings.Contains(lines[0], "local_address") {
		return nil, fmt.Errorf("no header line")
	}
	var rows []procNetRow
	for i, line := range lines[1:] {
		f := strings.Fields(line)
		if len(f) < 4 {
			return nil, fmt.Errorf("line %d: %d fields, want at least 4", i+2, len(f))
		}
		local, err := parseHexAddrPort(f[1])
		if err != nil {
			return nil, fmt.Errorf("line %d: local address: %w", i+2, err)
		}
		remote, err := parseHexAddrPort(f[2])
		if err != nil {
			return nil, fmt.Errorf("line %d: remote address: %w", i+2, err)
		}
		st, err := strconv.ParseUint(f[3], 16, 8)
		if err != nil {
			return nil, fmt.Errorf("line %d: state %q: %w", i+2, f[3], err)
		}
		rows = append(rows, procNetRow{local, remote, int(st)})
	}
	return rows, nil
}

// parseHexAddrPort parses "0100007F:1F90" (IPv4) or 32 hex digits and a
// port (IPv6): each 32-bit word of the address is in little-endian order.
func parseHexAddrPort(s string) (netip.AddrPort, error) {
	a, p, ok := strings.Cut(s, ":")
	if !ok {
		return netip.AddrPort{}, fmt.Errorf("%q: no port", s)
	}
	port, err := strconv.ParseUint(p, 16, 16)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("%q: port: %w", s, err)
	}
	raw, err := hex.DecodeString(a)
	if err != nil || (len(raw) != 4 && len(raw) != 16) {
		return netip.AddrPort{}, fmt.Errorf("%q: address is not 8 or 32 hex digits", s)
	}
	for i := 0; i < len(raw); i += 4 {
		binary.BigEndian.PutUint32(raw[i:], binary.LittleEndian.Uint32(raw[i:]))
	}
	addr, _ := netip.AddrFromSlice(raw)
	return netip.AddrPortFrom(addr.Unmap(), uint16(port)), nil
}
