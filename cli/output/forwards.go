package output

import (
	"fmt"
	"io"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/internal/enumtext"
	"github.com/wslfwd/wslfwd/internal/netproto"
)

// Forwards renders ListForwards as a table. A REASON column is added when
// any row carries a reason (always the case for listeners not forwarded);
// it comes last and is never cut, since it is the answer to "why not".
// Distros that left listeners unreported are named under it.
func Forwards(w io.Writer, r *wslfwdv1.ListForwardsResponse, all bool) {
	defer unreported(w, r.GetUnreported())
	defer omitted(w, r.GetOmitted())
	fs := r.GetForwards()
	if len(fs) == 0 {
		if all {
			fmt.Fprintln(w, "No forwards and no listeners reported.")
		} else {
			fmt.Fprintln(w, "No forwards. `wslfwd forwards --all` also lists listeners that are not forwarded, and why.")
		}
		return
	}
	withReason := false
	for _, f := range fs {
		if f.GetReason() != "" {
			withReason = true
			break
		}
	}
	tw := newTable(w)
	head := []string{"PROTO", "LISTEN", "TARGET", "DISTRO", "PROCESS", "BACKEND", "STATE"}
	if withReason {
		head = append(head, "REASON")
	}
	tw.row(head...)
	for _, f := range fs {
		cells := []string{
			netproto.Name(f.GetProtocol()),
			HostPort(f.GetListenAddress(), f.GetListenPort()),
			Target(f),
			Truncate(f.GetDistro(), maxDistro),
			Truncate(f.GetProcessName(), maxProcess),
			f.GetBackend(),
			enumtext.State(f.GetState()),
		}
		if withReason {
			cells = append(cells, f.GetReason())
		}
		tw.row(cells...)
	}
	tw.flush()
}

// Target is where a forward connects in the distro; for a listener that is
// not forwarded, the listener's own bind address.
func Target(f *wslfwdv1.Forward) string {
	addr := f.GetConnectAddress()
	if addr == "" {
		addr = f.GetListenerAddress()
	}
	return HostPort(addr, f.GetConnectPort())
}

// Describe is a forward in one phrase: "udp 0.0.0.0:5353 -> 172.28.240.53:53 (Ubuntu)".
func Describe(f *wslfwdv1.Forward) string {
	s := fmt.Sprintf("%s %s -> %s", netproto.Name(f.GetProtocol()), orNone(HostPort(f.GetListenAddress(), f.GetListenPort())), orNone(Target(f)))
	if f.GetDistro() != "" {
		s += " (" + f.GetDistro() + ")"
	}
	return s
}

// Changed renders the result of expose or unexpose as one sentence:
// "Exposed tcp 0.0.0.0:8080 -> 172.28.240.53:8080 (Ubuntu): PENDING, reason".
func Changed(w io.Writer, verb string, f *wslfwdv1.Forward) {
	s := verb + " " + Describe(f)
	if st := enumtext.State(f.GetState()); st != "" {
		s += ": " + st
		if f.GetReason() != "" {
			s += ", " + f.GetReason()
		}
	}
	fmt.Fprintln(w, s)
}

func orNone(s string) string {
	if s == "" {
		return none
	}
	return s
}

// omitted says, under the forwards, how many rows the daemon left out to
// keep its answer within what a client reads: only a table far past what
// a real VM reports (made-up distros' listeners) comes near.
func omitted(w io.Writer, n uint32) {
	if n > 0 {
		fmt.Fprintf(w, "%d more rows left out by the daemon, listeners not forwarded first: the list is longer than one answer carries.\n", n)
	}
}

// unreported says, under the forwards, which distros left listeners out
// because they have more than the daemon accepts: those listeners are in
// no row, forwarded or not. The count is the agent's word, and says so.
func unreported(w io.Writer, us []*wslfwdv1.UnreportedListeners) {
	for _, u := range us {
		what := fmt.Sprintf("%d listeners", u.GetCount())
		if u.GetCount() == 1 {
			what = "1 listener"
		}
		fmt.Fprintf(w, "%s: its agent says it left %s unreported, so not forwarded: the distro has more than the daemon accepts from one agent (%d, max_listeners_per_agent).\n",
			u.GetDistro(), what, u.GetMax())
	}
}
