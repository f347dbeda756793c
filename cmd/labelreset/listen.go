package main

import (
	"errors"
	"fmt"
	"net"
	"os"
)

// listenFlag opens the listen address given to flag (e.g. "--metrics-addr")
// before the command starts any work. An address that cannot be bound (in
// use by a second worker on the host, or by Prometheus on :9090) is a
// configuration error: exit 2, naming the flag and the address, instead of
// failing after a campaign was submitted or batches were taken.
func listenFlag(flag, addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err == nil {
		return ln, nil
	}
	// "listen tcp 127.0.0.1:9090: bind: address already in use" says
	// nothing of the flag; keep only the system's reason.
	reason := err
	var se *os.SyscallError
	if errors.As(err, &se) {
		reason = se.Err
	}
	return nil, usageError{fmt.Errorf("%s %s: %w", flag, addr, reason)}
}
