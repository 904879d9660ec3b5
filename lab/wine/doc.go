// Package wine holds the Wine end-to-end test: the real
// daemon (wslfwd-hostd.exe, portproxy backend, firewall on) under Wine in
// the lab's winhost namespace, with the strict netsh and PowerShell
// stand-ins of lab/winstandin in the Wine prefix, and the real Linux
// agent in the wsl namespace. A second test runs the daemon with
// firewall = false and the real Linux CLI in winhost: doctor's "LAN
// firewall" check and probe's note on the lan-to-wsl path. A third runs
// `wslfwd setup` (issue 15) from nothing, again, and with --uninstall,
// with the wsl.exe stand-in (lab/winstandin/wslexe) answering for
// distros that are namespaces of the test's making (distro_linux_test.go).
//
// It runs as root with a prefix that .ci/wine/standins.sh prepared, named
// by WSLFWD_WINE_PREFIX; .ci/wine/e2e.sh sets both that and
// WSLFWD_WINE_E2E=required, under which a test that cannot run fails
// instead of skipping.
package wine
