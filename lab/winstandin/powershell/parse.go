// Package powershell is a strict stand-in for Windows PowerShell, for tests
// under Wine: it runs exactly the firewall scripts wslfwd-hostd sends
// against a state.Store shared with the netsh stand-in, and refuses
// anything else loudly, before running any of it. The listings of
// wslfwd's rules (list.go) and the audits of the inbound rules in force
// (audit.go) it knows whole, line for line; the scripts that change
// Hyper-V rules (New-/Remove-NetFirewallHyperVRule, each in try with a
// catch that writes the error's message) it reads line by line (Parse).
//
// It keeps PowerShell's rules where they bite: -Name takes no wildcard
// (only -DisplayName does, matching as WildcardPattern does, without
// regard to case); a command that does not exist (the Hyper-V cmdlets
// without the Hyper-V firewall, Shell.NoHyperV) is a
// CommandNotFoundException of category ObjectNotFound, which try/catch
// catches whatever $ErrorActionPreference says; try/catch catches a
// cmdlet's error only when $ErrorActionPreference is 'Stop' (otherwise the
// error is written and the script goes on); an uncaught terminating error
// ends the script with exit code 1; a script that ran to its end exits 0
// even when cmdlets failed.
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

// writeMessage is the catch block that writes the error's message.
const writeMessage = `Write-Output $_.Exception.Message`

// outNull is the stage that ends New-NetFirewallHyperVRule's pipeline.
const outNull = `Out-Null`

// stmt is one line of a script.
type stmt struct {
	pref    string // $ErrorActionPreference = pref, when set
	literal string // a string literal to write, when set
	call    *call  // a cmdlet pipeline, when set
	sink    string // the last stage: "" or outNull
	catch   bool   // the call is in try, with a catch that writes the message
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
	text, ok := strings.CutPrefix(line, "try ")
	if !ok {
		return parsePipeline(line)
	}
	body, rest, err := braced(text)
	if err != nil {
		return stmt{}, err
	}
	rest, ok = strings.CutPrefix(rest, " catch ")
	if !ok {
		return stmt{}, errors.New("try without catch")
	}
	catch, rest, err := braced(rest)
	if err != nil {
		return stmt{}, err
	}
	if rest != "" {
		return stmt{}, fmt.Errorf("%q after the catch block", rest)
	}
	if catch != writeMessage {
		return stmt{}, errors.New("unknown catch block")
	}
	s, err := parsePipeline(body)
	s.catch = true
	return s, err
}

// braced splits "{ inner } rest" at the brace that closes the first one,
// past braces in single-quoted strings, and returns inner trimmed.
func braced(s string) (inner, rest string, err error) {
	if !strings.HasPrefix(s, "{") {
		return "", "", fmt.Errorf("want { at %q", s)
	}
	depth, quoted := 0, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\'':
			quoted = !quoted
		case quoted:
		case c == '{':
			depth++
		case c == '}':
			if depth--; depth == 0 {
				return strings.TrimSpace(s[1:i]), s[i+1:], nil
			}
		}
	}
	return "", "", fmt.Errorf("unclosed { in %q", s)
}

// parsePipeline reads a cmdlet and the stage after it, if any: outNull.
func parsePipeline(text string) (stmt, error) {
	stages := strings.Split(text, " | ")
	c, err := parseCall(stages[0])
	if err != nil {
		return stmt{}, err
	}
	s, rest := stmt{call: c}, stages[1:]
	switch {
	case len(rest) > 1 || len(rest) == 1 && rest[0] != outNull:
		return stmt{}, errors.New("unknown pipeline")
	case len(rest) == 1:
		s.sink = rest[0]
	}
	return s, checkShape(s)
}

// shapes are the cmdlets the stand-in runs line by line: the parameters
// each takes, all of them, and the stage that must end the pipeline.
var shapes = map[string]struct {
	params []string
	sink   string
}{
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
		return fmt.Errorf("%s must end in %q, not %q", s.call.cmdlet, sh.sink, s.sink)
	case len(s.call.params) != len(sh.params):
		return fmt.Errorf("%s takes exactly -%s", s.call.cmdlet, strings.Join(sh.params, ", -"))
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
