package localstatus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// Bounds of the status server: only root can connect, but a stuck or
// runaway client must still cost the agent no more than this.
const (
	// MaxConns is how many requests are answered at once; a connection
	// past it is closed unanswered.
	MaxConns = 8
	// AnswerTimeout is how long a request waits for the daemon to say it
	// acted on everything sent; past it the answer says what is known
	// (listeners not yet acted on are pending).
	AnswerTimeout = 2 * time.Second
	// WriteTimeout bounds writing the answer to a client that does not
	// read it.
	WriteTimeout = 2 * time.Second
	// acceptPause is the wait after a failed accept (out of file
	// descriptors), so the loop does not spin.
	acceptPause = 100 * time.Millisecond
)

// Server serves Documents on a Unix socket, one per connection.
type Server struct {
	sock *socket
	log  *slog.Logger
}

// Listen prepares the socket at path (see listen). It fails with ErrInUse
// when a live agent serves that path already.
func Listen(path string, log *slog.Logger) (*Server, error) {
	s, err := listen(path)
	if err != nil {
		return nil, err
	}
	return &Server{sock: s, log: log}, nil
}

// Serve answers each connection with build's document until ctx ends,
// then removes the socket. build gets a context bounded by AnswerTimeout.
func (s *Server) Serve(ctx context.Context, build func(context.Context) Document) {
	defer s.sock.close()
	stop := context.AfterFunc(ctx, func() { s.sock.ln.Close() })
	defer stop()
	busy := make(chan struct{}, MaxConns)
	for {
		c, err := s.sock.ln.AcceptUnix()
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			s.log.Warn("status socket: accept", "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(acceptPause):
			}
			continue
		}
		select {
		case busy <- struct{}{}:
			go func() {
				defer func() { <-busy }()
				s.answer(ctx, c, build)
			}()
		default:
			c.Close()
		}
	}
}

// answer writes one document, or a refusal to a peer that is neither
// root nor this process's user, and closes c.
func (s *Server) answer(ctx context.Context, c *net.UnixConn, build func(context.Context) Document) {
	defer c.Close()
	var doc Document
	if uid, err := peerUID(c); err != nil {
		doc.Error = "cannot tell who is asking: " + err.Error()
	} else if uid != 0 && uid != uint32(os.Geteuid()) {
		doc.Error = fmt.Sprintf("permission denied: uid %d may not read the agent's status: the distro's listeners and processes are root's to see; run it as root (sudo)", uid)
	} else {
		ctx, cancel := context.WithTimeout(ctx, AnswerTimeout)
		doc = build(ctx)
		cancel()
	}
	if err := c.SetWriteDeadline(time.Now().Add(WriteTimeout)); err != nil {
		return
	}
	if err := json.NewEncoder(c).Encode(doc); err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
		s.log.Debug("status socket: answer", "err", err)
	}
}

// peerUID returns the uid of the process that connected c, as the kernel
// recorded it at connect (SO_PEERCRED).
func peerUID(c *net.UnixConn) (uint32, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return 0, err
	}
	var cred *unix.Ucred
	var credErr error
	if err := raw.Control(func(fd uintptr) {
		cred, credErr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return 0, err
	}
	if credErr != nil {
		return 0, fmt.Errorf("SO_PEERCRED: %w", credErr)
	}
	return cred.Uid, nil
}
