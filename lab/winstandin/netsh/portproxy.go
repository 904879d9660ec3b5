package netsh

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/wslfwd/wslfwd/lab/winstandin/state"
)

// Kinds are the portproxy tables, in the order `show all` prints them.
var Kinds = []string{"v4tov4", "v4tov6", "v6tov4", "v6tov6"}

// portproxy runs `interface portproxy <verb> ...`.
func (t Tool) portproxy(verb string, rest []string) result {
	if verb == "show" {
		return t.show(rest)
	}
	if verb != "add" && verb != "set" && verb != "delete" {
		return fail(fmt.Sprintf(msgNoCommand, "interface portproxy "+verb))
	}
	if len(rest) == 0 || !isKind(strings.ToLower(rest[0])) {
		return syntax(usage(verb, "v4tov4"))
	}
	kind := strings.ToLower(rest[0])
	if verb == "delete" {
		return t.deleteEntry(kind, rest[1:])
	}
	return t.addEntry(verb, kind, rest[1:])
}

func isKind(s string) bool { return slices.Contains(Kinds, s) }

// families says whether a table listens and connects on IPv4.
func families(kind string) (listen4, connect4 bool) {
	return kind[1] == '4', kind[5] == '4'
}

// addEntry runs add and set, which take the same arguments; both create or
// replace the value, as netsh does.
func (t Tool) addEntry(verb, kind string, words []string) result {
	m, good := tags(words, "listenport", "listenaddress", "connectport", "connectaddress", "protocol")
	if !good || m["listenport"] == "" || m["connectaddress"] == "" || !tcpOnly(m) {
		return syntax(usage(verb, kind))
	}
	listen4, connect4 := families(kind)
	listen, lok := address(m["listenaddress"], listen4)
	connect, cok := address(m["connectaddress"], connect4)
	if !lok || !cok || connect == "*" {
		return fail(msgBadParam)
	}
	cport := m["connectport"]
	if cport == "" {
		cport = m["listenport"]
	}
	// Ports are stored as given: netsh does not validate them (a user once
	// stored "30000-50000").
	if err := t.Store.SetValue(kind, listen+"/"+m["listenport"], connect+"/"+cport); err != nil {
		return fail(err.Error())
	}
	return ok("\r\n")
}

// deleteEntry deletes by listen address and port; an absent entry fails
// with Windows' message. How netsh matches a delete to the stored values
// is undocumented; the harsher reading is taken: it parses the address,
// so every spelling of the socket goes ("0.0.0.0", "*" and "::" for the
// unspecified address, "::0", a port with leading zeros), not only the
// value whose name is the text given. A caller that deletes beside a
// value of another spelling, which is someone else's, loses it here.
func (t Tool) deleteEntry(kind string, words []string) result {
	m, good := tags(words, "listenport", "listenaddress", "protocol")
	if !good || m["listenport"] == "" || !tcpOnly(m) {
		return syntax(usage("delete", kind))
	}
	listen4, _ := families(kind)
	listen, lok := address(m["listenaddress"], listen4)
	if !lok {
		return fail(msgBadParam)
	}
	name := listen + "/" + m["listenport"]
	vs, err := t.Store.Values(kind)
	if err != nil {
		return fail(err.Error())
	}
	found := false
	for _, v := range vs {
		if v.Name != name && !sameSocket(v.Name, name, listen4) {
			continue
		}
		if _, err := t.Store.DeleteValue(kind, v.Name); err != nil {
			return fail(err.Error())
		}
		found = true
	}
	if !found {
		return fail(msgNotFound)
	}
	return ok("\r\n")
}

// sameSocket reports whether two value names of a table whose listen
// family is IPv4 when listen4 name one socket, read as leniently as netsh
// might. Names that do not read as address/port match only themselves.
func sameSocket(a, b string, listen4 bool) bool {
	sa, oka := socketOf(a, listen4)
	sb, okb := socketOf(b, listen4)
	return oka && okb && sa == sb
}

// socketOf reads a value name as address/port, "*" as the family's
// unspecified address, any spelling of the address and a port with
// leading zeros or spaces.
func socketOf(name string, listen4 bool) (netip.AddrPort, bool) {
	i := strings.LastIndexByte(name, '/')
	if i < 0 {
		return netip.AddrPort{}, false
	}
	port, err := strconv.ParseUint(strings.TrimSpace(name[i+1:]), 10, 16)
	if err != nil || port == 0 {
		return netip.AddrPort{}, false
	}
	text := strings.TrimSpace(name[:i])
	addr := netip.IPv6Unspecified()
	if listen4 {
		addr = netip.IPv4Unspecified()
	}
	if text != "*" {
		if addr, err = netip.ParseAddr(text); err != nil {
			return netip.AddrPort{}, false
		}
	}
	return netip.AddrPortFrom(addr.Unmap(), uint16(port)), true
}

func tcpOnly(m map[string]string) bool {
	p, set := m["protocol"]
	return !set || strings.EqualFold(p, "tcp")
}

// address checks a listen or connect address: empty means every address
// ("*"), else a literal of the table's family, as netsh stores it.
// Host names, which netsh resolves, are refused: stricter than Windows.
func address(s string, want4 bool) (string, bool) {
	if s == "" {
		return "*", true
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" || a.Is4() != want4 || a.Is4In6() {
		return "", false
	}
	return s, true
}

// usage is netsh's help for a portproxy command.
func usage(verb, kind string) string {
	l, c := "IPv"+kind[1:2], "IPv"+kind[5:6]
	if verb == "delete" {
		return fmt.Sprintf("Usage: delete %s [listenport=]<integer>|<servicename>\r\n"+
			"            [[listenaddress=]<%s address>|<hostname>]\r\n"+
			"            [[protocol=]tcp]\r\n", kind, l)
	}
	return fmt.Sprintf("Usage: %s %s [listenport=]<integer>|<servicename>\r\n"+
		"            [connectaddress=]<%s address>|<hostname>\r\n"+
		"            [[connectport=]<integer>|<servicename>]\r\n"+
		"            [[listenaddress=]<%s address>|<hostname>]\r\n"+
		"            [[protocol=]tcp]\r\n", verb, kind, c, l)
}

// show prints `show all` or one table in netsh's layout: per non-empty
// table a header naming the families, column titles, a dashed rule and
// one row per value, the address columns 15 wide, the port 10.
func (t Tool) show(words []string) result {
	if len(words) != 1 {
		return syntax("Usage: show all|v4tov4|v4tov6|v6tov4|v6tov6\r\n")
	}
	which := strings.ToLower(words[0])
	kinds := []string{which}
	if which == "all" {
		kinds = Kinds
	} else if !isKind(which) {
		return fail(fmt.Sprintf(msgNoCommand, "interface portproxy show "+words[0]))
	}
	var b strings.Builder
	b.WriteString("\r\n")
	for _, k := range kinds {
		vs, err := t.Store.Values(k)
		if err != nil {
			return fail(err.Error())
		}
		if len(vs) > 0 {
			writeTable(&b, k, vs)
		}
	}
	return ok(b.String())
}

func writeTable(b *strings.Builder, kind string, vs []state.Value) {
	fam := func(v4 bool) string {
		if v4 {
			return "ipv4"
		}
		return "ipv6"
	}
	listen4, connect4 := families(kind)
	fmt.Fprintf(b, "%-28s%s\r\n\r\n", "Listen on "+fam(listen4)+":", "Connect to "+fam(connect4)+":")
	fmt.Fprintf(b, "%-16s%-12s%-16s%s\r\n", "Address", "Port", "Address", "Port")
	b.WriteString("--------------- ----------  --------------- ----------\r\n")
	for _, v := range vs {
		la, lp := splitAddrPort(v.Name)
		ca, cp := splitAddrPort(v.Data)
		fmt.Fprintf(b, "%-15s %-10s  %-15s %s\r\n", la, lp, ca, cp)
	}
	b.WriteString("\r\n")
}

// splitAddrPort splits "address/port" at the last slash.
func splitAddrPort(s string) (string, string) {
	i := strings.LastIndex(s, "/")
	if i < 0 {
		return s, ""
	}
	return s[:i], s[i+1:]
}

// excludedRanges answers `interface ipv4|ipv6 show excludedportrange
// protocol=tcp` with Windows' layout and no ranges: the lab reserves none.
func excludedRanges(words []string) result {
	if len(words) != 2 || !strings.EqualFold(words[0], "excludedportrange") {
		return fail(fmt.Sprintf(msgNoCommand, strings.Join(words, " ")))
	}
	m, good := tags(words[1:], "protocol")
	if !good || (!strings.EqualFold(m["protocol"], "tcp") && !strings.EqualFold(m["protocol"], "udp")) {
		return syntax("Usage: show excludedportrange [protocol=]tcp|udp [[store=]active|persistent]\r\n")
	}
	return ok("\r\nProtocol " + strings.ToLower(m["protocol"]) + " Port Exclusion Ranges\r\n\r\n" +
		"Start Port    End Port\r\n----------    --------\r\n\r\n" +
		"* - Administered port exclusions.\r\n\r\n")
}
