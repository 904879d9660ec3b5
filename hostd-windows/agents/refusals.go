package agents

import (
	"cmp"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/hostd-windows/logfile"
	"github.com/wslfwd/wslfwd/internal/safetext"
)

// Bounds on the refusal record: a flood of refused sessions from many
// addresses must neither grow the daemon nor fill its log.
const (
	maxRefusals     = 64
	refusalLogEvery = time.Minute
	// refusalLogMax bounds the refusals logged per refusalLogEvery in all:
	// each row logs once a minute, but new rows (a new distro name each
	// time) would otherwise log every time.
	refusalLogMax = 20
)

// refusalKey groups refusals: one row per distro, address and reason.
type refusalKey struct {
	distro string
	peer   netip.Addr
	reason string
}

type refusal struct {
	code        codes.Code
	count       uint32
	first, last time.Time
	logged      time.Time // last time this row was logged
	unlogged    uint32    // refusals since then, not logged
}

// refusals remembers the sessions the registry refused, so `wslfwd agents`
// can say why a distro is not connected, and logs them at a bounded rate.
type refusals struct {
	log     *slog.Logger
	now     func() time.Time
	counted func(code string) // Options.Refused; may be nil

	budget *logfile.Budget // refusalLogMax per refusalLogEvery, in all

	mu   sync.Mutex
	rows map[refusalKey]*refusal
}

// record notes that a session of distro from peer was refused with err (a
// gRPC status), and logs it unless the same refusal was logged within the
// last minute. Errors that refuse nothing (a session that ended or was
// replaced by its own agent's newer one) are not recorded.
func (rs *refusals) record(distro string, peer netip.AddrPort, err error) {
	st, ok := status.FromError(err)
	if !ok || err == nil || st.Code() == codes.Canceled || st.Code() == codes.Aborted {
		return
	}
	if checkText("distro", distro, maxDistroLen) != nil {
		distro = "" // unreadable: only the address says who it was
	}
	if rs.counted != nil {
		rs.counted(st.Code().String())
	}
	now := rs.now()
	k := refusalKey{distro: distro, peer: peer.Addr().Unmap(), reason: shown(st.Message())}
	rs.mu.Lock()
	r := rs.rows[k]
	if r == nil {
		rs.evictOldest()
		r = &refusal{code: st.Code(), first: now}
		rs.rows[k] = r
	}
	r.count++
	r.last = now
	logNow, others := false, 0
	if now.Sub(r.logged) >= refusalLogEvery {
		logNow, others = rs.budget.Take(now)
	}
	suppressed := r.unlogged
	if logNow {
		r.logged, r.unlogged = now, 0
	} else {
		r.unlogged++
	}
	rs.mu.Unlock()
	if logNow {
		rs.log.Warn("agent session refused", "distro", distro, "peer", peer, "code", st.Code().String(),
			"reason", k.reason, "suppressed_since_last", suppressed, "suppressed_other_refusals", others)
	}
}

// maxReasonLen bounds a refusal's reason as kept and shown.
const maxReasonLen = 256

// shown returns a refusal's reason as the table keeps it: at most
// maxReasonLen characters, each unprintable one (and each byte that is
// not UTF-8) a '?'. The reason may quote what the agent sent, which
// validation refused, so it is text no terminal should be handed raw.
func shown(reason string) string {
	var b strings.Builder
	n := 0
	for _, r := range reason { // a byte that is not UTF-8 comes as RuneError
		if n == maxReasonLen {
			b.WriteString("…")
			break
		}
		b.WriteRune(safetext.Rune(r))
		n++
	}
	return b.String()
}

// evictOldest makes room for one more row: it drops the oldest row of the
// peer address that holds the most (of those, the one whose oldest row is
// oldest). So a peer that floods the table with refusals of ever new
// reasons or distro names pushes out its own rows, never another's, unless
// every peer in the table holds as few rows as the other: one peer cannot
// hide a real refusal of another, which had taken 64 invalid messages.
// Called with rs.mu held.
func (rs *refusals) evictOldest() {
	if len(rs.rows) < maxRefusals {
		return
	}
	type share struct {
		rows   int
		oldest refusalKey
		at     time.Time
	}
	shares := make(map[netip.Addr]*share)
	for k, r := range rs.rows {
		sh := shares[k.peer]
		if sh == nil {
			sh = &share{}
			shares[k.peer] = sh
		}
		sh.rows++
		if sh.at.IsZero() || r.last.Before(sh.at) {
			sh.oldest, sh.at = k, r.last
		}
	}
	var most *share
	for _, sh := range shares {
		if most == nil || sh.rows > most.rows || sh.rows == most.rows && sh.at.Before(most.at) {
			most = sh
		}
	}
	delete(rs.rows, most.oldest)
}

// list returns the refusals, newest first.
func (rs *refusals) list() []*wslfwdv1.AgentRefusal {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	out := make([]*wslfwdv1.AgentRefusal, 0, len(rs.rows))
	for k, r := range rs.rows {
		out = append(out, &wslfwdv1.AgentRefusal{
			Distro:      k.distro,
			PeerAddress: k.peer.String(),
			Reason:      k.reason,
			Code:        r.code.String(),
			Count:       r.count,
			First:       timestamppb.New(r.first),
			Last:        timestamppb.New(r.last),
		})
	}
	slices.SortFunc(out, func(a, b *wslfwdv1.AgentRefusal) int {
		if c := b.GetLast().AsTime().Compare(a.GetLast().AsTime()); c != 0 {
			return c
		}
		return cmp.Or(cmp.Compare(a.GetDistro(), b.GetDistro()), cmp.Compare(a.GetPeerAddress(), b.GetPeerAddress()),
			cmp.Compare(a.GetReason(), b.GetReason()))
	})
	return out
}
