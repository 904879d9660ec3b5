//go:build !linux

package main

import "github.com/spf13/cobra"

func runInstall(*cobra.Command, *installOptions) error { return errNotLinux }

func runUninstall(*cobra.Command, *installOptions) error { return errNotLinux }
