//go:build linux

package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/wslfwd/wslfwd/agent-linux/install"
	"github.com/wslfwd/wslfwd/internal/token"
)

func runInstall(cmd *cobra.Command, o *installOptions) error {
	c, err := installConfig(cmd, o)
	if err != nil {
		return err
	}
	if c.Distro == "" {
		c.Distro = os.Getenv("WSL_DISTRO_NAME")
	}
	if c.Binary, err = os.Executable(); err != nil {
		return fmt.Errorf("find this binary: %w", err)
	}
	switch {
	case o.tokenStdin:
		c.Token, err = token.Read(cmd.InOrStdin(), "standard input")
	case o.tokenFile != "":
		c.Token, err = token.Load(o.tokenFile)
	}
	if err != nil {
		return fmt.Errorf("agent token: %w", err)
	}
	return install.Install(c)
}

func runUninstall(cmd *cobra.Command, o *installOptions) error {
	c, err := installConfig(cmd, o)
	if err != nil {
		return err
	}
	return install.Uninstall(c)
}

func installConfig(cmd *cobra.Command, o *installOptions) (install.Config, error) {
	if os.Geteuid() != 0 {
		return install.Config{}, errors.New(cmd.Name() + " needs root: it writes /usr/local/bin and /etc; " +
			"run it with sudo, or from Windows with wsl -u root")
	}
	return install.Config{Root: o.root, Distro: o.distro, Host: o.host, Out: cmd.OutOrStdout()}, nil
}
