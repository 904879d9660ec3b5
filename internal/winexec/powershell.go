package winexec

import (
	"encoding/base64"
	"strings"
	"unicode/utf16"
)

// MaxCommandLine is CreateProcess's limit on a command line, in UTF-16
// code units, counting the terminating NUL.
const MaxCommandLine = 32767

// maxPath is room kept for powershell.exe's path on the command line: it
// depends on %SystemRoot%, which cannot be longer than MAX_PATH.
const maxPath = 260

// PowerShellArgs are the arguments that run script in Windows PowerShell
// (exported for the test stand-in in lab/winstandin, which decodes them).
// The script is passed encoded (base64 of UTF-16LE) so that no quoting of
// the command line can change it; that doubles its length and more.
func PowerShellArgs(script string) []string {
	u := utf16.Encode([]rune(script))
	b := make([]byte, 2*len(u))
	for i, c := range u {
		b[2*i], b[2*i+1] = byte(c), byte(c>>8)
	}
	return []string{"-NoProfile", "-NonInteractive", "-ExecutionPolicy", "Bypass",
		"-EncodedCommand", base64.StdEncoding.EncodeToString(b)}
}

// PowerShellFits reports whether script, encoded, fits on one command
// line with powershell.exe's path: a longer one cannot be started at all,
// so callers split their work into scripts that fit.
func PowerShellFits(script string) bool {
	return maxPath+1+len(strings.Join(PowerShellArgs(script), " ")) < MaxCommandLine
}
