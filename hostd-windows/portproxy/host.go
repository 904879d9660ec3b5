package portproxy

// Problem is a standing condition that keeps portproxy from working, said
// plainly with what to do about it.
type Problem struct {
	Code    string // stable, e.g. "not-elevated"
	Message string
	Hint    string
}

// HostState is what the host checks found.
type HostState struct {
	Elevated bool
	// IPHelperErr is set when the IP Helper service could not be queried;
	// the other IPHelper fields are then meaningless.
	IPHelperErr       error
	IPHelperRunning   bool
	IPHelperAutomatic bool
}

// Problems says what in s keeps portproxy from working.
func (s HostState) Problems() []Problem {
	var out []Problem
	if !s.Elevated {
		out = append(out, Problem{
			Code:    "not-elevated",
			Message: "wslfwd-hostd is not running elevated, so netsh cannot add or delete portproxy entries",
			Hint:    "install and start the service (elevated: wslfwd-hostd install, then wslfwd-hostd start), or run wslfwd-hostd from an elevated prompt",
		})
	}
	switch {
	case s.IPHelperErr != nil:
		out = append(out, Problem{
			Code:    "iphlpsvc-unknown",
			Message: "cannot query the IP Helper service (iphlpsvc), which serves portproxy: " + s.IPHelperErr.Error(),
			Hint:    "check it in services.msc; portproxy entries do nothing while it is stopped",
		})
	case !s.IPHelperRunning:
		out = append(out, Problem{
			Code:    "iphlpsvc-stopped",
			Message: "the IP Helper service (iphlpsvc) is not running: portproxy entries exist but nothing listens on them",
			Hint:    "elevated: sc.exe config iphlpsvc start= auto && sc.exe start iphlpsvc",
		})
	case !s.IPHelperAutomatic:
		out = append(out, Problem{
			Code:    "iphlpsvc-not-automatic",
			Message: "the IP Helper service (iphlpsvc) does not start automatically: forwards stop working after a reboot",
			Hint:    "elevated: sc.exe config iphlpsvc start= auto",
		})
	}
	return out
}
