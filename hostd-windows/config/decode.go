package config

import (
	"bytes"
	"encoding"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/pelletier/go-toml/v2"
	"github.com/pelletier/go-toml/v2/unstable"
)

// decode decodes data into a file in strict mode. go-toml stops at the
// first problem; so that one run reports every problem, decode checks the
// TOML type of every value itself first, and blanks each key/value with a
// problem before decoding again. The file is nil when a value was wrong or
// the document is malformed: only unknown keys leave a file to apply.
func decode(data []byte, keys *positions) (*file, error) {
	errs, data, ok := keys.checkTypes(data) // data is a copy from here on
	if !ok {
		return nil, errs.err()
	}
	wrong := len(errs) > 0
	for {
		var f file
		err := toml.NewDecoder(bytes.NewReader(data)).DisallowUnknownFields().Decode(&f)
		var unknown *toml.StrictMissingError
		var de *toml.DecodeError
		switch {
		case errors.As(err, &unknown):
			for i := range unknown.Errors {
				e, _ := keys.decodeError(&unknown.Errors[i])
				e.Msg = "unknown key"
				errs = append(errs, e)
			}
		case errors.As(err, &de):
			e, expr := keys.decodeError(de)
			errs = append(errs, e)
			if !keys.malformed && blank(data, expr) {
				wrong = true
				continue
			}
			return nil, errs.err()
		case err != nil:
			errs = append(errs, &Error{Msg: strings.TrimPrefix(err.Error(), "toml: ")})
			return nil, errs.err()
		}
		if wrong {
			return nil, errs.err()
		}
		return &f, errs.err()
	}
}

// checkTypes finds every value go-toml would refuse, or take wrongly, for
// its key (see problem), one per key/value, and blanks their key/values in
// a copy of data. ok is false when such a key is a table header: it cannot
// be blanked.
func (p *positions) checkTypes(data []byte) (errs errList, out []byte, ok bool) {
	if p.malformed {
		return nil, data, true // decoding reports the syntax error alone
	}
	data = bytes.Clone(data)
	for _, k := range p.keys {
		msg := problem(k)
		if msg == "" {
			continue
		}
		e := &Error{Line: k.line, Key: k.key, Msg: msg}
		if k.expr.Length == 0 {
			return append(errs, e), data, false
		}
		if blank(data, k.expr) {
			errs = append(errs, e)
		}
	}
	return errs, data, true
}

// problem says what is wrong with the value at k, or "": a TOML type the
// key does not take, text its UnmarshalText refuses (go-toml would stop at
// the first), or a key in the wrong case (go-toml would take "UDP" for
// "udp"; TOML keys are case-sensitive).
func problem(k keyPos) string {
	t, miscased := typeAt(reflect.TypeFor[file](), k.parts, strings.HasSuffix(k.key, "]"))
	switch {
	case miscased:
		return "unknown key"
	case t == nil:
		return "" // unknown: strict decoding reports it
	}
	want, kinds := wants(t)
	if kinds != nil && !slices.Contains(kinds, k.kind) {
		return fmt.Sprintf("want %s, got %s", want, kindName(k.kind))
	}
	if u, ok := reflect.New(deref(t)).Interface().(encoding.TextUnmarshaler); ok {
		if err := u.UnmarshalText(k.text); err != nil {
			return err.Error()
		}
	}
	return ""
}

// blank overwrites the expression r in data with spaces, keeping the
// lines, so every other key keeps its position. It reports whether there
// was anything to blank.
func blank(data []byte, r unstable.Range) bool {
	part := data[r.Offset : r.Offset+r.Length]
	if len(bytes.TrimSpace(part)) == 0 {
		return false
	}
	for i, c := range part {
		if c != '\n' && c != '\r' {
			part[i] = ' '
		}
	}
	return true
}

// decodeError turns a go-toml error into an *Error naming the key as
// validation does, and returns the expression it is in (zero when unknown).
func (p *positions) decodeError(de *toml.DecodeError) (*Error, unstable.Range) {
	line, col := de.Position()
	e := &Error{Line: line, Key: keyPath(de.Key()...), Msg: strings.TrimPrefix(de.Error(), "toml: ")}
	k, ok := p.lookup(de.Key(), line, col)
	if !ok || len(de.Key()) == 0 { // no key: a syntax error
		return e, unstable.Range{}
	}
	e.Key = k.key
	return e, k.expr
}

// typeAt is the Go type file decodes the value at the key parts into; elem:
// the value is an element of the array there. nil when parts name no field;
// miscased when they name one only in another case.
func typeAt(t reflect.Type, parts []string, elem bool) (_ reflect.Type, miscased bool) {
	for _, part := range parts {
		t = arrayElem(t)
		switch t.Kind() {
		case reflect.Map:
			t = t.Elem()
		case reflect.Struct:
			f, exact := fieldByKey(t, part)
			if f == nil || !exact {
				return nil, f != nil
			}
			t = f.Type
		default:
			return nil, false
		}
	}
	if elem {
		t = arrayElem(t)
	}
	return t, false
}

func deref(t reflect.Type) reflect.Type {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}

// arrayElem dereferences t and, for an array, returns its elements' type.
func arrayElem(t reflect.Type) reflect.Type {
	t = deref(t)
	if t.Kind() == reflect.Slice {
		return t.Elem()
	}
	return t
}

// fieldByKey finds the field tagged with key, or failing that one tagged
// with key in another case, which go-toml would also decode into.
func fieldByKey(t reflect.Type, key string) (f *reflect.StructField, exact bool) {
	for _, sf := range reflect.VisibleFields(t) {
		name, _, _ := strings.Cut(sf.Tag.Get("toml"), ",")
		if name == key {
			return &sf, true
		}
		if strings.EqualFold(name, key) {
			f = &sf
		}
	}
	return f, false
}

var textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()

// wants says what a value decoded into t is written as, and the TOML kinds
// that are that; no kinds: anything.
func wants(t reflect.Type) (string, []unstable.Kind) {
	t = deref(t)
	switch {
	case t == reflect.TypeFor[portSpec]():
		return `a port or a "first-last" range`, []unstable.Kind{unstable.Integer, unstable.String}
	case reflect.PointerTo(t).Implements(textUnmarshaler): // netip.Addr, duration
		return "a string", []unstable.Kind{unstable.String}
	}
	switch t.Kind() {
	case reflect.Bool:
		return "true or false", []unstable.Kind{unstable.Bool}
	case reflect.Int:
		return "an integer", []unstable.Kind{unstable.Integer}
	case reflect.String:
		return "a string", []unstable.Kind{unstable.String}
	case reflect.Slice:
		return "an array", []unstable.Kind{unstable.Array}
	case reflect.Map, reflect.Struct:
		return "a table", []unstable.Kind{unstable.Table, unstable.InlineTable}
	}
	return "", nil
}

// kindName names a TOML kind in a message: "got an integer".
func kindName(k unstable.Kind) string {
	switch k {
	case unstable.String:
		return "a string"
	case unstable.Integer:
		return "an integer"
	case unstable.Float:
		return "a float"
	case unstable.Bool:
		return "a boolean"
	case unstable.Array:
		return "an array"
	case unstable.Table, unstable.InlineTable:
		return "a table"
	}
	return "a date or time"
}
