// Package powershell is a strict stand-in for Windows PowerShell, for tests
// under Wine: it runs exactly the firewall scripts wslfwd-hostd sends
// (Get-NetFirewallRule and Get-/New-/Remove-NetFirewallHyperVRule, with
// the try/catch framing, the catch blocks and the wslfwd-list-done line of
// hostd-windows/firewall, and the audits of the inbound rules in force
// that firewall = false sends) against a state.Store shared with the netsh
// stand-in, and refuses anything else loudly, before running any of it.
//
// It keeps PowerShell's rules where they bite: -Name takes no wildcard
// (only -DisplayName does); -like and wildcard filters match as
// WildcardPattern does, without regard to case; a filter that matches
// nothing is an ObjectNotFound error, wildcard or not (undocumented for
// the firewall cmdlets, and PowerShell's CIM cmdlets can be made to: the
// strict reading), while a listing without a filter that finds nothing is
// no error; a command that does not exist (the Hyper-V cmdlets without the
// Hyper-V firewall, Shell.NoHyperV) is a CommandNotFoundException of
// category ObjectNotFound, which try/catch catches whatever
// $ErrorActionPreference says; try/catch catches a cmdlet's error only
// when $ErrorActionPreference is 'Stop' (otherwise the error is written and
// the script goes on); an error raised in a catch block is caught by
// nothing; an uncaught terminating error ends the script with exit code 1;
// a script that ran to its end exits 0 even when cmdlets failed.
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

// The pipeline stages after a cmdlet the stand-in knows.
const (
	displayNames = `ForEach-Object { $_.DisplayName }`
	outNull      = `Out-Null`
)

// whereLike is the stage that selects rules of a listing without a filter
// by display name.
var whereLike = regexp.MustCompile(`^Where-Object \{ \$_\.DisplayName -like '((?:[^']|'')+)' \}$`)

// tests are the conditions on the error caught that an if in a catch
// block may test.
var tests = map[string]func(*psError) bool{
	`$_.CategoryInfo.Category -eq 'ObjectNotFound'`:          func(e *psError) bool { return e.category == "ObjectNotFound" },
	`$_.FullyQualifiedErrorId -eq '` + commandNotFound + `'`: func(e *psError) bool { return e.id == commandNotFound },
}

// stmt is one line of a script, or the pipeline of a branch of a catch
// block.
type stmt struct {
	pref    string         // $ErrorActionPreference = pref, when set
	literal string         // a string literal to write, when set
	call    *call          // a cmdlet pipeline, when set
	like    *regexp.Regexp // the Where-Object stage's -like pattern, when there is one
	sink    string         // the last stage: "", displayNames or outNull
	catch   []branch       // the catch block when the call is in try
}

// branch is one branch of a catch block: its body runs for the error
// caught when test, nil for else (or a catch block without if), holds.
type branch struct {
	test func(*psError) bool
	body block
}

// block is a branch's body: nothing, throw (the error caught again),
// writing the error's message, or a pipeline.
type block struct {
	throw, message bool
	pipe           *stmt
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
	branches, err := parseCatch(catch)
	if err != nil {
		return stmt{}, err
	}
	s, err := parsePipeline(body)
	s.catch = branches
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

// parseCatch reads a catch block: writeMessage, or an if with elseif and
// else branches, each testing one of tests, whose bodies are blocks
// (parseBlock). A catch block that swallows every error unseen, as an
// empty one does, is refused.
func parseCatch(text string) ([]branch, error) {
	if text == writeMessage {
		return []branch{{body: block{message: true}}}, nil
	}
	if !strings.HasPrefix(text, "if (") {
		return nil, errors.New("unknown catch block")
	}
	var out []branch
	for keyword := "if ("; text != ""; keyword = " elseif (" {
		var b branch
		if after, ok := strings.CutPrefix(text, keyword); ok {
			cond, after, _ := strings.Cut(after, ") ")
			if b.test = tests[cond]; b.test == nil {
				return nil, fmt.Errorf("unknown test (%s) in catch block", cond)
			}
			text = after
		} else if after, ok := strings.CutPrefix(text, " else "); ok {
			text = after
		} else {
			return nil, fmt.Errorf("want elseif or else at %q", text)
		}
		inner, rest, err := braced(text)
		if err != nil {
			return nil, err
		}
		if b.body, err = parseBlock(inner); err != nil {
			return nil, err
		}
		if out, text = append(out, b), rest; b.test == nil && text != "" {
			return nil, fmt.Errorf("%q after else", text)
		}
	}
	return out, nil
}

// parseBlock reads the body of a branch: nothing, throw, or a pipeline.
func parseBlock(text string) (block, error) {
	switch text {
	case "":
		return block{}, nil
	case "throw":
		return block{throw: true}, nil
	}
	s, err := parsePipeline(text)
	return block{pipe: &s}, err
}

// parsePipeline reads a cmdlet and the stages after it: Where-Object
// selecting by -like (whereLike) after a listing without a filter, then
// displayNames or outNull.
func parsePipeline(text string) (stmt, error) {
	stages := strings.Split(text, " | ")
	c, err := parseCall(stages[0])
	if err != nil {
		return stmt{}, err
	}
	s, rest := stmt{call: c}, stages[1:]
	if len(rest) > 0 {
		if m := whereLike.FindStringSubmatch(rest[0]); m != nil {
			if s.like, err = wildcard(strings.ReplaceAll(m[1], "''", "'")); err != nil {
				return stmt{}, err
			}
			rest = rest[1:]
		}
	}
	switch {
	case len(rest) > 1 || len(rest) == 1 && rest[0] != displayNames && rest[0] != outNull:
		return stmt{}, errors.New("unknown pipeline")
	case len(rest) == 1:
		s.sink = rest[0]
	}
	return s, checkShape(s)
}

// shapes are the cmdlets the stand-in runs: the parameters each takes
// (all of them, or for a listing one as its filter, or none and
// Where-Object) and the stage that must end the pipeline.
var shapes = map[string]struct {
	params []string
	list   bool
	sink   string
}{
	"Get-NetFirewallRule":          {params: []string{"displayname"}, list: true, sink: displayNames},
	"Get-NetFirewallHyperVRule":    {params: []string{"displayname", "name"}, list: true, sink: displayNames},
	"New-NetFirewallHyperVRule":    {params: []string{"name", "displayname", "direction", "vmcreatorid", "protocol", "localports", "action", "profiles"}, sink: outNull},
	"Remove-NetFirewallHyperVRule": {params: []string{"name"}},
}

// checkShape refuses a cmdlet, parameter set or pipeline wslfwd-hostd does
// not send.
func checkShape(s stmt) error {
	sh, ok := shapes[s.call.cmdlet]
	n := len(s.call.params)
	switch {
	case !ok:
		return fmt.Errorf("unknown cmdlet %s", s.call.cmdlet)
	case s.sink != sh.sink:
		return fmt.Errorf("%s must end in %q, not %q", s.call.cmdlet, sh.sink, s.sink)
	case sh.list && (n > 1 || (n == 0) != (s.like != nil)):
		return fmt.Errorf("%s takes one of -%s, or none and Where-Object after it", s.call.cmdlet, strings.Join(sh.params, ", -"))
	case !sh.list && s.like != nil:
		return fmt.Errorf("%s is no listing for Where-Object", s.call.cmdlet)
	case !sh.list && n != len(sh.params):
		return fmt.Errorf("%s takes exactly -%s", s.call.cmdlet, strings.Join(sh.params, ", -"))
	}
	if p, ok := s.call.params["displayname"]; ok && sh.list {
		if _, err := wildcard(p); err != nil {
			return err
		}
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
