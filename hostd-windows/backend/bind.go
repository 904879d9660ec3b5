package backend

// BindRefusal returns the sentinel error that names why the operating
// system refused to bind a socket, ErrPortInUse or ErrExcludedPort, or nil
// for any other error. The relay judges its own listens by it, and the
// portproxy backend its trial bind before an entry is added: a bind is
// the host's own reading of a port, and it stays right when listing the
// excluded ranges fails.
func BindRefusal(err error) error {
	switch {
	case err == nil:
		return nil
	case addrInUse(err):
		return ErrPortInUse
	case excludedPort(err):
		return ErrExcludedPort
	}
	return nil
}
