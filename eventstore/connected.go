package eventstore

// ConnectedServer returns the name of the NATS server the Store's
// connection is on at this moment (its server_name, or its generated id
// when it has none), or "" while the connection is reconnecting or closed.
// It tells an operator or a test which node of a cluster an instance
// depends on; it is safe for concurrent use.
func (s *Store) ConnectedServer() string {
	if !s.nc.IsConnected() {
		return ""
	}
	return s.nc.ConnectedServerName()
}
