// Package winstandin holds strict stand-ins for the Windows tools the
// daemon drives (netsh and the PowerShell firewall cmdlets), for tests
// under Wine, whose own netsh and powershell do nothing and exit 0.
//
// The stand-ins are stricter than Windows, never kinder: where Windows'
// behaviour is undocumented they take its strictest reading (a `netsh -f`
// script stops at its first failing line; a syntax error prints the usage
// and exits 0; `-Name` takes no wildcard; a wildcard filter that matches
// nothing is an ObjectNotFound error), so code that passes against them
// does not lean on a leniency Windows may not have. The logic lives in the
// OS-neutral packages netsh and powershell over a state.Store, tested on
// Linux; the programs in cmd/ run it against Wine's registry.
package winstandin
