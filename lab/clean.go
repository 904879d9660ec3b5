//go:build linux

package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/wslfwd/wslfwd/lab/netlab"
)

func cleanCmd() *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "clean",
		Short: "Remove lab namespaces (" + netlab.Prefix + "*) left behind by crashed runs",
		Long: "Kills the processes inside every network namespace whose name starts with " +
			netlab.Prefix + " and deletes it. Namespaces of labs still running (their process\n" +
			"holds them open) are left alone unless --force is given.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out := cmd.OutOrStdout()
			removed, inUse, err := netlab.Clean(netlab.Prefix, force)
			for _, name := range removed {
				fmt.Fprintln(out, "removed", name)
			}
			for _, name := range inUse {
				fmt.Fprintln(out, "in use by a running lab, kept:", name)
			}
			if err != nil {
				return err
			}
			if len(removed)+len(inUse) == 0 {
				fmt.Fprintln(out, "nothing to clean")
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "also tear down labs that are still running")
	return cmd
}
