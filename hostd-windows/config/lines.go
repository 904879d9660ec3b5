package config

import (
	"github.com/pelletier/go-toml/v2/unstable"
)

// keyLines maps every key path of a valid TOML document, in the form the
// errors use ("remap[1].port", "deny_ports[2]", `distros."A B".udp`), to the
// line it is written on. go-toml's decoder reports lines for syntax and
// type errors only; validation needs them for every key.
func keyLines(data []byte) map[string]int {
	lines := map[string]int{}
	p := unstable.Parser{}
	p.Reset(data)
	arrays := map[string]int{} // array-of-tables path -> elements so far
	// resolve turns header key parts into a path, descending into the
	// latest element of each array of tables on the way.
	resolve := func(parts []string) string {
		path := ""
		for _, part := range parts {
			path = join(path, keyPart(part))
			if n, ok := arrays[path]; ok {
				path = index(path, n-1)
			}
		}
		return path
	}
	lineOf := func(n *unstable.Node) int {
		if n == nil || n.Raw.Length == 0 {
			return 0
		}
		return p.Shape(n.Raw).Start.Line
	}
	table := ""
	for p.NextExpression() {
		n := p.Expression()
		switch n.Kind {
		case unstable.Table:
			parts, first := keyParts(n.Key())
			table = resolve(parts)
			lines[table] = lineOf(first)
		case unstable.ArrayTable:
			parts, first := keyParts(n.Key())
			base := join(resolve(parts[:len(parts)-1]), keyPart(parts[len(parts)-1]))
			table = index(base, arrays[base])
			arrays[base]++
			lines[base] = lineOf(first)
			lines[table] = lineOf(first)
		case unstable.KeyValue:
			keyValue(lines, table, n, lineOf)
		}
	}
	return lines
}

func keyValue(lines map[string]int, prefix string, n *unstable.Node, lineOf func(*unstable.Node) int) {
	parts, first := keyParts(n.Key())
	path := prefix
	for _, part := range parts {
		path = join(path, keyPart(part))
	}
	line := lineOf(first)
	lines[path] = line
	value(lines, path, n.Value(), line, lineOf)
}

// value records the lines of array elements and inline-table keys.
func value(lines map[string]int, path string, n *unstable.Node, line int, lineOf func(*unstable.Node) int) {
	switch n.Kind {
	case unstable.Array:
		it := n.Children()
		for i := 0; it.Next(); i++ {
			c := it.Node()
			k := index(path, i)
			l := lineOf(c)
			if l == 0 {
				l = line
			}
			lines[k] = l
			value(lines, k, c, l, lineOf)
		}
	case unstable.InlineTable:
		it := n.Children()
		for it.Next() {
			keyValue(lines, path, it.Node(), lineOf)
		}
	}
}

func keyParts(it unstable.Iterator) (parts []string, first *unstable.Node) {
	for it.Next() {
		if first == nil {
			first = it.Node()
		}
		parts = append(parts, string(it.Node().Data))
	}
	return parts, first
}

func join(prefix, part string) string {
	if prefix == "" {
		return part
	}
	return prefix + "." + part
}
