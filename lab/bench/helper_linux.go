//go:build linux

package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/wslfwd/wslfwd/lab/netlab"
)

// Monotonic returns CLOCK_MONOTONIC in nanoseconds. The clock is the same
// in every network namespace, so a time taken by the helper in wsl and one
// taken by the driver in lan can be subtracted.
func Monotonic() int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		panic(fmt.Sprintf("clock_gettime(CLOCK_MONOTONIC): %v", err)) // cannot fail on Linux
	}
	return ts.Nano()
}

// Serve is the helper that runs inside wsl (the lab binary's hidden
// bench-helper command): it opens and closes echo listeners when told to,
// so the listeners belong to an ordinary process the agent must notice.
// It reads one command per line from in and answers each with one line on
// out, "ok ..." or "err <message>":
//
//	listen PORT                     open 0.0.0.0:PORT; ok MONO (taken right after listen() returns)
//	close PORT                      close it; ok MONO (right after close() returns)
//	open-many FIRST N               open FIRST..FIRST+N-1; ok MONO (taken before the first listen())
//	close-many FIRST N              close them; ok MONO (after the last close())
//	churn FIRST SPAN RATE MS LIFE   for MS milliseconds open RATE listeners a second on ports
//	                                FIRST..FIRST+SPAN-1 (in turn), closing each LIFE ms after it
//	                                opened; then close the rest; ok OPENS CLOSES
//
// MONO is CLOCK_MONOTONIC in nanoseconds. Serve returns when in ends or ctx
// is done.
func Serve(ctx context.Context, in io.Reader, out io.Writer) error {
	h := &helper{open: map[int]net.Listener{}}
	defer h.closeAll()
	lines := make(chan string)
	readErr := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(in)
		for sc.Scan() {
			lines <- sc.Text()
		}
		readErr <- sc.Err()
		close(lines)
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case line, ok := <-lines:
			if !ok {
				if err := <-readErr; err != nil {
					return fmt.Errorf("read commands: %w", err)
				}
				return nil
			}
			reply, err := h.do(ctx, line)
			if err != nil {
				reply = "err " + strings.ReplaceAll(err.Error(), "\n", " ")
			} else {
				reply = "ok " + reply
			}
			if _, err := io.WriteString(out, reply+"\n"); err != nil {
				return fmt.Errorf("write reply: %w", err)
			}
		}
	}
}

// helper holds the open listeners by port.
type helper struct {
	mu   sync.Mutex
	open map[int]net.Listener
}

// arity is the number of arguments of each helper command.
var arity = map[string]int{"listen": 1, "close": 1, "open-many": 2, "close-many": 2, "churn": 5}

// parseCommand splits a helper command line into its name and numeric
// arguments, checking the name and the argument count.
func parseCommand(line string) (string, []int, error) {
	f := strings.Fields(line)
	if len(f) == 0 {
		return "", nil, errors.New("empty command")
	}
	n, ok := arity[f[0]]
	if !ok {
		return "", nil, fmt.Errorf("unknown command %q", f[0])
	}
	if len(f)-1 != n {
		return "", nil, fmt.Errorf("%s takes %d arguments, got %d", f[0], n, len(f)-1)
	}
	args := make([]int, n)
	for i, s := range f[1:] {
		v, err := strconv.ParseUint(s, 10, 31)
		if err != nil {
			return "", nil, fmt.Errorf("%s: argument %q is not a number below 2^31", f[0], s)
		}
		args[i] = int(v)
	}
	return f[0], args, nil
}

func (h *helper) do(ctx context.Context, line string) (string, error) {
	name, args, err := parseCommand(line)
	if err != nil {
		return "", err
	}
	switch name {
	case "listen":
		if err := h.listen(args[0]); err != nil {
			return "", err
		}
		return strconv.FormatInt(Monotonic(), 10), nil
	case "close":
		if err := h.close(args[0]); err != nil {
			return "", err
		}
		return strconv.FormatInt(Monotonic(), 10), nil
	case "open-many":
		start := Monotonic()
		for p := args[0]; p < args[0]+args[1]; p++ {
			if err := h.listen(p); err != nil {
				return "", err
			}
		}
		return strconv.FormatInt(start, 10), nil
	case "close-many":
		for p := args[0]; p < args[0]+args[1]; p++ {
			if err := h.close(p); err != nil {
				return "", err
			}
		}
		return strconv.FormatInt(Monotonic(), 10), nil
	default: // churn
		opens, closes, err := h.churn(ctx, args[0], args[1], args[2],
			time.Duration(args[3])*time.Millisecond, time.Duration(args[4])*time.Millisecond)
		return fmt.Sprintf("%d %d", opens, closes), err
	}
}

// listen opens an echo listener on every IPv4 address of the namespace.
func (h *helper) listen(port int) error {
	if port < 1 || port > 65535 {
		return fmt.Errorf("listen: port %d out of range", port)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.open[port]; ok {
		return fmt.Errorf("listen: port %d is already open", port)
	}
	ln, err := listenTCP("0.0.0.0:" + strconv.Itoa(port))
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	h.open[port] = ln
	go netlab.Echo(ln)
	return nil
}

func (h *helper) close(port int) error {
	h.mu.Lock()
	ln, ok := h.open[port]
	delete(h.open, port)
	h.mu.Unlock()
	if !ok {
		return fmt.Errorf("close: port %d is not open", port)
	}
	return ln.Close()
}

func (h *helper) closeAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for p, ln := range h.open {
		ln.Close()
		delete(h.open, p)
	}
}

// churn opens rate listeners a second for d, each living for life, on
// ports first..first+span-1 taken in turn; span must exceed what is open
// at once (rate × life). Everything it opened is closed when it returns.
func (h *helper) churn(ctx context.Context, first, span, rate int, d, life time.Duration) (opens, closes int, err error) {
	if rate < 1 || span < 1 || int64(span) <= int64(rate)*int64(life/time.Millisecond)/1000+1 {
		return 0, 0, fmt.Errorf("churn: span %d too small for %d/s living %v", span, rate, life)
	}
	type live struct {
		port int
		at   time.Time
	}
	var alive []live
	defer func() {
		for _, l := range alive {
			if cerr := h.close(l.port); cerr == nil {
				closes++
			}
		}
	}()
	// Opens follow a schedule (rate × time since start) rather than one per
	// tick, so a helper that fell behind catches up instead of losing them.
	tick := time.NewTicker(time.Second / time.Duration(rate))
	defer tick.Stop()
	start := time.Now()
	next := 0
	for now := start; now.Sub(start) < d; {
		select {
		case <-ctx.Done():
			return opens, closes, ctx.Err()
		case now = <-tick.C:
		}
		for len(alive) > 0 && now.Sub(alive[0].at) >= life {
			if err := h.close(alive[0].port); err != nil {
				return opens, closes, err
			}
			alive = alive[1:]
			closes++
		}
		due := int(int64(now.Sub(start)) * int64(rate) / int64(time.Second))
		for ; opens < due; opens++ {
			port := first + next%span
			next++
			if err := h.listen(port); err != nil {
				return opens, closes, err
			}
			alive = append(alive, live{port, now})
		}
	}
	return opens, closes, nil
}

// listenTCP listens on addr (IPv4) with plain TCP, as the services people
// run in WSL do (Python, Node, Java, .NET). Go's default since 1.24 is
// Multipath TCP where the kernel has it, which makes two sockets per
// listen and serves every plain-TCP client, the relay and socat included,
// on MPTCP's fallback path: a service unlike the ones measured for.
func listenTCP(addr string) (net.Listener, error) {
	var lc net.ListenConfig
	lc.SetMultipathTCP(false)
	return lc.Listen(context.Background(), "tcp4", addr)
}
