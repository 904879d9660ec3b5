//go:build linux

package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/wslfwd/wslfwd/lab/netlab"
)

func execCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "exec NAMESPACE -- COMMAND [ARG...]",
		Short: "Run a command in a namespace of a running lab (lan, winhost, wsl, or a full name)",
		Long: `Runs COMMAND in the network namespace NAMESPACE of a running lab (go run ./lab up),
through nsenter --net: it sees that namespace's network and the machine's files.
NAMESPACE is lan, winhost or wsl when one lab runs, or a full name such as
` + netlab.Prefix + `3fa2c1-wsl. The command's exit status is lab's.`,
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if cmd.ArgsLenAtDash() != 1 {
				return fmt.Errorf("want one namespace, then -- and the command: lab %s", cmd.Use)
			}
			return execIn(cmd.Context(), args[0], args[1:])
		},
	}
	return cmd
}

func execIn(ctx context.Context, name string, argv []string) error {
	ns, err := findNS(name)
	if err != nil {
		return err
	}
	c := (&netlab.NS{Name: ns}).Command(ctx, argv[0], argv[1:]...)
	c.Stdin, c.Stdout, c.Stderr = os.Stdin, os.Stdout, os.Stderr
	return c.Run()
}

// findNS finds a running lab's namespace by its full name, or by its role
// when only one lab has it.
func findNS(name string) (string, error) {
	if strings.HasPrefix(name, netlab.Prefix) {
		names, err := netlab.List(name)
		if err != nil {
			return "", err
		}
		for _, n := range names {
			if n == name {
				return n, nil
			}
		}
		return "", fmt.Errorf("no namespace %s: is its lab still up?", name)
	}
	names, err := netlab.List(netlab.Prefix)
	if err != nil {
		return "", err
	}
	var match []string
	for _, n := range names {
		if strings.HasSuffix(n, "-"+name) {
			match = append(match, n)
		}
	}
	switch len(match) {
	case 0:
		return "", fmt.Errorf("no running lab has a %s namespace (start one: go run ./lab up)", name)
	case 1:
		return match[0], nil
	}
	return "", fmt.Errorf("%d labs have a %s namespace: name one of %s", len(match), name, strings.Join(match, ", "))
}
