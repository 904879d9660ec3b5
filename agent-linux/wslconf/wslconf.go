// Package wslconf adds a command to the [boot] command of a distro's
// /etc/wsl.conf, and takes it out again, keeping every other byte of the
// user's file: comments, order, spacing and line endings.
//
// It reads the file as WSL does (microsoft/WSL, configfile.cpp): section
// and key names are case-insensitive, the first boot.command in the file
// is the one WSL runs (through /bin/sh -c), a value's double quotes are
// dropped, a backslash escapes the next character (a backslash before the
// end of a line continues the value on the next one), and # outside quotes
// starts a comment.
//
// The added command goes first and ends in "&", so the user's command
// follows it as a list of its own: the shell parses it exactly as it did
// alone, and its exit status is the whole command's.
package wslconf

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
)

// Edit is what Add inserted: Remove takes out exactly those bytes, where
// Add put them.
type Edit struct {
	// Kind says where Text went: "prefix", at the start of the user's
	// command value; "line", a command line after the first [boot]
	// header; "section", a [boot] section at the end of the file.
	Kind string `json:"kind"`
	// Text is the bytes inserted.
	Text string `json:"text"`
}

// The kinds of Edit.
const (
	KindPrefix  = "prefix"
	KindLine    = "line"
	KindSection = "section"
)

// ErrChanged is Remove's error when the text Add inserted is no longer
// where it put it: someone edited it since, and it is theirs to fix.
var ErrChanged = errors.New("the command added to [boot] command was changed by hand")

// Add returns conf with cmd run first by the boot command. cmd must end
// in "&" (it runs in the background) and hold none of the characters WSL's
// reader treats specially (", \, #) or a line ending, so it reads the same
// inside quotes and out.
func Add(conf []byte, cmd string) ([]byte, Edit, error) {
	if err := checkCommand(cmd); err != nil {
		return nil, Edit{}, err
	}
	f := parse(conf)
	var e Edit
	at := len(conf)
	switch {
	case f.command >= 0:
		e, at = Edit{KindPrefix, cmd + " "}, f.commandAt
	case f.header >= 0:
		e, at = Edit{KindLine, f.eol + commandLine(cmd)}, f.headerEnd
	default:
		var lead string
		if len(conf) > 0 {
			if !bytes.HasSuffix(conf, []byte("\n")) {
				lead = f.eol
			}
			lead += f.eol // a blank line before the new section
		}
		e = Edit{KindSection, lead + "[boot]" + f.eol + commandLine(cmd) + f.eol}
	}
	out := make([]byte, 0, len(conf)+len(e.Text))
	out = append(append(append(out, conf[:at]...), e.Text...), conf[at:]...)
	return out, e, nil
}

// Remove returns conf without what Add inserted (e), byte for byte the
// file Add was given when nobody edited it since; edits elsewhere stay.
func Remove(conf []byte, e Edit) ([]byte, error) {
	f := parse(conf)
	at := -1
	switch e.Kind {
	case KindPrefix:
		at = f.commandAt
	case KindLine:
		at = f.headerEnd
	case KindSection:
		at = len(conf) - len(e.Text)
		if at < 0 || !bytes.HasSuffix(conf, []byte(e.Text)) {
			// Text the user wrote after the section: ours is still
			// whole, and holds the one copy of the command.
			at = bytes.LastIndex(conf, []byte(e.Text))
		}
	default:
		return nil, fmt.Errorf("wsl.conf edit of unknown kind %q", e.Kind)
	}
	if at < 0 || !bytes.HasPrefix(conf[at:], []byte(e.Text)) {
		return nil, ErrChanged
	}
	return append(append([]byte{}, conf[:at]...), conf[at+len(e.Text):]...), nil
}

func commandLine(cmd string) string { return `command = "` + cmd + `"` }

func checkCommand(cmd string) error {
	if !strings.HasSuffix(cmd, "&") {
		return fmt.Errorf("boot command %q must end in &", cmd)
	}
	if strings.ContainsAny(cmd, "\"\\#\r\n") {
		return fmt.Errorf("boot command %q holds a character wsl.conf would read specially", cmd)
	}
	return nil
}
