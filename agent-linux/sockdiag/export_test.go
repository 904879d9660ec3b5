//go:build linux

package sockdiag

// RefuseBothFamilies makes s ask for TCP of both families with a request
// type the kernel refuses, as a kernel without TCPDIAG_GETSOCK would.
func RefuseBothFamilies(s *Scanner) { s.both = 0x7ff }

// BothFamilies reports whether s still asks for TCP of both families at
// once.
func BothFamilies(s *Scanner) bool { return s.both != 0 }
