//go:build linux

package scan_test

import (
	"net"
	"testing"

	"github.com/wslfwd/wslfwd/agent-linux/internal/nstest"
	"github.com/wslfwd/wslfwd/agent-linux/scan"
)

// BenchmarkListeners is the agent's steady-state scan: 1,000 unchanged
// listeners, owners already cached.
func BenchmarkListeners(b *testing.B) {
	ns := nstest.New(b)
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	nstest.Do(b, ns, func() {
		for range 1000 {
			l, err := net.Listen("tcp4", "127.0.0.1:0")
			if err != nil {
				b.Errorf("listen: %v", err)
				return
			}
			ls = append(ls, l)
		}
	})
	if b.Failed() {
		return
	}
	sys, err := scan.OpenAt(ns)
	if err != nil {
		b.Fatal(err)
	}
	defer sys.Close()
	if got, err := sys.Listeners(); err != nil || len(got) != 1000 {
		b.Fatalf("first scan: %d listeners, %v", len(got), err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := sys.Listeners(); err != nil {
			b.Fatal(err)
		}
	}
}
