package metrics

import wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"

// Proto is s as GetStatus carries it.
func (s Snapshot) Proto() *wslfwdv1.DaemonMetrics {
	out := &wslfwdv1.DaemonMetrics{
		AgentsConnected:      uint32(s.AgentsConnected),
		ReconcileFull:        s.ReconcileFull.proto(),
		ReconcileIncremental: s.ReconcileIncremental.proto(),
		EventToActive:        s.EventToActive.proto(),
		NetshRuns:            s.NetshRuns,
		NetshFailures:        s.NetshFailures,
		AgentRefusals:        refusalsProto(s.AgentRefusals),
		CallRefusals:         refusalsProto(s.CallRefusals),

		ConnectionsClosedPastLimits:     s.ClosedPastLimits,
		ConnectionsClosedPendingTimeout: s.ClosedPendingTimeout,
	}
	for _, f := range s.Forwards {
		out.Forwards = append(out.Forwards, &wslfwdv1.ForwardCount{State: f.State, Backend: f.Backend, Count: uint32(f.Count)})
	}
	return out
}

func refusalsProto(rs []RefusalCount) []*wslfwdv1.RefusalCount {
	var out []*wslfwdv1.RefusalCount
	for _, r := range rs {
		out = append(out, &wslfwdv1.RefusalCount{Code: r.Code, Count: r.Count})
	}
	return out
}

func (h HistogramSnapshot) proto() *wslfwdv1.DurationHistogram {
	out := &wslfwdv1.DurationHistogram{Count: h.Count, SumSeconds: h.SumSeconds}
	for _, b := range h.Buckets {
		out.Buckets = append(out.Buckets, &wslfwdv1.DurationBucket{UpperBoundSeconds: b.UpperBoundSeconds, Count: b.Count})
	}
	return out
}
