// Package wire holds what the daemon's packages need of the protocol's
// messages (gen/wslfwd/v1) beyond the generated code, each in one place:
// the conversion of protocols to and from the backends' (convert.go), and
// the order of a listener (listener.go).
package wire
