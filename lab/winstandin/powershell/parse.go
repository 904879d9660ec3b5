// Package powershell is a strict stand-in for Windows PowerShell, for tests
// under Wine: it runs exactly the firewall scripts wslfwd-hostd sends
// (Get-NetFirewallRule and Get-/New-/Remove-NetFirewallHyperVRule, with
// the try/catch framing and the wslfwd-list-done line of
// hostd-windows/firewall, and the audits of the inbound rules in force
// that firewall = false sends) against a state.Store shared with the netsh
// stand-in, and refuses anything else loudly, before running any of it.
//
// It keeps PowerShell's rules where they bite: -Name takes no wildcard
// (only -DisplayName does); a filter without wildcards that matches
// nothing is an ObjectNotFound error; try/catch catches a cmdlet's error
// only when $ErrorActionPreference is 'Stop' (otherwise the error is
// written and the script goes on); an uncaught terminating error ends the
// script with exit code 1; a script that ran to its end exits 0 even when
// cmdlets failed.
package powershell

import (
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode/utf16"
)

// DecodeArgs returns the script of a command line of the form wslfwd-hostd
// uses: -NoProfile -NonInteractive -ExecutionPolicy Bypass
// -EncodedCommand <base64 of UTF-16LE>. Any other form is refused.
func DecodeArgs(args []string) (string, error) {
	want := []string{"-noprofile", "-noninteractive", "-executionpolicy", "bypass", "-encodedcommand"}
	if len(args) != len(want)+1 {
		return "", fmt.Errorf("want %s <script>, got %d arguments", strings.Join(want, " "), len(args))
	}
	for i, w := range want {
		if !strings.EqualFold(args[i], w) {
			return "", fmt.Errorf("argument %d is %q, want %s", i+1, args[i], w)
		}
	}
	raw, err := base64.StdEncoding.DecodeString(args[len(want)])
	if err != nil || len(raw)%2 != 0 {
		return "", fmt.Errorf("-EncodedCommand is not base64 of UTF-16LE: %v", err)
	}
	u := make([]uint16, len(raw)/2)
	for i := range u {
		u[i] = uint16(raw[2*i]) | uint16(raw[2*i+1])<<8
	}
	return string(utf16.Decode(u)), nil
}

// The catch blocks the stand-in knows.
const (
	rethrowUnlessNotFound = `if ($_.CategoryInfo.Category -ne 'ObjectNotFound') { throw }`
	writeMessage          = `Write-Output $_.Exception.Message`
)

// The pipeline stages after a cmdlet the stand-in knows.
const (
	displayNames = `ForEach-Object { $_.DisplayName }`
	outNull      = `Out-Null`
)

// stmt is one line of a script.
type stmt struct {
	pref    string // $ErrorActionPreference = pref, when set
	literal string // a string literal to write, when set
	call    *call  // a cmdlet pipeline, when set
	sink    string // the stage after the cmdlet: "", displayNames or outNull
	catch   string // the catch block when the call is in try: rethrowUnlessNotFound or writeMessage
}

// call is one cmdlet with its parameters, names in lower case, without
// the dash.
type call struct {
	cmdlet string
	params map[string]string
}

var (
	prefLine    = regexp.MustCompile(`^\$ErrorActionPreference = '(Stop|Continue)'$`)
	literalLine = regexp.MustCompile(`^'([^']*)'$`)
	tryLine     = regexp.MustCompile(`^try \{ (.+) \} catch \{ (.+) \}$`)
)

// Parse reads a whole script; an error names the first line it does not
// know, and nothing of the script may run then.
func Parse(script string) ([]stmt, error) {
	var out []stmt
	for i, line := range strings.Split(strings.ReplaceAll(script, "\r\n", "\n"), "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		s, err := parseLine(line)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w: %s", i+1, err, line)
		}
		out = append(out, s)
	}
	return out, nil
}

func parseLine(line string) (stmt, error) {
	if m := prefLine.FindStringSubmatch(line); m != nil {
		return stmt{pref: m[1]}, nil
	}
	if m := literalLine.FindStringSubmatch(line); m != nil {
		return stmt{literal: m[1]}, nil
	}
	catch := ""
	if m := tryLine.FindStringSubmatch(line); m != nil {
		if m[2] != rethrowUnlessNotFound && m[2] != writeMessage {
			return stmt{}, errors.New("unknown catch block")
		}
		line, catch = m[1], m[2]
	}
	stages := strings.Split(line, " | ")
	if len(stages) > 2 || (len(stages) == 2 && stages[1] != displayNames && stages[1] != outNull) {
		return stmt{}, errors.New("unknown pipeline")
	}
	c, err := parseCall(stages[0])
	if err != nil {
		return stmt{}, err
	}
	s := stmt{call: c, catch: catch}
	if len(stages) == 2 {
		s.sink = stages[1]
	}
	return s, checkShape(s)
}

// shapes are the cmdlets the stand-in runs: the parameters each takes
// (all of them, or for a Get exactly one) and the stage that must follow.
var shapes = map[string]struct {
	params []string
	oneOf  bool
	sink   string
}{
	"Get-NetFirewallRule":          {params: []string{"displayname"}, oneOf: true, sink: displayNames},
	"Get-NetFirewallHyperVRule":    {params: []string{"displayname", "name"}, oneOf: true, sink: displayNames},
	"New-NetFirewallHyperVRule":    {params: []string{"name", "displayname", "direction", "vmcreatorid", "protocol", "localports", "action", "profiles"}, sink: outNull},
	"Remove-NetFirewallHyperVRule": {params: []string{"name"}},
}

// checkShape refuses a cmdlet, parameter set or pipeline wslfwd-hostd does
// not send.
func checkShape(s stmt) error {
	sh, ok := shapes[s.call.cmdlet]
	switch {
	case !ok:
		return fmt.Errorf("unknown cmdlet %s", s.call.cmdlet)
	case s.sink != sh.sink:
		return fmt.Errorf("%s must be followed by %q, not %q", s.call.cmdlet, sh.sink, s.sink)
	case sh.oneOf && len(s.call.params) != 1:
		return fmt.Errorf("%s takes exactly one of -%s", s.call.cmdlet, strings.Join(sh.params, ", -"))
	case !sh.oneOf && len(s.call.params) != len(sh.params):
		return fmt.Errorf("%s takes exactly -%s", s.call.cmdlet, strings.Join(sh.params, ", -"))
	}
	if strings.ContainsAny(s.call.params["displayname"], "[`") {
		return errors.New("wildcard brackets and escapes are beyond the stand-in")
	}
	for p := range s.call.params {
		if !slices.Contains(sh.params, p) {
			return fmt.Errorf("%s has no parameter -%s here", s.call.cmdlet, p)
		}
	}
	return nil
}

var bareValue = regexp.MustCompile(`^[A-Za-z0-9{}_.,-]+$`)

// parseCall reads `Cmdlet -Param value -Param 'quoted value' ...`.
func parseCall(text string) (*call, error) {
	name, rest, _ := strings.Cut(text, " ")
	c := &call{params: map[string]string{}}
	for canonical := range shapes {
		if strings.EqualFold(name, canonical) {
			c.cmdlet = canonical
		}
	}
	if c.cmdlet == "" {
		return nil, fmt.Errorf("unknown command %q", name)
	}
	for rest = strings.TrimSpace(rest); rest != ""; rest = strings.TrimSpace(rest) {
		param, after, found := strings.Cut(rest, " ")
		if !found || !strings.HasPrefix(param, "-") || len(param) < 2 {
			return nil, fmt.Errorf("want -Parameter value at %q", rest)
		}
		value, tail, err := parseValue(after)
		if err != nil {
			return nil, err
		}
		key := strings.ToLower(param[1:])
		if _, dup := c.params[key]; dup {
			return nil, fmt.Errorf("parameter %s given twice", param)
		}
		c.params[key], rest = value, tail
	}
	return c, nil
}

// parseValue reads one argument: a single-quoted string (” stands for
// one quote) or a bare word of letters, digits and {}_.,- (a comma list
// is an array, as for -Profiles Private,Domain).
func parseValue(s string) (value, rest string, err error) {
	if !strings.HasPrefix(s, "'") {
		word, rest, _ := strings.Cut(s, " ")
		if !bareValue.MatchString(word) {
			return "", "", fmt.Errorf("unsupported argument %q", word)
		}
		return word, rest, nil
	}
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		if s[i] != '\'' {
			b.WriteByte(s[i])
			continue
		}
		if i+1 < len(s) && s[i+1] == '\'' {
			b.WriteByte('\'')
			i++
			continue
		}
		return b.String(), s[i+1:], nil
	}
	return "", "", fmt.Errorf("unterminated string in %q", s)
}
