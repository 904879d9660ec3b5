package wine

import (
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/wslfwd/wslfwd/lab/netlab"
)

// The service forwarded, and the port a user's unparsable value holds.
const (
	servicePort = 18080
	blockedPort = 18081
	brieflyPort = 18082
	nudgePort   = 18083
	restarts    = 10
	// settle is how long a rule made by a sync that was under way when
	// its service stopped would take to show up: a firewall sync under
	// Wine is three tool runs of well under a second together.
	settle = 3 * time.Second
)

var (
	forwardKey    = fmt.Sprintf("0.0.0.0/%d", servicePort)
	forwardTarget = fmt.Sprintf("%s/%d", netlab.WSLAddr.Addr(), servicePort)
	forwardRule   = fmt.Sprintf("wslfwd tcp/%d", servicePort)
	blockedRule   = fmt.Sprintf("wslfwd tcp/%d", blockedPort)
)

// userValues are portproxy values a user made by hand, in the daemon's
// table: a parsable entry, and one wslfwd cannot read (a host name) at the
// listen key of a port a distro service wants.
var userValues = map[string]string{
	"0.0.0.0/5555":                         "10.0.0.1/5555",
	fmt.Sprintf("0.0.0.0/%d", blockedPort): fmt.Sprintf("wsl-host/%d", blockedPort),
}

const userRule = "user web server"

// TestDaemonUnderWine: the daemon makes the forward's portproxy entry and
// firewall rule on a first install, keeps exactly one of each across
// restarts, never lets them lapse while restarting, removes them when the
// service stops (also when it stops while its rule is being made), and
// never touches a user's entries or rules.
//
// Not checked here: the daemon's own rule. The daemon makes it for the
// "vEthernet (WSL)" adapter's address, and Wine names adapters after Linux
// interfaces, which cannot hold that name.
func TestDaemonUnderWine(t *testing.T) {
	h := newHost(t)
	h.addUserState()
	svc := h.listen(servicePort)
	h.listen(blockedPort)

	c := h.startDaemon(0)
	h.startAgent()
	h.waitAgent(c, "the agent to connect")
	h.waitView("the forward's portproxy entry and firewall rule", forwarded)
	h.checkUserState()

	t.Run("restarts", func(t *testing.T) { h.restartContinuity(t) })
	t.Run("stop mid-sync", func(t *testing.T) { h.stopMidSync(t) })
	t.Run("rule disabled by hand", func(t *testing.T) { h.disabledRuleRemade(t) })

	svc.Close()
	h.waitView("the forward's entry and rule to go when the service stops", func(v view) bool {
		_, has := v.entries[forwardKey]
		return !has && v.count(forwardRule) == 0
	})
	h.checkUserState()
	h.stopDaemon()
}

// disabledRuleRemade disables the forward's rule as a user or a hardening
// tool would (`netsh advfirewall firewall set rule ... new enable=no`),
// then opens another service so the daemon syncs its rules (sooner than
// its check each minute), and waits for the rule to be enabled again: a
// rule is judged by what it does, not by its name.
func (h *host) disabledRuleRemade(t *testing.T) {
	h.netsh("advfirewall", "firewall", "set", "rule", "name="+forwardRule, "new", "enable=no")
	if v, err := h.look(); err != nil || v.enabled(forwardRule) {
		t.Fatalf("the rule reads enabled after netsh disabled it (err %v)", err)
	}
	nudge := h.listen(nudgePort)
	h.waitView("the disabled rule to be remade", func(v view) bool { return forwarded(v) && v.enabled(forwardRule) })
	nudge.Close()
}

// forwarded reports whether exactly the forward's entry and one rule for
// it exist.
func forwarded(v view) bool {
	return v.entries[forwardKey] == forwardTarget && v.count(forwardRule) == 1
}

// addUserState makes a user's portproxy values (by hand, in the registry,
// as some tools do) and a user's firewall rule (with netsh).
func (h *host) addUserState() {
	h.t.Helper()
	for name, data := range userValues {
		if out, ok := h.wine("reg", "add", `HKLM\SYSTEM\CurrentControlSet\Services\PortProxy\v4tov4\tcp`,
			"/v", name, "/t", "REG_SZ", "/d", data, "/f"); !ok {
			h.t.Fatalf("reg add %s: %s", name, out)
		}
	}
	h.addRule("name="+userRule, "dir=in", "action=allow", "protocol=TCP", "localport=5555")
}

// addRule adds a firewall rule as a user does: `netsh advfirewall firewall
// add rule` with these parameters.
func (h *host) addRule(params ...string) {
	h.t.Helper()
	h.netsh(append([]string{"advfirewall", "firewall", "add", "rule"}, params...)...)
}

// netsh runs netsh with these arguments, as a user does; it fails the
// test when netsh fails.
func (h *host) netsh(args ...string) {
	h.t.Helper()
	if out, ok := h.wine(append([]string{`C:\windows\system32\netsh.exe`}, args...)...); !ok {
		h.t.Fatalf("netsh %q: %s", args, out)
	}
}

// checkUserState fails the test unless the user's values and rule are as
// made, and the daemon made nothing at the port the user's value holds.
func (h *host) checkUserState() {
	h.t.Helper()
	v, err := h.look()
	if err != nil {
		h.t.Fatal(err)
	}
	for name, data := range userValues {
		if v.entries[name] != data {
			h.t.Errorf("the user's portproxy value %s = %q is now %q", name, data, v.entries[name])
		}
	}
	if n := v.count(userRule); n != 1 {
		h.t.Errorf("the user's firewall rule %q: %d found, want 1 (rules: %q)", userRule, n, v.rules)
	}
	if n := v.count(blockedRule); n != 0 {
		h.t.Errorf("%d rules %q for a port the daemon cannot forward", n, blockedRule)
	}
}

// listen opens a service in wsl on every address, closed at the end.
func (h *host) listen(port int) net.Listener {
	h.t.Helper()
	l, err := h.lab.WSL.Listen("tcp", fmt.Sprintf("0.0.0.0:%d", port))
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { l.Close() })
	return l
}

// waitView polls the host's state until cond holds.
func (h *host) waitView(what string, cond func(view) bool) {
	h.t.Helper()
	var last view
	var lastErr error
	deadline := time.Now().Add(wait)
	for {
		last, lastErr = h.look()
		if lastErr == nil && cond(last) {
			return
		}
		h.daemonDied()
		if time.Now().After(deadline) {
			h.t.Fatalf("timed out after %v waiting for %s; last seen: %+v (err %v)\ndaemon log:\n%s", wait, what, last, lastErr, h.daemon.Tail(30))
		}
	}
}

// stopMidSync closes a service as soon as its entry shows, while the
// daemon is making its firewall rule, and checks that neither the entry
// nor the rule stays (a bug this test caught: a rule made for a wish that had
// moved on stayed for good). The sync under way may still add the rule
// after the state first reads clean; the daemon must then take it away
// again. So the state must read clean for settle on end, within wait.
func (h *host) stopMidSync(t *testing.T) {
	l := h.listen(brieflyPort)
	key, rule := fmt.Sprintf("0.0.0.0/%d", brieflyPort), fmt.Sprintf("wslfwd tcp/%d", brieflyPort)
	gone := func(v view) bool {
		_, has := v.entries[key]
		return !has && v.count(rule) == 0
	}
	h.waitView("the entry of a service just opened", func(v view) bool { return !gone(v) })
	l.Close()
	deadline, back, failed := time.Now().Add(wait), 0, 0
	var cleanSince time.Time // zero while the state is not clean
	for cleanSince.IsZero() || time.Since(cleanSince) < settle {
		v, err := h.look()
		switch {
		case err != nil && time.Now().After(deadline):
			t.Fatalf("%v after the service stopped, the host's state cannot be read: %v", wait, err)
		case err != nil:
			// A netsh that Wine ended early is no reading, as
			// restartContinuity counts it; look again.
			failed++
		case !gone(v) && time.Now().After(deadline):
			t.Fatalf("%v after the service stopped the host still holds entry %q and %d rules %q", wait, v.entries[key], v.count(rule), rule)
		case !gone(v):
			if !cleanSince.IsZero() {
				back++
			}
			cleanSince = time.Time{}
		case cleanSince.IsZero():
			cleanSince = time.Now()
		}
	}
	t.Logf("entry and rule gone for good; the rule came back %d time(s) after first reading clean (a sync under way when the service stopped); %d reading(s) failed", back, failed)
}

// restartContinuity restarts the daemon while another goroutine reads the
// host's state without pause: every reading must show exactly one entry
// and one rule for the forward, and each restart must end with the agent
// reconnected.
func (h *host) restartContinuity(t *testing.T) {
	var (
		mu     sync.Mutex
		seen   int      // readings made
		gaps   []string // readings without the forward
		failed []string // readings that could not be made
		stop   = make(chan struct{})
		done   = make(chan struct{})
	)
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			v, err := h.look()
			mu.Lock()
			switch {
			case err != nil:
				// The reading netsh died (Wine can hand the Ctrl-C meant
				// for the daemon to it): that says nothing of the forward,
				// so it is counted apart, and the next reading judges.
				failed = append(failed, err.Error())
			case !forwarded(v):
				gaps = append(gaps, fmt.Sprintf("reading %d: entry %q, %d rules %q", seen+1, v.entries[forwardKey], v.count(forwardRule), forwardRule))
				fallthrough
			default:
				seen++
			}
			mu.Unlock()
		}
	}()
	start := time.Now()
	for i := 1; i <= restarts; i++ {
		h.stopDaemon()
		c := h.startDaemon(i)
		h.waitAgent(c, fmt.Sprintf("the agent to reconnect after restart %d", i))
		h.waitView(fmt.Sprintf("the forward after restart %d", i), forwarded)
	}
	close(stop)
	<-done
	t.Logf("%d restarts in %v, %d readings of the host's state, %d without exactly one entry and one rule, %d that failed",
		restarts, time.Since(start).Round(time.Millisecond), seen, len(gaps), len(failed))
	if len(failed) > seen/10 {
		t.Errorf("%d of %d readings of the host's state failed, too many to judge the restarts by: %q", len(failed), seen+len(failed), failed)
	}
	for i, g := range gaps {
		if i == 10 {
			t.Errorf("... and %d more", len(gaps)-10)
			break
		}
		t.Errorf("the forward lapsed while the daemon restarted: %s", g)
	}
}
