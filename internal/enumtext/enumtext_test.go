package enumtext

import (
	"testing"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
)

func TestWords(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{State(wslfwdv1.ForwardState_FORWARD_STATE_ACTIVE), "ACTIVE"},
		{State(wslfwdv1.ForwardState_FORWARD_STATE_BLOCKED), "BLOCKED"},
		{State(wslfwdv1.ForwardState_FORWARD_STATE_UNSPECIFIED), ""},
		{Detection(wslfwdv1.DetectionMethod_DETECTION_METHOD_EVENTS), "events"},
		{Detection(wslfwdv1.DetectionMethod_DETECTION_METHOD_SCANS), "scans"},
		{Detection(wslfwdv1.DetectionMethod_DETECTION_METHOD_UNSPECIFIED), ""},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}
