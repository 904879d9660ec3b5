//go:build linux

package main

import (
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/wslfwd/wslfwd/agent-linux/ebpftrigger"
	"github.com/wslfwd/wslfwd/agent-linux/trigger"
	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
)

// With the UDP hooks unable to attach, the agent takes TCP from events and
// scans for UDP alone, and says so in the hello.
func TestPartTriggersScanForMissingPart(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: loads the eBPF trigger")
	}
	// Not a cgroup: the UDP hooks cannot attach there.
	et, err := ebpftrigger.New(ebpftrigger.Options{Cgroup: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer et.Close()
	paced := trigger.Paced{Min: time.Second, Max: time.Second, Budget: 1, Cost: func() time.Duration { return 0 }}
	tr, det := partTriggers(et, paced, slog.New(slog.DiscardHandler))
	if det.GetTcp() != wslfwdv1.DetectionMethod_DETECTION_METHOD_EVENTS || det.GetUdp() != wslfwdv1.DetectionMethod_DETECTION_METHOD_SCANS {
		t.Errorf("detection = %v, want tcp events, udp scans", det)
	}
	if tr.Events == nil || len(tr.Listeners) != 0 || len(tr.Narrow) != 1 || tr.Narrow[0].Protocol != wslfwdv1.Protocol_PROTOCOL_UDP {
		t.Errorf("triggers: events %v, full scans %v, narrow %+v; want events, no full scans, UDP scans", tr.Events, tr.Listeners, tr.Narrow)
	}
}
