package winexec

import (
	"errors"
	"sync/atomic"
)

// scriptDir is where Netsh writes its script files; empty: not set yet.
var scriptDir atomic.Pointer[string]

// SetScriptDir makes Netsh write its script files in dir: the daemon's
// state directory, which only Administrators and SYSTEM can use. In the
// temporary folder of whoever runs the daemon or install, another process
// of that user could rewrite a script between its writing and netsh
// reading it, and have an elevated netsh run its own lines. Called
// before any netsh run; Netsh refuses to run without it.
func SetScriptDir(dir string) { scriptDir.Store(&dir) }

// errNoScriptDir is Netsh's refusal to run before SetScriptDir: every
// other folder it could pick is one other processes may write to.
var errNoScriptDir = errors.New("netsh: no protected folder for its script (SetScriptDir was not called)")

// ScriptDir is the folder Netsh writes script files to: the one
// SetScriptDir gave; "" when none was, and Netsh refuses to run.
func ScriptDir() string {
	if d := scriptDir.Load(); d != nil {
		return *d
	}
	return ""
}
