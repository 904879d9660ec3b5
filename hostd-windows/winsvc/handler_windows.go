package winsvc

import (
	"context"
	"errors"
	"fmt"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/svc"
	"golang.org/x/sys/windows/svc/debug"
	"golang.org/x/sys/windows/svc/eventlog"
)

// Event IDs in the Event Log.
const (
	EventStarted = 1
	EventStopped = 2
	EventFailed  = 3
)

// RunFunc runs the daemon until ctx is cancelled, calling ready once it
// serves.
type RunFunc func(ctx context.Context, ready func()) error

// Run runs the daemon as the service: it reports start, stop and failure
// to the service manager and the Event Log. It returns when the service
// stops.
func Run(run RunFunc) error {
	elog, err := eventlog.Open(Name)
	if err != nil {
		return fmt.Errorf("open the Event Log: %w", err)
	}
	defer elog.Close()
	err = svc.Run(Name, &handler{run: run, log: elog})
	if errors.Is(err, windows.ERROR_FAILED_SERVICE_CONTROLLER_CONNECT) {
		return errors.New("this is what the Windows service manager runs; to run the daemon in a console use wslfwd-hostd run")
	}
	return err
}

// handler is the service's control handler.
type handler struct {
	run RunFunc
	log debug.Log
}

const accepts = svc.AcceptStop | svc.AcceptShutdown

// Execute runs the daemon and answers the service manager. A daemon that
// fails exits with service-specific code 1, which the recovery actions
// restart.
func (h *handler) Execute(_ []string, req <-chan svc.ChangeRequest, status chan<- svc.Status) (bool, uint32) {
	status <- svc.Status{State: svc.StartPending}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	readyc := make(chan struct{}, 1)
	go func() {
		done <- h.run(ctx, func() { readyc <- struct{}{} })
	}()
	for {
		select {
		case <-readyc:
			status <- svc.Status{State: svc.Running, Accepts: accepts}
			h.log.Info(EventStarted, "wslfwd-hostd started")
		case err := <-done:
			return h.exit(err, false)
		case c := <-req:
			switch c.Cmd {
			case svc.Interrogate:
				status <- c.CurrentStatus
			case svc.Stop, svc.Shutdown:
				status <- svc.Status{State: svc.StopPending}
				cancel()
				return h.exit(<-done, true)
			}
		}
	}
}

// exit logs how the daemon ended and returns Execute's result.
func (h *handler) exit(err error, asked bool) (bool, uint32) {
	switch {
	case err != nil:
		h.log.Error(EventFailed, "wslfwd-hostd failed: "+err.Error())
		return true, 1
	case !asked:
		h.log.Error(EventFailed, "wslfwd-hostd stopped by itself")
		return true, 1
	}
	h.log.Info(EventStopped, "wslfwd-hostd stopped")
	return false, 0
}
