//go:build linux

package ebpftrigger

import (
	"context"
	"os"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/wslfwd/wslfwd/agent-linux/trigger"
)

// udpBindCloseRaw makes one UDP bind and one release event with as little
// user space work as possible, so the benchmark measures the trigger.
func udpBindCloseRaw(b testing.TB) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		b.Fatal(err)
	}
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		b.Fatal(err)
	}
	unix.Close(fd)
}

func benchTrigger(b *testing.B) *Trigger {
	b.Helper()
	needRoot(b, loadBPF)
	tr, err := New(Options{IgnorePID: uint32(os.Getppid())})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { tr.Close() })
	return tr
}

// drain waits until user space has read everything in the ring buffer.
func drain(b *testing.B, tr *Trigger) {
	deadline := time.Now().Add(10 * time.Second)
	for tr.reader.AvailableBytes() > 0 {
		if time.Now().After(deadline) {
			b.Fatal("ring buffer not drained")
		}
		time.Sleep(time.Millisecond)
	}
}

// BenchmarkEventsAbsorbed drives UDP bind+close pairs as fast as one
// goroutine can and reports how many events per second user space reads.
// Events the ring cannot hold are dropped in the kernel (lost/op) and
// counted there; RunEvents then reports a Lost event and the agent
// re-reads everything.
func BenchmarkEventsAbsorbed(b *testing.B) {
	tr := benchTrigger(b)
	self := uint32(os.Getpid())
	var got atomic.Int64
	go tr.readEvents(func(e event) {
		if e.pid == self {
			got.Add(1)
		}
	})
	start := time.Now()
	n := 0
	for b.Loop() {
		udpBindCloseRaw(b)
		n++
	}
	drain(b, tr)
	elapsed := time.Since(start)
	b.ReportMetric(float64(got.Load())/elapsed.Seconds(), "events/s")
	b.ReportMetric(float64(int64(2*n)-got.Load())/float64(n), "lost/op")
}

// BenchmarkRunEventsBatches drives the same load through RunEvents and
// reports how often it hands over a batch and how many events a batch
// holds: under a storm, batches grow rather than their number.
func BenchmarkRunEventsBatches(b *testing.B) {
	tr := benchTrigger(b)
	var batches, events atomic.Int64
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() {
		ran <- tr.RunEvents(ctx, func(evs []trigger.Event) {
			batches.Add(1)
			events.Add(int64(len(evs)))
		})
	}()
	start := time.Now()
	for b.Loop() {
		udpBindCloseRaw(b)
	}
	drain(b, tr)
	elapsed := time.Since(start)
	cancel()
	if err := <-ran; err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(batches.Load())/elapsed.Seconds(), "batches/s")
	b.ReportMetric(float64(events.Load())/float64(max(batches.Load(), 1)), "events/batch")
}

// BenchmarkListenProgramCost measures what every TCP state change on the
// machine pays for the attached tracepoint program: a loopback connection
// makes several transitions, none of them into or out of LISTEN. The
// kernel's own accounting (BPF_ENABLE_STATS) gives ns per program run.
func BenchmarkListenProgramCost(b *testing.B) {
	tr := benchTrigger(b)
	stats, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
	if err != nil {
		b.Fatalf("enable BPF run-time stats: %v", err)
	}
	defer stats.Close()

	lfd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer unix.Close(lfd)
	if err := unix.Bind(lfd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		b.Fatal(err)
	}
	if err := unix.Listen(lfd, 128); err != nil {
		b.Fatal(err)
	}
	addr, err := unix.Getsockname(lfd)
	if err != nil {
		b.Fatal(err)
	}

	prog := tr.progs[0] // the inet_sock_set_state program
	before, err := prog.Stats()
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		c, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			b.Fatal(err)
		}
		if err := unix.Connect(c, addr); err != nil {
			b.Fatal(err)
		}
		s, _, err := unix.Accept(lfd)
		if err != nil {
			b.Fatal(err)
		}
		unix.Close(c)
		unix.Close(s)
	}
	after, err := prog.Stats()
	if err != nil {
		b.Fatal(err)
	}
	runs := after.RunCount - before.RunCount
	if runs == 0 {
		b.Fatal("the program never ran")
	}
	b.ReportMetric(float64(after.Runtime-before.Runtime)/float64(runs), "ns/run")
}

// BenchmarkListenToEvent measures the kernel-to-user-space part of the
// time to forward: from just before listen() until user space holds the
// event, which describes the socket whole: the agent needs no sock_diag
// dump after it. Reports p50 and p99.
func BenchmarkListenToEvent(b *testing.B) {
	tr := benchTrigger(b)
	self := uint32(os.Getpid())
	got := make(chan time.Time, 1)
	go tr.readEvents(func(e event) {
		if e.pid == self && e.kind == kindTCPListen {
			got <- time.Now()
		}
	})
	var lat []time.Duration
	for b.Loop() {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			b.Fatal(err)
		}
		if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		if err := unix.Listen(fd, 16); err != nil {
			b.Fatal(err)
		}
		select {
		case at := <-got:
			lat = append(lat, at.Sub(start))
		case <-time.After(10 * time.Second):
			b.Fatal("no event for listen()")
		}
		unix.Close(fd)
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}
