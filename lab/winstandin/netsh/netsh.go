// Package netsh is a strict stand-in for Windows' netsh.exe, for tests
// under Wine: `interface portproxy`, `interface ipv4|ipv6 show
// excludedportrange` and `advfirewall firewall ... rule`, over a
// state.Store (Wine's registry in cmd/netsh).
//
// It takes the strictest reading of netsh wherever Windows' behaviour is
// undocumented or lenient:
//   - a `-f` script stops at its first failing line (ReactOS's netsh does;
//     Windows does not say);
//   - a syntax error prints the usage text and exits 0, as real netsh can,
//     so a caller must judge by reading back, never by the exit code;
//   - deleting a portproxy entry or a firewall rule that is absent fails
//     with Windows' message and exit code 1;
//   - tags are required (`listenport=80`, never a bare `80`) and
//     addresses must be literals of the table's family.
//
// What it prints is UTF-8 here; cmd/netsh writes it in the OEM code page,
// as netsh writes to a console or a pipe.
package netsh

import (
	"fmt"
	"slices"
	"strings"

	"github.com/wslfwd/wslfwd/lab/winstandin/state"
)

// Windows' messages, in English.
const (
	msgNotFound   = "The system cannot find the file specified."
	msgBadParam   = "The parameter is incorrect."
	msgNoRules    = "No rules match the specified criteria."
	msgBadSyntax  = "The syntax supplied for this command is not valid. Check help for the correct syntax."
	msgNoCommand  = "The following command was not found: %s."
	exitFailed    = 1
	exitSyntaxErr = 0 // sic: netsh can print a usage error and exit 0
)

// Tool runs netsh command lines against a store.
type Tool struct {
	Store state.Store
	// ReadFile reads a `-f` script.
	ReadFile func(name string) ([]byte, error)
}

// result is what one command did: what it printed, its exit code, and
// whether it failed (a failed line ends a script, whatever its code).
type result struct {
	out    string
	code   int
	failed bool
}

func ok(out string) result { return result{out: out} }

func fail(msg string) result {
	return result{out: msg + "\r\n\r\n", code: exitFailed, failed: true}
}

// syntax is the answer to a line netsh cannot parse: the usage, exit 0,
// and the line still counts as failed.
func syntax(usage string) result {
	return result{out: msgBadSyntax + "\r\n\r\n" + usage + "\r\n", code: exitSyntaxErr, failed: true}
}

// Run runs netsh with the arguments it was given (without the program's
// name) and returns what it printed and its exit code.
func (t Tool) Run(args []string) (string, int) {
	if len(args) == 2 && strings.EqualFold(args[0], "-f") {
		return t.script(args[1])
	}
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return "Usage: netsh [-f ScriptFile] [Command]\r\n(the stand-in supports only these)\r\n", exitFailed
	}
	r := t.command(args)
	return r.out, r.code
}

// script runs a `-f` file line by line and stops at the first line that
// fails, with that line's exit code.
func (t Tool) script(name string) (string, int) {
	b, err := t.ReadFile(name)
	if err != nil {
		return fmt.Sprintf("The file %s could not be opened: %v\r\n", name, err), exitFailed
	}
	var out strings.Builder
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		args, err := tokenize(line)
		var r result
		if err != nil {
			r = syntax(err.Error())
		} else {
			r = t.command(args)
		}
		out.WriteString(r.out)
		if r.failed {
			return out.String(), r.code
		}
	}
	return out.String(), 0
}

// command runs one command line, split into words.
func (t Tool) command(args []string) result {
	low := make([]string, len(args))
	for i, a := range args {
		low[i] = strings.ToLower(a)
	}
	switch {
	case len(args) >= 3 && isInterface(low[0]) && low[1] == "portproxy":
		return t.portproxy(low[2], args[3:])
	case len(args) >= 3 && isInterface(low[0]) && (low[1] == "ipv4" || low[1] == "ipv6") && low[2] == "show":
		return excludedRanges(args[3:])
	case len(args) >= 4 && low[0] == "advfirewall" && low[1] == "firewall" && low[3] == "rule":
		return t.firewall(low[2], args[4:])
	}
	return fail(fmt.Sprintf(msgNoCommand, strings.Join(args, " ")))
}

func isInterface(s string) bool { return s == "interface" || s == "int" }

// tokenize splits a script line into words as netsh does: on spaces,
// with double quotes grouping (`name="a b"` is one word, quotes removed).
func tokenize(line string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inQuote, inWord := false, false
	for _, c := range line {
		switch {
		case c == '"':
			inQuote, inWord = !inQuote, true
		case (c == ' ' || c == '\t') && !inQuote:
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(c)
			inWord = true
		}
	}
	if inQuote {
		return nil, fmt.Errorf("unbalanced quotes in: %s", line)
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

// tags parses `tag=value` words into a map with lower-case tags. Every
// tag must be one of allowed, given once; a bare value (netsh's
// positional form) is refused, stricter than netsh.
func tags(words []string, allowed ...string) (map[string]string, bool) {
	m := make(map[string]string, len(words))
	for _, w := range words {
		k, v, found := strings.Cut(w, "=")
		k = strings.ToLower(k)
		if !found || v == "" {
			return nil, false
		}
		if _, dup := m[k]; dup || !slices.Contains(allowed, k) {
			return nil, false
		}
		m[k] = v
	}
	return m, true
}
