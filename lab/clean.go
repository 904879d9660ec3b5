//go:build linux

package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/wslfwd/wslfwd/lab/netlab"
)

func cleanCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "clean",
		Short: "Remove lab namespaces (" + netlab.Prefix + "*) left behind by crashed runs",
		Long: "Kills the processes inside every network namespace whose name starts with " +
			netlab.Prefix + " and deletes it. Labs still running are torn down too.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			removed, err := netlab.Clean(netlab.Prefix)
			for _, name := range removed {
				fmt.Fprintln(cmd.OutOrStdout(), "removed", name)
			}
			if err != nil {
				return err
			}
			if len(removed) == 0 {
				fmt.Fprintln(cmd.OutOrStdout(), "nothing to clean")
			}
			return nil
		},
	}
}
