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

func checkTries(t *testing.T, addr netip.AddrPort, when string, cases ...tryCase) {
	t.Helper()
	for _, c := range cases {
		if got := c.try(addr); got != c.want {
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
// later, or call it refused or accepted.
func TestTriesAbandonAConnectNobodyAnswers(t *testing.T) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(fd, 0); err != nil { // room for one unaccepted connection
		t.Fatal(err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	addr := netip.AddrPortFrom(netip.AddrFrom4(sa.(*unix.SockaddrInet4).Addr), uint16(sa.(*unix.SockaddrInet4).Port))
	first, err := dial(addr)
	if first >= 0 {
		defer unix.Close(first)
	}
	if err != nil {
		t.Fatalf("the connection that fills the queue: %v", err)
	}
	checkTries(t, addr, "to a full queue",
		tryCase{"echoed", echoed, unanswered}, tryCase{"accepts", accepts, unanswered}, tryCase{"refused", refused, unanswered})
	if fd, err := dial(addr); !errors.Is(err, errUnanswered) {
		t.Errorf("dial to a full queue: %v, want errUnanswered", err)
	} else {
		unix.Close(fd)
	}
}

func TestPollCountsUnansweredTries(t *testing.T) {
	answers := []answer{unanswered, notYet, unanswered, done, notYet}
	tries := 0
	before := Monotonic()
	at, silent, err := poll(context.Background(), 5*time.Second, func() answer {
		tries++
		return answers[tries-1]
	})
	if err != nil || silent != 2 || tries != 4 || at < before {
		t.Errorf("poll = at %d (started %d), %d unanswered, %v after %d tries; want success at the 4th, 2 unanswered",
			at, before, silent, err, tries)
	}
	_, silent, err = poll(context.Background(), 0, func() answer { return unanswered })
	if err == nil || silent != 1 {
		t.Errorf("poll with no time = %d unanswered, %v; want an error after the one unanswered try", silent, err)
	}
}
