package wslexe

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"unicode/utf16"
)

// AddrEnv names the environment variable that tells the stand-in where
// the Server listens (host:port on loopback).
const AddrEnv = "WSLFWD_STANDIN_WSL"

// Frame types. The stand-in sends the request, then its standard input
// and its end; the server sends output and, last, the exit status.
const (
	frameRequest byte = iota + 1
	frameStdin
	frameStdinEOF
	frameStdout
	frameStderr
	frameExit
)

// maxFrame bounds one frame: a test's command output comes in chunks.
const maxFrame = 1 << 20

type wireRequest struct {
	Args []string `json:"args"`
	UTF8 bool     `json:"utf8"`
}

func writeFrame(w io.Writer, typ byte, payload []byte) error {
	var h [5]byte
	h[0] = typ
	binary.BigEndian.PutUint32(h[1:], uint32(len(payload)))
	if _, err := w.Write(h[:]); err != nil {
		return err
	}
	_, err := w.Write(payload)
	return err
}

func readFrame(r io.Reader) (byte, []byte, error) {
	var h [5]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(h[1:])
	if n > maxFrame {
		return 0, nil, fmt.Errorf("frame of %d bytes", n)
	}
	b := make([]byte, n)
	_, err := io.ReadFull(r, b)
	return h[0], b, err
}

// frameWriter writes each Write as one frame of its type; writers of
// one connection share the lock.
type frameWriter struct {
	mu  *sync.Mutex
	w   io.Writer
	typ byte
}

func (f frameWriter) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for rest := p; len(rest) > 0; {
		n := min(len(rest), maxFrame)
		if err := writeFrame(f.w, f.typ, rest[:n]); err != nil {
			return len(p) - len(rest), err
		}
		rest = rest[n:]
	}
	return len(p), nil
}

// Call is the stand-in's side: it sends args and stdin to the server at
// addr, copies what comes back to stdout and stderr, and returns the exit
// status.
func Call(addr string, args []string, utf8 bool, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return 0, fmt.Errorf("reach the wsl.exe stand-in's server at %s: %w", addr, err)
	}
	defer c.Close()
	req, _ := json.Marshal(wireRequest{Args: args, UTF8: utf8})
	var mu sync.Mutex
	if err := (frameWriter{&mu, c, frameRequest}).write(req); err != nil {
		return 0, err
	}
	go func() {
		io.Copy(frameWriter{&mu, c, frameStdin}, stdin)
		frameWriter{&mu, c, frameStdinEOF}.write(nil)
	}()
	br := bufio.NewReader(c)
	for {
		typ, b, err := readFrame(br)
		if err != nil {
			return 0, fmt.Errorf("read the answer: %w", err)
		}
		switch typ {
		case frameStdout:
			stdout.Write(b)
		case frameStderr:
			stderr.Write(b)
		case frameExit:
			return int(int32(binary.BigEndian.Uint32(b))), nil
		default:
			return 0, fmt.Errorf("unexpected frame type %d", typ)
		}
	}
}

// write sends one frame, also an empty one.
func (f frameWriter) write(p []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return writeFrame(f.w, f.typ, p)
}

// Handler runs one parsed command and returns wsl.exe's exit status.
type Handler func(ctx context.Context, r Request, stdin io.Reader, stdout, stderr io.Writer) int

// Serve answers stand-in calls on l with h until l is closed. A command
// line Parse refuses is answered as wsl.exe does: its message and exit
// status -1.
func Serve(l net.Listener, h Handler) error {
	for {
		c, err := l.Accept()
		if errors.Is(err, net.ErrClosed) {
			return nil
		}
		if err != nil {
			return err
		}
		go serveConn(c, h)
	}
}

func serveConn(c net.Conn, h Handler) {
	defer c.Close()
	br := bufio.NewReader(c)
	typ, b, err := readFrame(br)
	var wr wireRequest
	if err != nil || typ != frameRequest || json.Unmarshal(b, &wr) != nil {
		return
	}
	var mu sync.Mutex
	stdout, stderr := frameWriter{&mu, c, frameStdout}, frameWriter{&mu, c, frameStderr}
	inR, inW := io.Pipe()
	go pumpStdin(br, inW)
	code := -1
	r, err := Parse(wr.Args)
	r.UTF8 = wr.UTF8
	if err != nil {
		Say(stderr, r, err.Error()+"\nPlease use 'wsl.exe --help' to get a list of supported arguments.")
	} else {
		code = h(context.Background(), r, inR, stdout, stderr)
	}
	inR.Close()
	var e [4]byte
	binary.BigEndian.PutUint32(e[:], uint32(int32(code)))
	frameWriter{&mu, c, frameExit}.write(e[:])
}

// pumpStdin feeds the stdin frames to the handler's standard input.
func pumpStdin(r io.Reader, w *io.PipeWriter) {
	for {
		typ, b, err := readFrame(r)
		switch {
		case err != nil:
			w.CloseWithError(err)
			return
		case typ == frameStdinEOF:
			w.Close()
			return
		case typ == frameStdin:
			if _, err := w.Write(b); err != nil {
				return
			}
		}
	}
}

// Say writes one of wsl.exe's own messages, with CRLF line ends, in
// UTF-16LE unless WSL_UTF8=1, as wsl.exe does.
func Say(w io.Writer, r Request, text string) {
	text = strings.ReplaceAll(strings.TrimRight(text, "\n"), "\n", "\r\n") + "\r\n"
	if r.UTF8 {
		io.WriteString(w, text)
		return
	}
	u := utf16.Encode([]rune(text))
	b := make([]byte, 2*len(u))
	for i, c := range u {
		binary.LittleEndian.PutUint16(b[2*i:], c)
	}
	w.Write(b)
}
