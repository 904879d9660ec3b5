package server

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/tap"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/hostd-windows/agents"
	"github.com/wslfwd/wslfwd/hostd-windows/metrics"
	"github.com/wslfwd/wslfwd/internal/token"
)

// Tokens are the bearer tokens the daemon accepts, one per role. Admin is
// required; Read and Agent are optional (empty: that role has no token).
//
//   - Admin may call everything.
//   - Read may call ControlService's read calls: GetStatus, ListAgents,
//     ListForwards, Watch.
//   - Agent may call AgentService only, so a token handed to every distro
//     cannot steer forwards.
//
// The gRPC health service needs a token of any role: without one, a peer
// could make the daemon read and buffer message bodies (a health call may
// carry one of the largest size) before any token is seen. Server
// reflection needs a read or admin token; agents have no use for it.
type Tokens struct {
	Admin string
	Read  string
	Agent string
}

type role int

const (
	roleNone role = iota
	roleAdmin
	roleRead
	roleAgent
)

func (r role) String() string {
	switch r {
	case roleAdmin:
		return "admin"
	case roleRead:
		return "read"
	case roleAgent:
		return "agent"
	}
	return "none"
}

// readMethods are the calls a read token may make.
var readMethods = map[string]bool{
	wslfwdv1.ControlService_GetStatus_FullMethodName:    true,
	wslfwdv1.ControlService_ListAgents_FullMethodName:   true,
	wslfwdv1.ControlService_ListForwards_FullMethodName: true,
	wslfwdv1.ControlService_Watch_FullMethodName:        true,
}

const (
	healthPrefix     = "/grpc.health.v1.Health/"
	reflectionPrefix = "/grpc.reflection."
)

// auth checks each call's bearer token against the tokens and the
// method's role. Rejections are logged at most once per peer and interval,
// and every one is counted by code; tokens never are logged.
type auth struct {
	tokens   Tokens
	log      *slog.Logger
	metrics  *metrics.Metrics
	interval time.Duration
	arriving *arriving // calls whose first message is arriving, per role
	watching *places   // Watch streams, per role (MaxWatchesPerRole)
	calling  *places   // other calls of the CLI's roles (MaxCallsPerRole)

	mu   sync.Mutex
	last map[string]rejectLog // by peer IP
}

type rejectLog struct {
	at         time.Time
	suppressed int
}

func newAuth(t Tokens, log *slog.Logger, m *metrics.Metrics) *auth {
	return &auth{tokens: t, log: log, metrics: m, interval: 10 * time.Second, last: make(map[string]rejectLog),
		arriving: newArriving(), watching: newPlaces(MaxWatchesPerRole),
		calling: newPlaces(map[role]int{roleRead: MaxCallsPerRole, roleAdmin: MaxCallsPerRole})}
}

// roleOf compares the presented token with every configured one, each in
// constant time, and all of them, so timing does not tell which matched.
func (a *auth) roleOf(tok string) role {
	r := roleNone
	if a.tokens.Agent != "" && token.Equal(tok, a.tokens.Agent) {
		r = roleAgent
	}
	if a.tokens.Read != "" && token.Equal(tok, a.tokens.Read) {
		r = roleRead
	}
	if a.tokens.Admin != "" && token.Equal(tok, a.tokens.Admin) {
		r = roleAdmin
	}
	return r
}

// allowed reports whether a role may call method.
func allowed(r role, method string) bool {
	switch r {
	case roleAdmin:
		return true
	case roleRead:
		return readMethods[method] || strings.HasPrefix(method, reflectionPrefix) || strings.HasPrefix(method, healthPrefix)
	case roleAgent:
		// The agent stream only: root in any distro can read this token,
		// and nothing else it could call (the health service's Watch
		// streams last as long as the caller likes) is bounded for it.
		return method == wslfwdv1.AgentService_Session_FullMethodName
	}
	return false
}

// rank numbers the roles, 1 to numRanks-1, for the connection limiter,
// which keeps the connections of each role apart (limiter.graduate).
func (r role) rank() int {
	switch r {
	case roleAdmin:
		return 3
	case roleRead:
		return 2
	case roleAgent:
		return 1
	}
	return 0
}

// numRanks bounds role.rank.
const numRanks = 4

// authorize returns the role of the call's token, or the error the call
// gets. Every call needs a token.
func (a *auth) authorize(ctx context.Context, method string) (role, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	vals := md.Get(token.MetadataKey)
	if len(vals) != 1 {
		a.reject(ctx, method, "missing token")
		return roleNone, status.Error(codes.Unauthenticated, "missing bearer token in the authorization metadata")
	}
	tok, ok := token.FromHeader(vals[0])
	if !ok {
		a.reject(ctx, method, "malformed authorization header")
		return roleNone, status.Error(codes.Unauthenticated, `authorization metadata must be "Bearer <token>"`)
	}
	r := a.roleOf(tok)
	if r == roleNone {
		a.reject(ctx, method, "wrong token")
		return roleNone, status.Error(codes.Unauthenticated, "invalid token")
	}
	if !allowed(r, method) {
		a.reject(ctx, method, "token of role "+r.String()+" not allowed")
		// "the admin token", not "a admin token": no article to agree.
		return roleNone, status.Errorf(codes.PermissionDenied, "the %s token may not call %s", r, method)
	}
	return r, nil
}

// reject logs a refused call, at most once per peer per interval, with the
// number of refusals not logged since.
func (a *auth) reject(ctx context.Context, method, why string) {
	var addr net.Addr
	if p, ok := peer.FromContext(ctx); ok {
		addr = p.Addr
	}
	a.rejectFrom(addr, method, why)
}

// rejectFrom is reject for a peer known by its address.
func (a *auth) rejectFrom(addr net.Addr, method, why string) {
	host := "unknown"
	if addr != nil {
		// By address, many loopback addresses as one; logged as it
		// came, so the log names the address a flood came from.
		host = agents.Source(addrPort(addr), netip.AddrPort{}).String()
	}
	now := time.Now()
	a.mu.Lock()
	l := a.last[host]
	if now.Sub(l.at) < a.interval {
		l.suppressed++
		a.last[host] = l
		a.mu.Unlock()
		return
	}
	suppressed := l.suppressed
	a.last[host] = rejectLog{at: now}
	if len(a.last) > 4096 {
		for k, v := range a.last {
			if now.Sub(v.at) >= a.interval {
				delete(a.last, k)
			}
		}
	}
	a.mu.Unlock()
	a.log.Warn("rejected call", "peer", host, "method", method, "why", why, "suppressed_since_last", suppressed)
}

// tap is where every call's token is checked: as soon as its headers
// arrive, before gRPC reads any of its messages, so a peer without a
// token cannot make the daemon buffer a request body (an interceptor runs
// only once a unary request has been read). The first call with a valid
// token moves its connection out of the limiter's pending pool. Every
// refusal is counted by its code.
func (a *auth) tap(ctx context.Context, info *tap.Info) (context.Context, error) {
	ctx, err := a.admit(ctx, info)
	if err != nil {
		a.metrics.CallRefused(status.Code(err).String())
	}
	return ctx, err
}

// admit returns the error a call gets, or nil and the call's context: the
// token's and the role's check, then room for the connection under the
// authenticated caps, then a place among the role's calls whose first
// message is arriving.
func (a *auth) admit(ctx context.Context, info *tap.Info) (context.Context, error) {
	r, err := a.authorize(metadata.NewIncomingContext(ctx, info.Header), info.FullMethodName)
	var c *connAddr
	if p, ok := peer.FromContext(ctx); ok {
		c, _ = p.Addr.(*connAddr)
	}
	if err != nil && c != nil && status.Code(err) == codes.Unauthenticated {
		c.conn.refused.Store(true) // the first to give way to a new connection
	}
	if err != nil || r == roleNone || c == nil {
		return ctx, err
	}
	if !c.conn.lim.graduate(c.conn, r.rank()) {
		return ctx, status.Error(codes.ResourceExhausted, "too many connections with a token of this role; close some and retry")
	}
	ctx, ok := a.arriving.enter(ctx, r.rank())
	if !ok {
		return ctx, status.Errorf(codes.ResourceExhausted, "%d calls with a token of this role are still sending their first message; retry", MaxArrivingPerRole)
	}
	switch {
	case info.FullMethodName == wslfwdv1.ControlService_Watch_FullMethodName:
		if _, ok := a.watching.take(ctx, r.rank()); !ok {
			leave(ctx)
			return ctx, status.Errorf(codes.ResourceExhausted, "%d watch streams with a token of this role are open, its limit; close one and retry", a.watching.max[r.rank()])
		}
	case r != roleAgent:
		if _, ok := a.calling.take(ctx, r.rank()); !ok {
			leave(ctx)
			return ctx, status.Errorf(codes.ResourceExhausted, "%d calls with a token of this role are in progress, its limit; retry", MaxCallsPerRole)
		}
	}
	return ctx, nil
}

// MaxCallsPerRole bounds the calls in progress of the CLI's roles (read
// and admin), Watch aside. A call is in progress until its answer is
// sent, and a client that does not read its answers keeps them in the
// daemon's memory (ListForwards with every forward listed is hundreds of
// KiB); people and scripts make a call or two at a time.
const MaxCallsPerRole = 16

// MaxWatchesPerRole bounds the Watch streams of each role that may call
// it, so that the read token, which every local user can read, cannot
// take them all from the admin: together they are the engine's bound
// (engine.MaxWatchers, 32).
var MaxWatchesPerRole = map[role]int{roleAdmin: 8, roleRead: 24}
