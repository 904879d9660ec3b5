// Package output renders daemon responses for people (aligned tables that
// read well in 80 columns) and for programs (protojson with proto field
// names). Every renderer is a pure function of its input and, where ages
// are shown, of the current time passed in.
package output

import (
	"fmt"
	"io"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// Format is an output format chosen with -o.
type Format string

// The formats -o accepts.
const (
	Table Format = "table"
	JSON  Format = "json"
)

// ParseFormat validates an -o value.
func ParseFormat(s string) (Format, error) {
	switch Format(s) {
	case Table, JSON:
		return Format(s), nil
	default:
		return "", fmt.Errorf("-o %q: want table or json", s)
	}
}

// jsonOpts is the one JSON shape every command prints: proto field names,
// unset fields left out.
var jsonOpts = protojson.MarshalOptions{UseProtoNames: true, Multiline: true, EmitUnpopulated: false}

// WriteJSON writes m as one JSON document followed by a newline.
func WriteJSON(w io.Writer, m proto.Message) error {
	b, err := jsonOpts.Marshal(m)
	if err != nil {
		return fmt.Errorf("encode %s as JSON: %w", m.ProtoReflect().Descriptor().Name(), err)
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// WriteJSONLine writes m as JSON on a single line, for streams (one event
// per line).
func WriteJSONLine(w io.Writer, m proto.Message) error {
	opts := jsonOpts
	opts.Multiline = false
	b, err := opts.Marshal(m)
	if err != nil {
		return fmt.Errorf("encode %s as JSON: %w", m.ProtoReflect().Descriptor().Name(), err)
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}
