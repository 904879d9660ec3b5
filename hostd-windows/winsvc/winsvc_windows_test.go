package winsvc

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/svc"

	"github.com/wslfwd/wslfwd/internal/fileperm"
)

// memLog records Event Log messages.
type memLog struct {
	mu   sync.Mutex
	msgs []string
}

func (l *memLog) add(kind string, eid uint32, msg string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.msgs = append(l.msgs, kind+": "+msg)
	return nil
}
func (l *memLog) Close() error                         { return nil }
func (l *memLog) Info(eid uint32, msg string) error    { return l.add("info", eid, msg) }
func (l *memLog) Warning(eid uint32, msg string) error { return l.add("warning", eid, msg) }
func (l *memLog) Error(eid uint32, msg string) error   { return l.add("error", eid, msg) }

// execute runs the handler as the service manager would, returning the
// status channel and the request channel.
func execute(h *handler) (chan svc.Status, chan svc.ChangeRequest, chan uint32) {
	status := make(chan svc.Status, 10)
	req := make(chan svc.ChangeRequest)
	code := make(chan uint32, 1)
	go func() {
		_, c := h.Execute(nil, req, status)
		code <- c
	}()
	return status, req, code
}

func next(t *testing.T, status chan svc.Status) svc.State {
	t.Helper()
	select {
	case s := <-status:
		return s.State
	case <-time.After(10 * time.Second):
		t.Fatal("no status from the handler")
		return 0
	}
}

func TestHandlerStartStop(t *testing.T) {
	log := &memLog{}
	stopped := make(chan struct{})
	h := &handler{log: log, run: func(ctx context.Context, ready func()) error {
		ready()
		<-ctx.Done()
		close(stopped)
		return nil
	}}
	status, req, code := execute(h)
	if s := next(t, status); s != svc.StartPending {
		t.Fatalf("first status %d, want StartPending", s)
	}
	if s := next(t, status); s != svc.Running {
		t.Fatalf("status %d, want Running", s)
	}
	req <- svc.ChangeRequest{Cmd: svc.Interrogate, CurrentStatus: svc.Status{State: svc.Running}}
	if s := next(t, status); s != svc.Running {
		t.Fatalf("interrogate answered %d", s)
	}
	req <- svc.ChangeRequest{Cmd: svc.Stop}
	if s := next(t, status); s != svc.StopPending {
		t.Fatalf("status %d, want StopPending", s)
	}
	if c := <-code; c != 0 {
		t.Errorf("exit code %d after a requested stop", c)
	}
	<-stopped
	if got := strings.Join(log.msgs, "|"); got != "info: wslfwd-hostd started|info: wslfwd-hostd stopped" {
		t.Errorf("event log = %q", got)
	}
}

func TestHandlerFailure(t *testing.T) {
	log := &memLog{}
	h := &handler{log: log, run: func(context.Context, func()) error {
		return errors.New("listen on 172.28.240.1:17810: address not available")
	}}
	status, _, code := execute(h)
	next(t, status)
	if c := <-code; c != 1 {
		t.Errorf("exit code %d, want 1 so recovery restarts the service", c)
	}
	if len(log.msgs) != 1 || !strings.Contains(log.msgs[0], "error: wslfwd-hostd failed: listen on") {
		t.Errorf("event log = %q", log.msgs)
	}
}

// TestSDDL checks that the DACLs parse and say what they mean.
func TestSDDL(t *testing.T) {
	for sddl, entries := range map[string]uint16{FileSDDL: 2, StateSDDL: 2, ReadableFileSDDL: 3} {
		sd, err := windows.SecurityDescriptorFromString(sddl)
		if err != nil {
			t.Fatalf("%s: %v", sddl, err)
		}
		if got := sd.String(); got != sddl {
			t.Errorf("%s reads back as %s", sddl, got)
		}
		dacl, _, err := sd.DACL()
		if err != nil || dacl == nil || dacl.AceCount != entries {
			t.Errorf("%s: DACL %v, %v; want %d entries", sddl, dacl, err, entries)
		}
	}
}

func isWine() bool {
	return windows.NewLazySystemDLL("ntdll.dll").NewProc("wine_get_version").Find() == nil
}

// TestSecureFile sets the token file DACL and reads it back.
func TestSecureFile(t *testing.T) {
	dir := t.TempDir()
	if err := SecureDir(dir); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "agent.token")
	if err := os.WriteFile(path, []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := SecureFile(path); err != nil {
		t.Fatal(err)
	}
	if err := SetAdminOwner(path); err != nil {
		t.Fatal(err)
	}
	if isWine() {
		t.Skip("needs Windows: Wine accepts file DACLs but does not store them (it keeps Unix modes)")
	}
	got, err := DACL(path)
	if err != nil {
		t.Fatal(err)
	}
	if got != FileSDDL {
		t.Errorf("DACL = %q, want %q", got, FileSDDL)
	}
	if got, err := DACL(dir); err != nil || got != StateSDDL {
		t.Errorf("directory DACL = %q, %v; want %q", got, err, StateSDDL)
	}
	sd, err := windows.GetNamedSecurityInfo(path, windows.SE_FILE_OBJECT, windows.OWNER_SECURITY_INFORMATION)
	if err != nil {
		t.Fatal(err)
	}
	if owner, _, err := sd.Owner(); err != nil || !owner.IsWellKnown(windows.WinBuiltinAdministratorsSid) {
		t.Errorf("owner = %v, %v; want Administrators", owner, err)
	}
}

// TestSecureReadableFile gives a file the read token's DACL: the daemon's
// check for the read token accepts it, the one for the other tokens not.
func TestSecureReadableFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "read.token")
	if err := os.WriteFile(path, []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := SecureReadableFile(path); err != nil {
		t.Fatal(err)
	}
	if err := SetAdminOwner(path); err != nil {
		t.Fatal(err)
	}
	if isWine() {
		t.Skip("needs Windows: Wine accepts file DACLs but does not store them (it keeps Unix modes)")
	}
	if got, err := DACL(path); err != nil || got != ReadableFileSDDL {
		t.Errorf("DACL = %q, %v; want %q", got, err, ReadableFileSDDL)
	}
	if err := fileperm.CheckReadShared(path); err != nil {
		t.Errorf("the read token's check refuses its DACL: %v", err)
	}
	if err := fileperm.CheckPrivate(path); err == nil {
		t.Error("the admin and agent tokens' check accepts a DACL that lets Users read")
	}
}

// TestSecureConfig secures a config in the state directory, so that the
// service's check (as SYSTEM) takes it, and leaves one elsewhere as it is.
func TestSecureConfig(t *testing.T) {
	root := t.TempDir()
	stateDir := filepath.Join(root, "wslfwd")
	if err := os.Mkdir(stateDir, 0o700); err != nil {
		t.Fatal(err)
	}
	inside, outside := filepath.Join(stateDir, "config.toml"), filepath.Join(root, "config.toml")
	for _, p := range []string{inside, outside} {
		if err := os.WriteFile(p, []byte("udp = true\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if secured, err := SecureConfig(stateDir, outside); err != nil || secured {
		t.Errorf("a config outside the state directory: secured %v, %v; want it left alone", secured, err)
	}
	if secured, err := SecureConfig(stateDir, inside); err != nil || !secured {
		t.Fatalf("a config in the state directory: secured %v, %v", secured, err)
	}
	if isWine() {
		t.Skip("needs Windows: Wine accepts file DACLs and owners but does not store them")
	}
	if got, err := DACL(inside); err != nil || got != FileSDDL {
		t.Errorf("DACL = %q, %v; want %q", got, err, FileSDDL)
	}
	if err := fileperm.CheckConfigFor(inside, SIDSystem); err != nil {
		t.Errorf("the service's check refuses the config install secured: %v", err)
	}
	if err := fileperm.CheckConfigFor(outside, SIDSystem); err == nil {
		t.Error("the service's check takes a config this test's user owns")
	}
}
