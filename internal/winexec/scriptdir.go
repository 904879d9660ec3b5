package winexec

import "sync/atomic"

// scriptDir is where Netsh writes its script files; empty: the system's
// temporary folder.
var scriptDir atomic.Pointer[string]

// SetScriptDir makes Netsh write its script files in dir: the daemon's
// state directory, which only Administrators and SYSTEM can use. In the
// temporary folder of whoever runs the daemon or install, another process
// of that user could rewrite a script between its writing and netsh
// reading it, and have an elevated netsh run its own lines. Called once,
// at start, before any netsh run.
func SetScriptDir(dir string) { scriptDir.Store(&dir) }

// ScriptDir is the folder Netsh writes script files to: the one
// SetScriptDir gave, or "" for the system's temporary folder (tests).
func ScriptDir() string {
	if d := scriptDir.Load(); d != nil {
		return *d
	}
	return ""
}
