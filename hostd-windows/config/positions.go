package config

import (
	"slices"

	"github.com/pelletier/go-toml/v2/unstable"
)

// keyPos is where a key, or an element of an array, is written.
type keyPos struct {
	key   string        // as errors name it: "remap[1].port", "deny_ports[2]", `distros."A B".udp`
	parts []string      // the key without array indexes, as toml.DecodeError.Key gives it
	line  int           // 1-based
	col   int           // 1-based; 0 when the parser gives none (an empty array in an array)
	kind  unstable.Kind // of the value: Integer, Array, Table (a header), ...
	text  []byte        // a String value, unquoted
	// expr is the key/value expression the key is written in; zero for
	// table headers.
	expr unstable.Range
}

// positions are the keys of a document in the order they are written.
// go-toml's decoder reports where syntax and type errors are but names the
// key without array indexes; validation errors know their key but not
// where it is. positions answer both.
type positions struct {
	keys      []keyPos
	lines     map[string]int // key -> line
	malformed bool           // the parser stopped at a syntax error
}

// findKeys reads the positions of every key in data, up to the first syntax
// error.
func findKeys(data []byte) *positions {
	w := walker{pos: &positions{lines: map[string]int{}}, arrays: map[string]int{}}
	w.p.Reset(data)
	var table keyPos
	for w.p.NextExpression() {
		n := w.p.Expression()
		switch n.Kind {
		case unstable.Table, unstable.ArrayTable:
			table = w.header(n)
		case unstable.KeyValue:
			w.keyValue(table, n, n.Raw)
		}
	}
	w.pos.malformed = w.p.Error() != nil
	return w.pos
}

// lookup returns the most precisely placed key at the position go-toml
// reports for an error about parts: the last key written at or before it
// whose parts begin with parts.
func (p *positions) lookup(parts []string, line, col int) (keyPos, bool) {
	var found keyPos
	ok := false
	for _, k := range p.keys {
		if k.line > line || k.line == line && k.col > col {
			break
		}
		if k.col > 0 && len(k.parts) >= len(parts) && slices.Equal(k.parts[:len(parts)], parts) &&
			(!ok || k.line > found.line || k.col > found.col) { // an array's header before its element's
			found, ok = k, true
		}
	}
	return found, ok
}

type walker struct {
	p      unstable.Parser
	pos    *positions
	arrays map[string]int // array-of-tables key -> elements so far
}

func (w *walker) add(k keyPos) {
	w.pos.keys = append(w.pos.keys, k)
	w.pos.lines[k.key] = k.line
}

// place returns the line and column n starts at; 0, 0 when unknown.
func (w *walker) place(n *unstable.Node) (line, col int) {
	if n == nil || n.Raw.Length == 0 {
		return 0, 0
	}
	s := w.p.Shape(n.Raw).Start
	return s.Line, s.Column
}

// header records a [table] or [[array of tables]] header and returns the
// key its key/values go under.
func (w *walker) header(n *unstable.Node) keyPos {
	parts, first := keyParts(n.Key())
	k := keyPos{parts: parts, kind: unstable.Table}
	k.line, k.col = w.place(first)
	for i := 1; i < len(parts); i++ { // [a.b.c] makes tables a and a.b
		w.add(keyPos{key: w.resolve(parts[:i]), parts: parts[:i], line: k.line, col: k.col, kind: unstable.Table})
	}
	if n.Kind == unstable.Table {
		k.key = w.resolve(parts)
		w.add(k)
		return k
	}
	k.key = join(w.resolve(parts[:len(parts)-1]), keyPart(parts[len(parts)-1]))
	k.kind = unstable.Array
	w.add(k) // the array itself, at its latest header
	array := k.key
	k.kind = unstable.Table
	k.key = index(array, w.arrays[array])
	w.arrays[array]++
	w.add(k)
	return k
}

// resolve turns header key parts into a key, descending into the latest
// element of each array of tables on the way.
func (w *walker) resolve(parts []string) string {
	key := ""
	for _, part := range parts {
		key = join(key, keyPart(part))
		if n, ok := w.arrays[key]; ok {
			key = index(key, n-1)
		}
	}
	return key
}

// keyValue records the key of n, a key/value under the table at prefix,
// written in the expression expr.
func (w *walker) keyValue(prefix keyPos, n *unstable.Node, expr unstable.Range) {
	parts, first := keyParts(n.Key())
	k := keyPos{key: prefix.key, expr: expr, kind: unstable.Table}
	k.line, k.col = w.place(first)
	for i, part := range parts {
		k.key = join(k.key, keyPart(part))
		k.parts = slices.Concat(prefix.parts, parts[:i+1])
		if i < len(parts)-1 { // a.b.c = 1 makes tables a and a.b
			w.add(k)
		}
	}
	k.kind, k.text = n.Value().Kind, n.Value().Data
	w.add(k)
	w.value(k, n.Value())
}

// value records the elements of arrays and the keys of inline tables.
func (w *walker) value(k keyPos, n *unstable.Node) {
	switch n.Kind {
	case unstable.Array:
		it := n.Children()
		for i := 0; it.Next(); i++ {
			c := it.Node()
			e := keyPos{key: index(k.key, i), parts: k.parts, line: k.line, kind: c.Kind, text: c.Data, expr: k.expr}
			if line, col := w.place(firstPlaced(c)); line > 0 {
				e.line, e.col = line, col
			}
			w.add(e)
			w.value(e, c)
		}
	case unstable.InlineTable:
		it := n.Children()
		for it.Next() {
			w.keyValue(k, it.Node(), k.expr)
		}
	}
}

// firstPlaced returns n, or for an array, which the parser gives no
// position, its first element that has one.
func firstPlaced(n *unstable.Node) *unstable.Node {
	for n != nil && n.Kind == unstable.Array {
		it := n.Children()
		if !it.Next() {
			return nil
		}
		n = it.Node()
	}
	return n
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
