//go:build linux

package faults

import (
	"net/netip"
	"testing"
)

const procNetSample = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:4E21 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0000000000000000 100 0 0 10 0
   1: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2 1 0000000000000000 100 0 0 10 0
   2: 35F01CAC:C350 01F01CAC:4592 01 00000000:00000000 02:000A7B2C 00000000     0        0 3 2 0000000000000000 20 4 30 10 -1
`

func TestParseProcNet(t *testing.T) {
	rows, err := parseProcNet(procNetSample)
	if err != nil {
		t.Fatal(err)
	}
	want := []procNetRow{
		{netip.MustParseAddrPort("0.0.0.0:20001"), netip.MustParseAddrPort("0.0.0.0:0"), stateListen},
		{netip.MustParseAddrPort("127.0.0.1:8080"), netip.MustParseAddrPort("0.0.0.0:0"), stateListen},
		{netip.MustParseAddrPort("172.28.240.53:50000"), netip.MustParseAddrPort("172.28.240.1:17810"), 1},
	}
	if len(rows) != len(want) {
		t.Fatalf("%d rows, want %d: %v", len(rows), len(want), rows)
	}
	for i := range want {
		if rows[i] != want[i] {
			t.Errorf("row %d = %v, want %v", i, rows[i], want[i])
		}
	}
	six, err := parseHexAddrPort("000080FE00000000FF565002BD69B1FE:0016")
	if err != nil {
		t.Fatal(err)
	}
	if want := netip.MustParseAddrPort("[fe80::250:56ff:feb1:69bd]:22"); six != want {
		t.Errorf("IPv6 = %v, want %v", six, want)
	}
	for _, bad := range []string{"", "header only\n", "local_address\n 0: zz:1 00000000:0000 0A\n", "local_address\n 0: 00000000:4E21\n"} {
		if _, err := parseProcNet(bad); err == nil {
			t.Errorf("parseProcNet(%q) succeeded, want an error", bad)
		}
	}
}

// FuzzParseProcNet checks that any table text parses or fails cleanly,
// and that every parsed port and address survives a round trip.
func FuzzParseProcNet(f *testing.F) {
	f.Add(procNetSample)
	f.Add("local_address\n 0: 00000000000000000000000000000000:0050 00000000000000000000000000000000:0000 0A\n")
	f.Add("local_address\n 0: 0:0 0:0 0\n")
	f.Fuzz(func(t *testing.T, text string) {
		rows, err := parseProcNet(text)
		if err != nil {
			return
		}
		for _, r := range rows {
			if !r.local.Addr().IsValid() || !r.remote.Addr().IsValid() || r.state < 0 || r.state > 0xff {
				t.Fatalf("parsed an invalid row %v from %q", r, text)
			}
		}
	})
}
