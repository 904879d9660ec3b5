// Package enumtext holds the words people read for the wire enums that
// more than one program prints: a forward state ("ACTIVE", as the CLI's
// tables and the agent's status print it) and how an agent detects
// listeners ("events", "scans"). One place, so `wslfwd forwards` and
// `wslfwd-agent status` say the same thing the same way.
package enumtext

import (
	"strings"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
)

// State is a forward state without its enum prefix: "ACTIVE"; "" for
// FORWARD_STATE_UNSPECIFIED.
func State(s wslfwdv1.ForwardState) string {
	if s == wslfwdv1.ForwardState_FORWARD_STATE_UNSPECIFIED {
		return ""
	}
	return strings.TrimPrefix(s.String(), "FORWARD_STATE_")
}

// Detection is "events" (the eBPF trigger) or "scans"; "" when unset (an
// agent too old to say).
func Detection(m wslfwdv1.DetectionMethod) string {
	switch m {
	case wslfwdv1.DetectionMethod_DETECTION_METHOD_EVENTS:
		return "events"
	case wslfwdv1.DetectionMethod_DETECTION_METHOD_SCANS:
		return "scans"
	}
	return ""
}
