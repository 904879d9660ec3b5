// Package install puts wslfwd-agent into a WSL distro and takes it out
// again: the Linux half of `wslfwd setup`, run inside the distro as
// `wslfwd-agent install` and `wslfwd-agent uninstall`.
//
// Install copies the agent to /usr/local/bin, writes its token to
// /etc/wslfwd/token (mode 0600), makes it start at boot and starts it now:
// with the systemd unit when systemd runs the distro, otherwise through
// the [boot] command of /etc/wsl.conf, added in front of the user's own
// command (package wslconf). Run again, it changes only what is not as
// it should be, and says so one line per change.
//
// What install wrote is recorded in /etc/wslfwd/install.json, so that
// Uninstall removes exactly that and nothing else, and gives the user's
// wsl.conf back byte for byte.
//
// Every path is taken under a root directory (like dpkg --root), and what
// reaches beyond files (systemd, processes) goes through System, so tests
// run on scratch trees and start nothing on the machine running them.
package install
