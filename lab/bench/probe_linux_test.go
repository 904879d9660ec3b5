//go:build linux

package bench

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/wslfwd/wslfwd/lab/netlab"
)

// tryCase is a try and what it should answer.
type tryCase struct {
	name string
	try  func(netip.AddrPort) answer
	want answer
}

// checkTries checks that each try at addr answers as its case wants. A
// try that hears nothing in time is tried again, up to a few times, as
// the prober does: on a loaded machine an answer may come late, and only
// a wrong answer is an error. A case that wants noAnswer gets one try.
func checkTries(t *testing.T, addr netip.AddrPort, when string, cases ...tryCase) {
	t.Helper()
	for _, c := range cases {
		got := c.try(addr)
		for i := 0; i < 5 && got == noAnswer && c.want != noAnswer; i++ {
			got = c.try(addr)
		}
		if got != c.want {
			t.Errorf("%s(%v) %s = %v, want %v", c.name, addr, when, got, c.want)
		}
	}
}

func TestTriesTellWhatTheyHeard(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go netlab.Echo(ln)
	addr := netip.MustParseAddrPort(ln.Addr().String())
	checkTries(t, addr, "with an echo listener",
		tryCase{"echoed", echoed, done}, tryCase{"accepts", accepts, done}, tryCase{"refused", refused, notYet})
	ln.Close()
	checkTries(t, addr, "after the listener closed",
		tryCase{"echoed", echoed, notYet}, tryCase{"accepts", accepts, notYet}, tryCase{"refused", refused, done})
}

// TestTriesAbandonAConnectNobodyAnswers fills a listener's accept queue,
// so that it drops the next SYN as a listener that is closing does: a try
// must give it up as unanswered rather than wait for TCP's resend a second
// later, or call it refused or accepted. Linux lets a listener with a
// backlog of 0 queue one connection and drops SYNs while its accept queue
// is full (net.ipv4.tcp_abort_on_overflow only concerns the final ACK).
func TestTriesAbandonAConnectNobodyAnswers(t *testing.T) {
	ln, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(ln)
	if err := unix.Bind(ln, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(ln, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := unix.Getsockname(ln)
	if err != nil {
		t.Fatal(err)
	}
	in4 := sa.(*unix.SockaddrInet4)
	addr := netip.AddrPortFrom(netip.AddrFrom4(in4.Addr), uint16(in4.Port))
	first, err := dial(addr)
	if first >= 0 {
		defer unix.Close(first)
	}
	if err != nil {
		t.Fatalf("the connection that fills the queue: %v", err)
	}
	checkTries(t, addr, "to a full queue",
		tryCase{"echoed", echoed, noAnswer}, tryCase{"accepts", accepts, noAnswer}, tryCase{"refused", refused, noAnswer})
	fd, err := dial(addr)
	if fd >= 0 {
		unix.Close(fd)
	}
	if !errors.Is(err, errUnanswered) {
		t.Errorf("dial to a full queue: %v, want errUnanswered", err)
	}
}

func TestPollCountsUnansweredTries(t *testing.T) {
	answers := []answer{noAnswer, notYet, noAnswer, done, notYet}
	tries := 0
	before := Monotonic()
	at, unanswered, err := poll(context.Background(), 5*time.Second, func() answer {
		tries++
		return answers[tries-1]
	})
	if err != nil || unanswered != 2 || tries != 4 || at < before {
		t.Errorf("poll = at %d (started %d), %d unanswered, %v after %d tries; want success at the 4th, 2 unanswered",
			at, before, unanswered, err, tries)
	}
	_, unanswered, err = poll(context.Background(), 0, func() answer { return noAnswer })
	if err == nil || unanswered != 1 {
		t.Errorf("poll with no time = %d unanswered, %v; want an error after the one unanswered try", unanswered, err)
	}
}
