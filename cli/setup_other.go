//go:build !windows

package main

import "errors"

// errSetupWindows: setup sets up the Windows side; the Linux half has its
// own command.
var errSetupWindows = errors.New("setup runs on Windows (wslfwd.exe setup, from your own prompt); " +
	"inside a distro, 'sudo wslfwd-agent install --token-file FILE' does the Linux half")

func newSetupEnv(*app) (*setupEnv, error) { return nil, errSetupWindows }

func (a *app) reportTo(string) error { return errSetupWindows }
