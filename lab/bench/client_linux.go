//go:build linux

package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/wslfwd/wslfwd/lab/netlab"
)

// helperProc is the driver's end of the helper running in wsl: commands go
// to its stdin, replies come back on its fd 3 (its stdout and stderr are
// the lab's log file).
type helperProc struct {
	proc    *netlab.Proc
	cmds    *os.File
	replies *bufio.Reader
	repFile *os.File
}

// startHelper starts `<lab binary> bench-helper` in wsl.
func startHelper(lab *netlab.Lab, labBinary string) (_ *helperProc, err error) {
	cmdR, cmdW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("helper pipe: %w", err)
	}
	repR, repW, err := os.Pipe()
	if err != nil {
		cmdR.Close()
		cmdW.Close()
		return nil, fmt.Errorf("helper pipe: %w", err)
	}
	// The child holds its own copies of its ends once started.
	defer cmdR.Close()
	defer repW.Close()
	cmd := lab.WSL.Command(context.Background(), labBinary, HelperCommand)
	cmd.Stdin = cmdR
	cmd.ExtraFiles = []*os.File{repW}
	p, err := lab.Start("bench-helper", cmd)
	if err != nil {
		cmdW.Close()
		repR.Close()
		return nil, err
	}
	return &helperProc{proc: p, cmds: cmdW, replies: bufio.NewReader(repR), repFile: repR}, nil
}

// HelperCommand is the hidden subcommand of the lab binary that runs Serve
// with stdin and fd 3.
const HelperCommand = "bench-helper"

// call sends one command and returns the words of the "ok" reply. A reply
// that does not come within timeout (the helper hung or died) is an error.
func (h *helperProc) call(timeout time.Duration, format string, args ...any) ([]string, error) {
	line := fmt.Sprintf(format, args...)
	if _, err := fmt.Fprintln(h.cmds, line); err != nil {
		return nil, fmt.Errorf("helper %q: %w", line, err)
	}
	_ = h.repFile.SetReadDeadline(time.Now().Add(timeout))
	reply, err := h.replies.ReadString('\n')
	if err != nil {
		return nil, fmt.Errorf("helper %q: no reply: %w\n%s", line, err, h.proc.Tail(10))
	}
	f := strings.Fields(reply)
	switch {
	case len(f) > 0 && f[0] == "ok":
		return f[1:], nil
	case len(f) > 0 && f[0] == "err":
		return nil, fmt.Errorf("helper %q: %s", line, strings.TrimSpace(strings.TrimPrefix(reply, "err")))
	}
	return nil, fmt.Errorf("helper %q: malformed reply %q", line, reply)
}

// mono sends a command whose reply is one CLOCK_MONOTONIC time.
func (h *helperProc) mono(format string, args ...any) (int64, error) {
	f, err := h.call(30*time.Second, format, args...)
	if err != nil {
		return 0, err
	}
	if len(f) != 1 {
		return 0, fmt.Errorf("helper %q: want one time, got %q", fmt.Sprintf(format, args...), f)
	}
	t, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("helper %q: time %q: %w", fmt.Sprintf(format, args...), f[0], err)
	}
	return t, nil
}

// stop closes the command pipe, which makes the helper close its
// listeners and exit, and waits for it.
func (h *helperProc) stop() error {
	h.cmds.Close()
	defer h.repFile.Close()
	select {
	case <-h.proc.Done():
		return nil
	case <-time.After(5 * time.Second):
		return errors.Join(errors.New("bench helper did not exit when its input closed"), h.proc.Kill())
	}
}
