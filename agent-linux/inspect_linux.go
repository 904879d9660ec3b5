//go:build linux

package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/wslfwd/wslfwd/agent-linux/netinv"
	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/internal/endpoint"
	"github.com/wslfwd/wslfwd/internal/netproto"
)

func inspect(cmd *cobra.Command, o *options) error {
	log, err := newLogger("warn")
	if err != nil {
		return err
	}
	a, problems, err := setup(cmd.Context(), o, log)
	if err != nil {
		return err
	}
	defer a.sys.Close()
	warn := cmd.ErrOrStderr()
	if problems != nil {
		fmt.Fprintf(warn, "wslfwd-agent: warning: run would refuse to start: %v\n", problems)
	}
	if os.Geteuid() != 0 {
		fmt.Fprintln(warn, "wslfwd-agent: warning: not root: owners of other users' sockets are not shown (run shows them)")
	}
	a.probeDetection()
	st, _ := a.tr.Current()
	snap := st.Snapshot(1)
	out := cmd.OutOrStdout()
	if o.json {
		return printJSON(out, a.hello, snap)
	}
	return a.printTable(out, snap)
}

// printJSON prints {"hello": ..., "snapshot": ...}; the protocol has no
// message holding both, so the two protojson documents are joined.
func printJSON(w io.Writer, hello *wslfwdv1.AgentHello, snap *wslfwdv1.Snapshot) error {
	m := protojson.MarshalOptions{UseProtoNames: true, Multiline: true}
	h, err := m.Marshal(hello)
	if err != nil {
		return fmt.Errorf("encode hello: %w", err)
	}
	s, err := m.Marshal(snap)
	if err != nil {
		return fmt.Errorf("encode snapshot: %w", err)
	}
	b, err := json.MarshalIndent(struct {
		Hello    json.RawMessage `json:"hello"`
		Snapshot json.RawMessage `json:"snapshot"`
	}{h, s}, "", "  ")
	if err != nil {
		return fmt.Errorf("encode: %w", err)
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

func (a *agent) printTable(w io.Writer, snap *wslfwdv1.Snapshot) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	h := a.hello
	fmt.Fprintf(tw, "mode\t%s (%s)\n", endpoint.ModeName(h.GetNetworkingMode()), a.info.ModeHow)
	fmt.Fprintf(tw, "distro\t%s\n", orDash(h.GetDistro()))
	fmt.Fprintf(tw, "kernel\t%s\n", h.GetKernelRelease())
	fmt.Fprintf(tw, "vm id\t%s\n", orDash(h.GetVmId()))
	fmt.Fprintf(tw, "boot id\t%s\n", h.GetBootId())
	for _, d := range a.detectionLines() {
		fmt.Fprintf(tw, "%s\t%s\n", d[0], d[1])
	}
	if addr, why, err := endpoint.ForMode(h.GetNetworkingMode(), netinv.Gateway4(snap.GetNetwork())); err == nil {
		fmt.Fprintf(tw, "daemon\t%s (%s)\n", addr, why)
	} else {
		fmt.Fprintf(tw, "daemon\tnone by default: %v\n", err)
	}

	fmt.Fprintln(tw, "\nINTERFACE\tSTATE\tMTU\tMAC\tADDRESSES")
	for _, i := range snap.GetNetwork().GetInterfaces() {
		var addrs []string
		for _, a := range i.GetAddresses() {
			addrs = append(addrs, a.GetAddress()+"/"+strconv.Itoa(int(a.GetPrefixLength())))
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", i.GetName(), i.GetOperState(), i.GetMtu(), orDash(i.GetHardwareAddress()),
			orDash(strings.Join(addrs, " ")))
	}
	fmt.Fprintln(tw, "\nDEFAULT ROUTE\tGATEWAY\tINTERFACE\tMETRIC")
	for _, r := range snap.GetNetwork().GetRoutes() {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\n", r.GetDestination(), orDash(r.GetGateway()), r.GetInterfaceName(), r.GetMetric())
	}
	fmt.Fprintln(tw, "\nPROTO\tLISTEN\tPORT\tPID\tPROCESS")
	for _, l := range snap.GetListeners() {
		listen := l.GetListen()
		if l.GetV6Only() {
			listen += " (v6only)"
		}
		pid := "-"
		if l.GetPid() != 0 {
			pid = strconv.Itoa(int(l.GetPid()))
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", netproto.Name(l.GetProtocol()), listen, l.GetPort(), pid, orDash(l.GetProcessName()))
	}
	return tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
