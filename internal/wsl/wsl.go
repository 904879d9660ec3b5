// Package wsl lists WSL distros from Windows, as `wsl.exe -l -q` prints
// them. The daemon (selftest) and the CLI (doctor) both use it, so it lives
// below both.
package wsl

import (
	"regexp"
	"strings"

	"github.com/wslfwd/wslfwd/internal/wintext"
)

// DistroList is what `wsl.exe -l -q` (every distro) or `wsl.exe -l
// --running -q` (running ones) printed: names only, one a line, which is
// the one listing whose words are not localised (`-l -v`'s states are:
// "Running", "Wird ausgeführt").
type DistroList struct {
	// Names are the distros listed, in order.
	Names []string `json:"names"`
	// Said is every other line, joined: wsl.exe's sentence when there is
	// nothing to list ("There are no running distributions.", in the
	// user's language) or when it failed. It is shown, never parsed.
	Said string `json:"said,omitempty"`
}

// distroName is the shape WSL accepts for a distro name when one is
// registered: no spaces, so a line with a space is a sentence.
var distroName = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)

// ValidName reports whether name has the shape of a distro name.
func ValidName(name string) bool { return distroName.MatchString(name) }

// ParseNames parses the output of `wsl.exe -l [--running] -q` as it
// arrives: UTF-16LE with or without a byte order mark, or UTF-8
// (WSL_UTF8=1). With nothing running wsl.exe prints a localised sentence
// and exits non-zero; with WSL missing it prints another. Neither can be
// told apart without reading the words, so neither is: the lines that are
// not names go to Said for the user to read.
func ParseNames(out []byte) DistroList {
	var l DistroList
	var said []string
	for _, line := range strings.Split(wintext.Decode(out), "\n") {
		line = strings.TrimSpace(strings.Trim(line, "\x00"))
		switch {
		case line == "":
		case distroName.MatchString(line):
			l.Names = append(l.Names, line)
		default:
			said = append(said, line)
		}
	}
	l.Said = strings.Join(said, " ")
	return l
}
