//go:build !linux

package main

import (
	"errors"

	"github.com/spf13/cobra"
)

var errNotLinux = errors.New("wslfwd-agent runs only inside a WSL distro (Linux)")

func run(*cobra.Command, *options) error { return errNotLinux }

func inspect(*cobra.Command, *options) error { return errNotLinux }

func status(*cobra.Command, *options) error { return errNotLinux }
