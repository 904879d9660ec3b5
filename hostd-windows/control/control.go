// Package control serves ControlService, the CLI's API, on top of the
// engine: each handler checks and converts its request, makes one call on
// the Engine and converts the answer. The engine's errors become gRPC
// status codes here, in one place (status.go).
package control

import (
	"context"
	"net/netip"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/hostd-windows/backend"
	"github.com/wslfwd/wslfwd/hostd-windows/engine"
	"github.com/wslfwd/wslfwd/internal/replysize"
)

// Engine is what the handlers call; *engine.Engine is one. Handler tests
// use a fake.
type Engine interface {
	Status(ctx context.Context) *wslfwdv1.GetStatusResponse
	Agents() ([]*wslfwdv1.Agent, []*wslfwdv1.AgentRefusal)
	Forwards(all bool) []*wslfwdv1.Forward
	Unreported() []*wslfwdv1.UnreportedListeners
	Expose(ctx context.Context, req engine.ExposeRequest) (*wslfwdv1.Forward, error)
	Unexpose(ctx context.Context, p backend.Protocol, host netip.AddrPort) (*wslfwdv1.Forward, error)
	Probe(ctx context.Context, req engine.ProbeRequest) (*wslfwdv1.ProbeResponse, error)
	Watch(ctx context.Context, initial bool, send func([]*wslfwdv1.WatchResponse) error) error
}

// Service implements ControlService.
type Service struct {
	wslfwdv1.UnimplementedControlServiceServer
	engine Engine
}

// New returns the ControlService of e.
func New(e Engine) *Service { return &Service{engine: e} }

// GetStatus reports the daemon's version, setup, counts and problems.
func (s *Service) GetStatus(ctx context.Context, _ *wslfwdv1.GetStatusRequest) (*wslfwdv1.GetStatusResponse, error) {
	return s.engine.Status(ctx), nil
}

// ListAgents lists connected agents and those in their grace period.
func (s *Service) ListAgents(context.Context, *wslfwdv1.ListAgentsRequest) (*wslfwdv1.ListAgentsResponse, error) {
	agents, refusals := s.engine.Agents()
	return &wslfwdv1.ListAgentsResponse{Agents: agents, Refusals: refusals}, nil
}

// ListForwards lists forwards policy wants; with all, also the listeners
// and static forwards it does not (blocked, direct, conflicting); and the
// distros that left listeners unreported. The answer stays within
// replysize.Max, which the CLI accepts: rows that do not fit are left out
// and counted (fit).
func (s *Service) ListForwards(_ context.Context, req *wslfwdv1.ListForwardsRequest) (*wslfwdv1.ListForwardsResponse, error) {
	resp := &wslfwdv1.ListForwardsResponse{Unreported: s.engine.Unreported()}
	// The omitted count, a uint32, takes at most 6 bytes.
	resp.Forwards, resp.Omitted = fit(s.engine.Forwards(req.GetAll()), replysize.Max-proto.Size(resp)-6)
	return resp, nil
}

// Expose pins a static forward and returns it once the engine has acted
// on it.
func (s *Service) Expose(ctx context.Context, req *wslfwdv1.ExposeRequest) (*wslfwdv1.ExposeResponse, error) {
	er, err := exposeRequest(req)
	if err != nil {
		return nil, err
	}
	f, err := s.engine.Expose(ctx, er)
	if err != nil {
		return nil, statusOf(err)
	}
	return &wslfwdv1.ExposeResponse{Forward: f}, nil
}

// Unexpose removes a static forward made by Expose.
func (s *Service) Unexpose(ctx context.Context, req *wslfwdv1.UnexposeRequest) (*wslfwdv1.UnexposeResponse, error) {
	p, host, err := unexposeRequest(req)
	if err != nil {
		return nil, err
	}
	f, err := s.engine.Unexpose(ctx, p, host)
	if err != nil {
		return nil, statusOf(err)
	}
	return &wslfwdv1.UnexposeResponse{Forward: f}, nil
}

// Probe tests the paths between host, distro and LAN (engine.Probe).
func (s *Service) Probe(ctx context.Context, req *wslfwdv1.ProbeRequest) (*wslfwdv1.ProbeResponse, error) {
	pr, err := probeRequest(req)
	if err != nil {
		return nil, err
	}
	resp, err := s.engine.Probe(ctx, pr)
	if err != nil {
		return nil, statusOf(err)
	}
	return resp, nil
}

// Watch streams agent and forward events (engine.Watch). The response
// headers are sent once the subscription is in place: a client that
// waits for them knows later changes will reach it.
func (s *Service) Watch(req *wslfwdv1.WatchRequest, st grpc.ServerStreamingServer[wslfwdv1.WatchResponse]) error {
	subscribed := false
	var sendErr error // the stream's own error, returned as it is
	err := s.engine.Watch(st.Context(), req.GetInitial(), func(evs []*wslfwdv1.WatchResponse) error {
		if !subscribed {
			subscribed = true
			if sendErr = st.SendHeader(metadata.MD{}); sendErr != nil {
				return sendErr
			}
		}
		for _, e := range evs {
			if sendErr = st.Send(e); sendErr != nil {
				return sendErr
			}
		}
		return nil
	})
	if sendErr != nil {
		return sendErr
	}
	return statusOf(err)
}
