package testserver

import "time"

// Shutdown cancels the server's context, as SIGTERM or SIGINT does for the
// real binary, and waits up to timeout for coffer serve to return. It
// reports the exit code and whether it returned in time. Stop (the test's
// cleanup) afterwards returns at once.
func (s *Server) Shutdown(timeout time.Duration) (code int, returned bool) {
	s.cancel()
	select {
	case code = <-s.done:
		s.done <- code // for Stop and any later Shutdown
		return code, true
	case <-time.After(timeout):
		return 0, false
	}
}
