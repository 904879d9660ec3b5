package portproxy

import (
	"context"
	"encoding/binary"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/wslfwd/wslfwd/hostd-windows/backend"
)

// row4 and row6 lay out MIB_TCPROW_OWNER_PID and MIB_TCP6ROW_OWNER_PID as
// GetExtendedTcpTable fills them: addresses and ports in network byte
// order (a port in the low 16 bits of its DWORD), the rest little-endian.
func row4(state uint32, ap netip.AddrPort, pid uint32) []byte {
	b := make([]byte, tcpRow4Size)
	binary.LittleEndian.PutUint32(b[0:], state)
	a := ap.Addr().As4()
	copy(b[4:], a[:])
	binary.BigEndian.PutUint16(b[8:], ap.Port())
	binary.LittleEndian.PutUint32(b[20:], pid)
	return b
}

func row6(state uint32, ap netip.AddrPort, pid uint32) []byte {
	b := make([]byte, tcpRow6Size)
	a := ap.Addr().As16()
	copy(b[0:], a[:])
	binary.BigEndian.PutUint16(b[20:], ap.Port())
	binary.LittleEndian.PutUint32(b[48:], state)
	binary.LittleEndian.PutUint32(b[52:], pid)
	return b
}

func table(rows ...[]byte) []byte {
	b := binary.LittleEndian.AppendUint32(nil, uint32(len(rows)))
	for _, r := range rows {
		b = append(b, r...)
	}
	return b
}

func TestParseTCPTable(t *testing.T) {
	ap := netip.MustParseAddrPort
	const established = 5
	got, err := ParseTCPTable(table(row4(tcpStateListen, ap("0.0.0.0:8080"), 1234), row4(established, ap("10.0.0.1:80"), 9),
		row4(tcpStateListen, ap("192.168.1.2:443"), 4)), false)
	want := []Socket{{ap("0.0.0.0:8080"), 1234}, {ap("192.168.1.2:443"), 4}}
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("IPv4 table = %v, %v; want %v", got, err, want)
	}
	got, err = ParseTCPTable(table(row6(tcpStateListen, ap("[::]:8080"), 1234), row6(tcpStateListen, ap("[fd00::1]:22"), 8)), true)
	want = []Socket{{ap("[::]:8080"), 1234}, {ap("[fd00::1]:22"), 8}}
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("IPv6 table = %v, %v; want %v", got, err, want)
	}
	for name, buf := range map[string][]byte{
		"no count":  {1, 0},
		"truncated": table(row4(tcpStateListen, ap("0.0.0.0:1"), 1))[:20],
		"huge":      binary.LittleEndian.AppendUint32(nil, 1<<31),
	} {
		if got, err := ParseTCPTable(buf, false); err == nil {
			t.Errorf("%s: ParseTCPTable = %v, want an error", name, got)
		}
	}
}

// ACTIVE needs iphlpsvc listening on the entry's address and port: the
// registry value alone is not a forward.
func TestVerify(t *testing.T) {
	e := tcp("0.0.0.0:4000", "172.28.240.53:4000")
	e6 := tcp("[::]:4000", "172.28.240.53:4000")
	const svc = 1234
	for _, tc := range []struct {
		name   string
		socks  []Socket
		pid    func() (uint32, error)
		broken string // "" when e works
	}{
		{"iphlpsvc listens", []Socket{{e.Listen, svc}}, fixedPID(svc), ""},
		{"nothing listens", nil, fixedPID(svc), "nothing listens on 0.0.0.0:4000: is the IP Helper service (iphlpsvc) running?"},
		{"only on the other family", []Socket{{e6.Listen, svc}}, fixedPID(svc), "nothing listens on 0.0.0.0:4000"},
		{"iphlpsvc stopped", nil, fixedPID(0), "the IP Helper service (iphlpsvc), which serves portproxy, is not running"},
		{"another process", []Socket{{e.Listen, 7}}, fixedPID(svc), "held by another process (pid 7), not the IP Helper service (iphlpsvc, pid 1234)"},
		{"another process, iphlpsvc stopped", []Socket{{e.Listen, 7}}, fixedPID(0), "iphlpsvc) is not running; 0.0.0.0:4000 is held by another process (pid 7)"},
		{"service unknown, something listens", []Socket{{e.Listen, 7}}, failPID, ""},
		{"service unknown, nothing listens", nil, failPID, "nothing listens on 0.0.0.0:4000"},
		{"no service lookup", []Socket{{e.Listen, 7}}, nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := New(newMemStore(), &fakeNetsh{}, Options{
				Listening:  func(context.Context) ([]Socket, error) { return tc.socks, nil },
				ServicePID: tc.pid,
			})
			got := b.Verify(t.Context(), []backend.Entry{e})
			err, broken := got[e]
			if tc.broken == "" && broken {
				t.Fatalf("Verify = %v, want it working", err)
			}
			if tc.broken != "" && (!broken || !strings.Contains(err.Error(), tc.broken)) {
				t.Fatalf("Verify = %v, want an error saying %q", got, tc.broken)
			}
		})
	}
}

// When the listening sockets cannot be read, no entry counts as working.
func TestVerifyCannotTell(t *testing.T) {
	e := tcp("0.0.0.0:4000", "172.28.240.53:4000")
	for name, listening := range map[string]func(context.Context) ([]Socket, error){
		"no table":     nil,
		"table failed": func(context.Context) ([]Socket, error) { return nil, errors.New("access denied") },
	} {
		b := New(newMemStore(), &fakeNetsh{}, Options{Listening: listening})
		if err := b.Verify(t.Context(), []backend.Entry{e})[e]; err == nil || !strings.Contains(err.Error(), "0.0.0.0:4000") {
			t.Errorf("%s: Verify = %v, want an error naming the address", name, err)
		}
	}
}

func fixedPID(pid uint32) func() (uint32, error) { return func() (uint32, error) { return pid, nil } }

func failPID() (uint32, error) { return 0, errors.New("open iphlpsvc: no such service") }
