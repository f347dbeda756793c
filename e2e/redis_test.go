package e2e

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"
)

// This module talks to Redis only to check that it answers and to remove
// the run's namespace at the end (never FLUSHALL: the Redis may be shared),
// so a few lines of RESP replace a client library.

// respConn is one Redis connection speaking RESP2.
type respConn struct {
	c net.Conn
	r *bufio.Reader
}

func dialRedis(addr string) (*respConn, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(time.Minute))
	return &respConn{c: c, r: bufio.NewReader(c)}, nil
}

// do sends one command and returns its reply: a string, an int64, nil or
// a []any; an error reply is returned as an error.
func (rc *respConn) do(args ...string) (any, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := rc.c.Write([]byte(b.String())); err != nil {
		return nil, err
	}
	return rc.read()
}

func (rc *respConn) read() (any, error) {
	line, err := rc.r.ReadString('\n')
	if err != nil {
		return nil, err
	}
	line = strings.TrimSuffix(line, "\r\n")
	if line == "" {
		return nil, errors.New("empty RESP line")
	}
	switch line[0] {
	case '+':
		return line[1:], nil
	case '-':
		return nil, errors.New(line[1:])
	case ':':
		return strconv.ParseInt(line[1:], 10, 64)
	case '$':
		n, err := strconv.Atoi(line[1:])
		if err != nil || n < 0 {
			return nil, err
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(rc.r, buf); err != nil {
			return nil, err
		}
		return string(buf[:n]), nil
	case '*':
		n, err := strconv.Atoi(line[1:])
		if err != nil || n < 0 {
			return nil, err
		}
		items := make([]any, n)
		for i := range items {
			if items[i], err = rc.read(); err != nil {
				return nil, err
			}
		}
		return items, nil
	}
	return nil, fmt.Errorf("unexpected RESP line %q", line)
}

func pingRedis(addr string) error {
	rc, err := dialRedis(addr)
	if err != nil {
		return err
	}
	defer rc.c.Close()
	_, err = rc.do("PING")
	return err
}

// deleteNamespace removes the keys of namespace ns and of its asynq queues,
// as jobs/redistest does for the main module's tests.
func deleteNamespace(addr, ns string) error {
	rc, err := dialRedis(addr)
	if err != nil {
		return err
	}
	defer rc.c.Close()
	for _, pat := range []string{ns + ":*", "asynq:{" + ns + "-*"} {
		cursor := "0"
		for {
			reply, err := rc.do("SCAN", cursor, "MATCH", pat, "COUNT", "1000")
			if err != nil {
				return err
			}
			parts, ok := reply.([]any)
			if !ok || len(parts) != 2 {
				return fmt.Errorf("SCAN answered %v", reply)
			}
			cursor, _ = parts[0].(string)
			keys, _ := parts[1].([]any)
			if len(keys) > 0 {
				args := []string{"DEL"}
				for _, k := range keys {
					args = append(args, k.(string))
				}
				if _, err := rc.do(args...); err != nil {
					return err
				}
			}
			if cursor == "0" {
				break
			}
		}
	}
	_, err = rc.do("SREM", "asynq:queues", ns+"-high", ns+"-normal", ns+"-low")
	return err
}
