package config

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Error is one problem in the configuration, located as precisely as
// known: "config.toml:12: deny_ports[2]: port 70000 out of range 1-65535".
type Error struct {
	File string // the file, when loaded from one
	Line int    // 1-based; 0 when unknown
	Key  string // e.g. "deny_ports[2]", `distros."Ubuntu 24.04".udp`; empty for syntax errors
	Msg  string
}

func (e *Error) Error() string {
	var b strings.Builder
	switch {
	case e.File != "" && e.Line > 0:
		fmt.Fprintf(&b, "%s:%d: ", e.File, e.Line)
	case e.File != "":
		fmt.Fprintf(&b, "%s: ", e.File)
	case e.Line > 0:
		fmt.Fprintf(&b, "line %d: ", e.Line)
	}
	if e.Key != "" {
		b.WriteString(e.Key)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors returns every *Error in err (as joined by Validate or Load).
func Errors(err error) []*Error {
	var out []*Error
	var walk func(error)
	walk = func(err error) {
		if e, ok := err.(*Error); ok {
			out = append(out, e)
			return
		}
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, err := range j.Unwrap() {
				walk(err)
			}
		}
	}
	walk(err)
	return out
}

// errList collects problems so one run reports all of them.
type errList []*Error

func (l *errList) add(key, format string, args ...any) {
	*l = append(*l, &Error{Key: key, Msg: fmt.Sprintf(format, args...)})
}

func (l errList) err() error {
	if len(l) == 0 {
		return nil
	}
	errs := make([]error, len(l))
	for i, e := range l {
		errs[i] = e
	}
	return errors.Join(errs...)
}

// keyPath renders a dotted key, quoting parts that are not bare keys.
func keyPath(parts ...string) string {
	var b strings.Builder
	for i, p := range parts {
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(keyPart(p))
	}
	return b.String()
}

func keyPart(p string) string {
	if p == "" {
		return `""`
	}
	for _, r := range p {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return strconv.Quote(p)
		}
	}
	return p
}

// index renders "key[i]".
func index(key string, i int) string { return key + "[" + strconv.Itoa(i) + "]" }
