// Package winexec runs Windows system tools (netsh, powershell, wsl) the
// way wslfwd must: by absolute path under %SystemRoot%, with their output
// decoded, and with their exit status as part of the output, because
// these tools print errors and exit 0 (or the reverse) and only a
// read-back can tell what happened.
package winexec
