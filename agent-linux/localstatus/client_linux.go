package localstatus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"time"
)

// Bounds of the status client.
const (
	// FetchTimeout bounds a whole request: the agent answers within
	// AnswerTimeout plus WriteTimeout.
	FetchTimeout = AnswerTimeout + WriteTimeout + time.Second
	// MaxDocument is the largest answer read. A listener takes about 250
	// bytes of JSON, so this holds some 67,000 listeners, sixteen times
	// what the daemon accepts from an agent by default
	// (max_listeners_per_agent, 4096), and still bounds what a wrong peer
	// can make the client hold.
	MaxDocument = 16 << 20
)

// startHint says how to start the agent, for errors that find none.
const startHint = "start it with `sudo systemctl start wslfwd-agent` (or `sudo wslfwd-agent install` once), " +
	"or give --status-socket the path the running agent serves"

// Fetch asks the agent serving path for its document.
func Fetch(ctx context.Context, path string) (Document, error) {
	ctx, cancel := context.WithTimeout(ctx, FetchTimeout)
	defer cancel()
	c, err := (&net.Dialer{}).DialContext(ctx, "unix", path)
	if err != nil {
		return Document{}, dialError(path, err)
	}
	defer c.Close()
	if d, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(d)
	}
	b, err := io.ReadAll(io.LimitReader(c, MaxDocument+1))
	switch {
	case err != nil:
		return Document{}, fmt.Errorf("read the agent's status from %s: %w", path, err)
	case len(b) > MaxDocument:
		return Document{}, fmt.Errorf("the agent's status from %s is larger than %d bytes: refused", path, MaxDocument)
	case len(b) == 0:
		return Document{}, fmt.Errorf("the agent at %s closed the connection without an answer (busy: more than %d requests at once?)", path, MaxConns)
	}
	var doc Document
	if err := json.Unmarshal(b, &doc); err != nil {
		return Document{}, fmt.Errorf("the agent's status from %s: %w", path, err)
	}
	if doc.Error != "" {
		return Document{}, fmt.Errorf("the agent at %s refused: %s", path, doc.Error)
	}
	return doc, nil
}

// dialError says in words why path could not be reached.
func dialError(path string, err error) error {
	switch {
	case errors.Is(err, syscall.ENOENT):
		return fmt.Errorf("no agent is running: the status socket %s does not exist; %s", path, startHint)
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("no agent is running: %s is left from an agent that stopped; %s", path, startHint)
	case errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM):
		return fmt.Errorf("permission denied on %s: the agent's status is root's to read (the distro's listeners and processes); run: sudo wslfwd-agent status", path)
	}
	return fmt.Errorf("connect to the agent's status socket %s: %w", path, err)
}
