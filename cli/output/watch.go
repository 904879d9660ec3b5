package output

import (
	"fmt"
	"io"
	"strings"
	"time"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/internal/enumtext"
)

// Event renders one watch event as one line, its time shown in loc:
//
//	14:03:07.123  forward added      tcp 0.0.0.0:8080 -> 172.28.240.53:8080 (Ubuntu) nginx ACTIVE
//	14:03:09.001  agent disconnected Ubuntu nat
func Event(w io.Writer, ev *wslfwdv1.WatchResponse, loc *time.Location) {
	ts := "--:--:--.---"
	if ev.GetTime() != nil {
		ts = ev.GetTime().AsTime().In(loc).Format("15:04:05.000")
	}
	var what, detail string
	switch e := ev.GetEvent().(type) {
	case *wslfwdv1.WatchResponse_Agent:
		what = "agent " + kind(e.Agent.GetKind().String(), "AGENT_EVENT_KIND_")
		a := e.Agent.GetAgent()
		detail = join(a.GetDistro(), Mode(a.GetNetworkingMode()), Addresses(a.GetNetwork()))
	case *wslfwdv1.WatchResponse_Forward:
		what = "forward " + kind(e.Forward.GetKind().String(), "FORWARD_EVENT_KIND_")
		f := e.Forward.GetForward()
		detail = join(Describe(f), f.GetProcessName(), enumtext.State(f.GetState()))
		if f.GetReason() != "" {
			detail += ": " + f.GetReason()
		}
	case *wslfwdv1.WatchResponse_Resync:
		what = "resync"
		detail = "fell behind: events were lost; the current agents and forwards follow"
	default:
		what = "unknown event"
	}
	fmt.Fprintf(w, "%s  %-18s %s\n", ts, what, detail)
}

func kind(s, prefix string) string {
	return strings.ToLower(strings.TrimPrefix(s, prefix))
}

func join(parts ...string) string {
	var out []string
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, " ")
}
