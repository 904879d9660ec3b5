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
	errs, data, ok := keys.checkTypes(data)
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
			if !keys.malformed && blank(&data, expr) {
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

// checkTypes finds the values of a TOML type file does not take at their
// key, one per key/value, and blanks their key/values. ok is false when a
// table header is of the wrong type: it cannot be blanked.
func (p *positions) checkTypes(data []byte) (errs errList, out []byte, ok bool) {
	if p.malformed {
		return nil, data, true // decoding reports the syntax error alone
	}
	for _, k := range p.keys {
		t := typeAt(reflect.TypeFor[file](), k.parts, strings.HasSuffix(k.key, "]"))
		if t == nil {
			continue // an unknown key: strict decoding reports it
		}
		want, kinds := wants(t)
		if kinds == nil || slices.Contains(kinds, k.kind) {
			continue
		}
		e := &Error{Line: k.line, Key: k.key, Msg: fmt.Sprintf("want %s, got %s", want, kindName(k.kind))}
		if k.expr.Length == 0 {
			return append(errs, e), data, false
		}
		if blank(&data, k.expr) {
			errs = append(errs, e)
		}
	}
	return errs, data, true
}

// blank overwrites the expression r in a copy of *data with spaces, keeping
// the lines, so every other key keeps its position. It reports whether
// there was anything to blank.
func blank(data *[]byte, r unstable.Range) bool {
	b := bytes.Clone(*data)
	part := b[r.Offset : r.Offset+r.Length]
	if len(bytes.TrimSpace(part)) == 0 {
		return false
	}
	for i, c := range part {
		if c != '\n' && c != '\r' {
			part[i] = ' '
		}
	}
	*data = b
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
// the value is an element of the array there. nil when parts name no field.
func typeAt(t reflect.Type, parts []string, elem bool) reflect.Type {
	for _, part := range parts {
		t = arrayElem(t)
		switch t.Kind() {
		case reflect.Map:
			t = t.Elem()
		case reflect.Struct:
			f, ok := fieldByKey(t, part)
			if !ok {
				return nil
			}
			t = f.Type
		default:
			return nil
		}
	}
	if elem {
		t = arrayElem(t)
	}
	return t
}

// arrayElem dereferences t and, for an array, returns its elements' type.
func arrayElem(t reflect.Type) reflect.Type {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() == reflect.Slice {
		return t.Elem()
	}
	return t
}

func fieldByKey(t reflect.Type, key string) (reflect.StructField, bool) {
	for _, f := range reflect.VisibleFields(t) {
		if name, _, _ := strings.Cut(f.Tag.Get("toml"), ","); name == key {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

var textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()

// wants says what a value decoded into t is written as, and the TOML kinds
// that are that; no kinds: anything.
func wants(t reflect.Type) (string, []unstable.Kind) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
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
