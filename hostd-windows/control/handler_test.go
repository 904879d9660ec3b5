package control

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/hostd-windows/backend"
	"github.com/wslfwd/wslfwd/hostd-windows/engine"
)

// fakeEngine answers every call with err and records what it was asked.
type fakeEngine struct {
	err      error
	exposed  []engine.ExposeRequest
	probed   []engine.ProbeRequest
	unexpose []netip.AddrPort
	fwds     []*wslfwdv1.Forward // Forwards(true); Forwards(false) leaves out the blocked
}

func (f *fakeEngine) Status(context.Context) *wslfwdv1.GetStatusResponse { return nil }
func (f *fakeEngine) Agents() ([]*wslfwdv1.Agent, []*wslfwdv1.AgentRefusal) {
	return nil, nil
}
func (f *fakeEngine) Forwards(all bool) []*wslfwdv1.Forward {
	if all {
		return f.fwds
	}
	var out []*wslfwdv1.Forward
	for _, fw := range f.fwds {
		if fw.GetState() != wslfwdv1.ForwardState_FORWARD_STATE_BLOCKED {
			out = append(out, fw)
		}
	}
	return out
}
func (f *fakeEngine) Unreported() []*wslfwdv1.UnreportedListeners { return nil }
func (f *fakeEngine) Expose(_ context.Context, r engine.ExposeRequest) (*wslfwdv1.Forward, error) {
	f.exposed = append(f.exposed, r)
	return &wslfwdv1.Forward{}, f.err
}
func (f *fakeEngine) Unexpose(_ context.Context, _ backend.Protocol, host netip.AddrPort) (*wslfwdv1.Forward, error) {
	f.unexpose = append(f.unexpose, host)
	return &wslfwdv1.Forward{}, f.err
}
func (f *fakeEngine) Probe(_ context.Context, r engine.ProbeRequest) (*wslfwdv1.ProbeResponse, error) {
	f.probed = append(f.probed, r)
	return &wslfwdv1.ProbeResponse{}, f.err
}
func (f *fakeEngine) Watch(context.Context, bool, func([]*wslfwdv1.WatchResponse) error) error {
	return f.err
}

// Each kind of engine error reaches the client as its code, with the
// engine's words; a context's error as Canceled or DeadlineExceeded; any
// other as Internal.
func TestEngineErrorsBecomeCodes(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want codes.Code
	}{
		{fmt.Errorf("listen_address: %w", engine.ErrInvalid), codes.InvalidArgument},
		{engine.ErrNotFound, codes.NotFound},
		{engine.ErrExists, codes.AlreadyExists},
		{engine.ErrNotReady, codes.FailedPrecondition},
		{engine.ErrUnavailable, codes.Unavailable},
		{engine.ErrTimeout, codes.DeadlineExceeded},
		{engine.ErrLimit, codes.ResourceExhausted},
		{fmt.Errorf("waiting for the engine: %w", context.Canceled), codes.Canceled},
		{fmt.Errorf("waiting for the engine: %w", context.DeadlineExceeded), codes.DeadlineExceeded},
		{errors.New("disk full"), codes.Internal},
	} {
		s := New(&fakeEngine{err: tc.err})
		_, err := s.Expose(t.Context(), &wslfwdv1.ExposeRequest{Port: 80})
		if st, _ := status.FromError(err); st.Code() != tc.want || st.Message() != tc.err.Error() {
			t.Errorf("engine error %q: got %v, want %s with the same words", tc.err, err, tc.want)
		}
	}
}

// A malformed request is refused with InvalidArgument before the engine
// is asked anything.
func TestMalformedRequestsNeverReachTheEngine(t *testing.T) {
	f := &fakeEngine{}
	s := New(f)
	ctx := t.Context()
	calls := []struct {
		name string
		call func() error
	}{
		{"expose port 0", func() error { _, err := s.Expose(ctx, &wslfwdv1.ExposeRequest{}); return err }},
		{"expose protocol", func() error {
			_, err := s.Expose(ctx, &wslfwdv1.ExposeRequest{Port: 80, Protocol: 9})
			return err
		}},
		{"expose zone", func() error {
			_, err := s.Expose(ctx, &wslfwdv1.ExposeRequest{Port: 80, ListenAddress: "fe80::1%eth0"})
			return err
		}},
		{"unexpose host port", func() error {
			_, err := s.Unexpose(ctx, &wslfwdv1.UnexposeRequest{HostPort: 70000})
			return err
		}},
		{"probe timeout", func() error {
			_, err := s.Probe(ctx, &wslfwdv1.ProbeRequest{Timeout: durationpb.New(2 * maxProbeTimeout)})
			return err
		}},
		{"probe port", func() error { _, err := s.Probe(ctx, &wslfwdv1.ProbeRequest{Port: 65536}); return err }},
	}
	for _, c := range calls {
		if err := c.call(); status.Code(err) != codes.InvalidArgument {
			t.Errorf("%s: %v, want InvalidArgument", c.name, err)
		}
	}
	if len(f.exposed)+len(f.unexpose)+len(f.probed) != 0 {
		t.Fatalf("the engine was asked %v %v %v", f.exposed, f.unexpose, f.probed)
	}
}

// Defaults are filled in before the engine is asked: TCP, the host port
// from the port, the probe's default timeout.
func TestRequestDefaults(t *testing.T) {
	f := &fakeEngine{}
	s := New(f)
	if _, err := s.Expose(t.Context(), &wslfwdv1.ExposeRequest{Port: 3000, ListenAddress: "::ffff:10.0.0.1"}); err != nil {
		t.Fatal(err)
	}
	want := engine.ExposeRequest{Protocol: backend.TCP, Port: 3000, HostPort: 3000, Listen: netip.MustParseAddr("10.0.0.1")}
	if len(f.exposed) != 1 || f.exposed[0] != want {
		t.Errorf("exposed %v, want %v", f.exposed, want)
	}
	if _, err := s.Probe(t.Context(), &wslfwdv1.ProbeRequest{Distro: "Ubuntu"}); err != nil {
		t.Fatal(err)
	}
	if want := (engine.ProbeRequest{Distro: "Ubuntu", Timeout: defaultProbeTimeout}); len(f.probed) != 1 || f.probed[0] != want {
		t.Errorf("probed %v, want %v", f.probed, want)
	}
}
