package powershell

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/wslfwd/wslfwd/lab/winstandin/state"
)

// Shell runs scripts against a store.
type Shell struct {
	Store state.Store
	// NoHyperV plays a Windows without the Hyper-V firewall (before
	// Windows 11 22H2), where the Hyper-V firewall cmdlets do not exist.
	NoHyperV bool
}

// commandNotFound is the FullyQualifiedErrorId of a command that does not
// exist.
const commandNotFound = "CommandNotFoundException"

// psError is an error record: a cmdlet's message, its category
// ("ObjectNotFound", "ResourceExists", "InvalidArgument") and, where a
// script may test it, its FullyQualifiedErrorId (only commandNotFound).
type psError struct {
	cmdlet, msg, category, id string
}

func (e *psError) Error() string { return e.cmdlet + " : " + e.msg }

// record renders an error record as PowerShell writes it to stderr.
func (e *psError) record() string {
	target, exception := e.cmdlet, "CimException"
	if e.id == commandNotFound {
		target, exception = e.cmdlet+":String", commandNotFound
	}
	return fmt.Sprintf("%s : %s\r\n    + CategoryInfo          : %s: (%s) [], %s\r\n", e.cmdlet, e.msg, e.category, target, exception)
}

// notRecognized is the error of running a command that does not exist.
func notRecognized(command string) *psError {
	return &psError{cmdlet: command, category: "ObjectNotFound", id: commandNotFound,
		msg: "The term '" + command + "' is not recognized as the name of a cmdlet, function, script file, or operable program. " +
			"Check the spelling of the name, or if a path was included, verify that the path is correct and try again."}
}

// run is one script's execution.
type run struct {
	store    state.Store
	noHyperV bool // Shell.NoHyperV
	stop     bool // $ErrorActionPreference = 'Stop'
	stdout   strings.Builder
	stderr   strings.Builder
}

// Run runs powershell with its command-line arguments and returns what it
// wrote to stdout and stderr and its exit code. A command line or script
// the stand-in does not know fails with exit 1 before anything runs. The
// firewall audits are known whole (auditTable), the other scripts line by
// line (Parse).
func (sh Shell) Run(args []string) (stdout, stderr string, code int) {
	script, err := DecodeArgs(args)
	if err != nil {
		return "", "powershell stand-in: unsupported command line: " + err.Error() + "\r\n", 1
	}
	if t, ok := auditTable(script); ok {
		out, perr := audit(sh.Store, t, sh.NoHyperV)
		if perr != nil {
			return out, perr.record(), 1
		}
		return out, "", 0
	}
	if t, ok := listTable(script); ok {
		out, perr := list(sh.Store, t, sh.NoHyperV)
		if perr != nil {
			return out, perr.record(), 1
		}
		return out, "", 0
	}
	stmts, err := Parse(script)
	if err != nil {
		return "", "powershell stand-in: unsupported script: " + err.Error() + "\r\n", 1
	}
	r := &run{store: sh.Store, noHyperV: sh.NoHyperV}
	for _, s := range stmts {
		if perr := r.exec(s); perr != nil {
			r.stderr.WriteString(perr.record())
			return r.stdout.String(), r.stderr.String(), 1
		}
	}
	return r.stdout.String(), r.stderr.String(), 0
}

// exec runs one statement; an error is a terminating error nothing
// caught, which ends the script.
func (r *run) exec(s stmt) *psError {
	switch {
	case s.pref != "":
		r.stop = s.pref == "Stop"
		return nil
	case s.call == nil:
		r.stdout.WriteString(s.literal + "\r\n")
		return nil
	}
	perr := r.invoke(s.call)
	if perr == nil {
		return nil
	}
	// A command that does not exist is a statement-terminating error,
	// which try catches whatever the preference; a cmdlet's error is
	// non-terminating, seen by try only under 'Stop'. The one catch block
	// the stand-in knows writes the error's message.
	switch {
	case s.catch && (r.stop || perr.id == commandNotFound):
		r.stdout.WriteString(perr.msg + "\r\n")
		return nil
	case r.stop:
		return perr
	}
	r.stderr.WriteString(perr.record())
	return nil
}

// invoke runs a cmdlet that changes the Hyper-V firewall.
func (r *run) invoke(c *call) *psError {
	if r.noHyperV {
		return notRecognized(c.cmdlet)
	}
	rules, err := r.store.Rules(state.HyperV)
	if err != nil {
		return &psError{cmdlet: c.cmdlet, msg: err.Error(), category: "ReadError"}
	}
	if c.cmdlet == "New-NetFirewallHyperVRule" {
		return r.newRule(c, rules)
	}
	return r.removeRule(c, rules)
}

// notFound is the error of a -Name that names no Hyper-V rule.
func notFound(cmdlet, name string) *psError {
	return &psError{cmdlet: cmdlet, msg: fmt.Sprintf("No MSFT_NetFirewallHyperVRule objects found with property 'Name' equal to '%s'.  Verify the value of the property and retry.", name), category: "ObjectNotFound"}
}

// newRule adds a Hyper-V rule; its -Name must be new.
func (r *run) newRule(c *call, rules []state.Rule) *psError {
	p := c.params
	if err := checkNewRule(p); err != nil {
		return &psError{cmdlet: c.cmdlet, msg: err.Error(), category: "InvalidArgument"}
	}
	for _, rule := range rules {
		if strings.EqualFold(rule["name"], p["name"]) {
			return &psError{cmdlet: c.cmdlet, msg: "Cannot create a file when that file already exists.", category: "ResourceExists"}
		}
	}
	if err := r.store.SetRules(state.HyperV, append(rules, state.Rule(p))); err != nil {
		return &psError{cmdlet: c.cmdlet, msg: err.Error(), category: "WriteError"}
	}
	return nil
}

// checkNewRule validates New-NetFirewallHyperVRule's arguments as its
// parameter binding does.
func checkNewRule(p map[string]string) error {
	if !oneOf(p["direction"], "Inbound", "Outbound") || !oneOf(p["action"], "Allow", "Block") {
		return fmt.Errorf("cannot bind -Direction %q or -Action %q", p["direction"], p["action"])
	}
	if !oneOf(p["protocol"], "TCP", "UDP", "Any") {
		if n, err := strconv.Atoi(p["protocol"]); err != nil || n < 0 || n > 255 {
			return fmt.Errorf("cannot bind -Protocol %q", p["protocol"])
		}
	}
	if n, err := strconv.ParseUint(p["localports"], 10, 16); err != nil || n == 0 {
		return fmt.Errorf("cannot bind -LocalPorts %q", p["localports"])
	}
	id := p["vmcreatorid"]
	if len(id) != 38 || id[0] != '{' || id[37] != '}' || !isGUID(id[1:37]) {
		return fmt.Errorf("cannot bind -VMCreatorId %q: not a GUID in braces", id)
	}
	for _, prof := range strings.Split(p["profiles"], ",") {
		if !oneOf(prof, "Any", "Domain", "Private", "Public") {
			return fmt.Errorf("cannot bind -Profiles %q", p["profiles"])
		}
	}
	if p["name"] == "" {
		return fmt.Errorf("-Name is empty")
	}
	return nil
}

var guid = regexp.MustCompile(`^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$`)

func isGUID(s string) bool { return guid.MatchString(s) }

func oneOf(s string, options ...string) bool {
	for _, o := range options {
		if strings.EqualFold(s, o) {
			return true
		}
	}
	return false
}

// removeRule removes the Hyper-V rule of exactly this -Name, which takes
// no wildcard: 'wslfwd *' names no rule.
func (r *run) removeRule(c *call, rules []state.Rule) *psError {
	var kept []state.Rule
	for _, rule := range rules {
		if !strings.EqualFold(rule["name"], c.params["name"]) {
			kept = append(kept, rule)
		}
	}
	if len(kept) == len(rules) {
		return notFound(c.cmdlet, c.params["name"])
	}
	if err := r.store.SetRules(state.HyperV, kept); err != nil {
		return &psError{cmdlet: c.cmdlet, msg: err.Error(), category: "WriteError"}
	}
	return nil
}

// ProgressCLIXML is what Windows PowerShell 5.1, run with -EncodedCommand
// and its stderr redirected, writes there when it loads a module for the
// first time, a run that goes well included: its progress record as
// CLIXML (PowerShell/PowerShell#5912). The stand-in's program writes it
// before and after the script's own output, so that a caller that reads
// stdout and stderr as one, or judges a run by what stderr holds, fails
// under Wine as it would on Windows.
const ProgressCLIXML = "#< CLIXML\r\n" +
	`<Objs Version="1.1.0.1" xmlns="http://schemas.microsoft.com/powershell/2004/04"><Obj S="progress" RefId="0">` +
	`<TN RefId="0"><T>System.Management.Automation.PSCustomObject</T><T>System.Object</T></TN><MS>` +
	`<I64 N="SourceId">1</I64><PR N="Record"><AV>Preparing modules for first use.</AV><AI>0</AI><Nil /><PI>-1</PI>` +
	`<PC>-1</PC><T>Completed</T><SR>-1</SR><SD> </SD></PR></MS></Obj></Objs>` + "\r\n"
