package main

// The service under test and the backend it depends on.
//
// The backend stands in for a database: a loopback TCP server that answers
// one line per request ("<user id>\n" in, "<user id>\t<age>\t<name>\n"
// out) on persistent connections. The service reaches it through a small
// connection pool, the way a Go service reaches PostgreSQL through a pool.
//
// The two variants of the service share everything but the handler:
//
//   - lib: GET /login?user=<id> calls demo.Context.Login, whose registered
//     host fn fetch_profile does the backend round trip (fetchProfile);
//   - go: the handler does the same round trip itself and builds the same
//     Session.
//
// Both write the Session as JSON with the same function.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"

	"github.com/hostcall/hostcall/bindings/go/demo"
)

// Variant names, as the -mode flag and the reports spell them.
const (
	variantLib = "lib"
	variantGo  = "go"
)

// profileName is the backend's display name for a user.
func profileName(userID string) string { return "User " + userID }

// profileAge is the backend's age for a user: anything deterministic.
func profileAge(userID string) uint32 {
	var sum uint32
	for i := 0; i < len(userID); i++ {
		sum += uint32(userID[i])
	}
	return 18 + sum%60
}

// serveBackend accepts connections on ln until it is closed, answering
// each line with the profile of the user it names.
func serveBackend(ln net.Listener) error {
	for {
		conn, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		go backendConnection(conn)
	}
}

func backendConnection(conn net.Conn) {
	defer conn.Close()
	r := bufio.NewReader(conn)
	w := bufio.NewWriter(conn)
	for {
		line, err := r.ReadSlice('\n')
		if err != nil {
			return
		}
		userID := string(line[:len(line)-1])
		w.WriteString(userID)
		w.WriteByte('\t')
		w.WriteString(strconv.FormatUint(uint64(profileAge(userID)), 10))
		w.WriteByte('\t')
		w.WriteString(profileName(userID))
		w.WriteByte('\n')
		// Answer a pipelined batch with one write.
		if r.Buffered() == 0 {
			if w.Flush() != nil {
				return
			}
		}
	}
}

// pool is a bounded pool of persistent backend connections, opened on
// demand: at most cap(slots) are open, idle ones wait in idle.
type pool struct {
	addr  string
	idle  chan *backendConn
	slots chan struct{}
}

type backendConn struct {
	conn net.Conn
	r    *bufio.Reader
	buf  []byte
}

func newPool(addr string, size int) *pool {
	return &pool{
		addr:  addr,
		idle:  make(chan *backendConn, size),
		slots: make(chan struct{}, size),
	}
}

// get returns an idle connection, opens one if fewer than the pool's size
// are open, or waits for one to be put back.
func (p *pool) get(ctx context.Context) (*backendConn, error) {
	select {
	case bc := <-p.idle:
		return bc, nil
	default:
	}
	select {
	case bc := <-p.idle:
		return bc, nil
	case p.slots <- struct{}{}:
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", p.addr)
		if err != nil {
			<-p.slots
			return nil, fmt.Errorf("backend: %w", err)
		}
		return &backendConn{conn: conn, r: bufio.NewReader(conn)}, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// put returns a healthy connection to the pool (never blocks: at most
// cap(idle) connections exist).
func (p *pool) put(bc *backendConn) { p.idle <- bc }

// discard closes a broken connection and frees its slot.
func (p *pool) discard(bc *backendConn) {
	bc.conn.Close()
	<-p.slots
}

// close closes the idle connections (the ones in use are the callers').
func (p *pool) close() {
	for {
		select {
		case bc := <-p.idle:
			p.discard(bc)
		default:
			return
		}
	}
}

// fetchProfile is the one piece of I/O per request: a round trip to the
// backend on a pooled connection. Both variants call it, the library one
// as its host fn fetch_profile.
func (p *pool) fetchProfile(ctx context.Context, userID string) (demo.Profile, error) {
	bc, err := p.get(ctx)
	if err != nil {
		return demo.Profile{}, err
	}
	bc.buf = append(append(bc.buf[:0], userID...), '\n')
	if _, err := bc.conn.Write(bc.buf); err != nil {
		p.discard(bc)
		return demo.Profile{}, fmt.Errorf("backend: %w", err)
	}
	line, err := bc.r.ReadSlice('\n')
	if err != nil {
		p.discard(bc)
		return demo.Profile{}, fmt.Errorf("backend: %w", err)
	}
	profile, err := parseProfile(line[:len(line)-1])
	if err != nil {
		p.discard(bc)
		return demo.Profile{}, err
	}
	p.put(bc)
	return profile, nil
}

// parseProfile reads "<user id>\t<age>\t<name>".
func parseProfile(line []byte) (demo.Profile, error) {
	userID, rest, ok1 := strings.Cut(string(line), "\t")
	age, name, ok2 := strings.Cut(rest, "\t")
	n, err := strconv.ParseUint(age, 10, 32)
	if !ok1 || !ok2 || err != nil {
		return demo.Profile{}, fmt.Errorf("backend: bad profile line %q", line)
	}
	return demo.Profile{UserID: userID, Name: name, Age: uint32(n)}, nil
}

// userParam returns the request's user id, or "" if it is missing or
// could not travel in the backend's line protocol.
func userParam(r *http.Request) string {
	user := r.URL.Query().Get("user")
	if strings.ContainsAny(user, "\t\n") {
		return ""
	}
	return user
}

func writeSession(w http.ResponseWriter, s demo.Session) {
	w.Header().Set("Content-Type", "application/json")
	// An error here means the client went away; nothing to tell it.
	_ = json.NewEncoder(w).Encode(s)
}

// libLogin is variant lib's handler: the library signs the user in, and
// its host fn (registered by newLibContext) fetches the profile.
// background makes it call with context.Background() (the library's plain
// entry point) instead of the request's context (tracked, cancellable).
func libLogin(c *demo.Context, background bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		user := userParam(r)
		if user == "" {
			http.Error(w, "missing or bad user", http.StatusBadRequest)
			return
		}
		ctx := r.Context()
		if background {
			ctx = context.Background()
		}
		session, err := c.Login(ctx, user)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		writeSession(w, session)
	}
}

// newLibContext opens the library with fetch_profile implemented by p.
func newLibContext(p *pool, opts ...demo.Option) (*demo.Context, error) {
	c, err := demo.New(opts...)
	if err != nil {
		return nil, err
	}
	if err := c.RegisterFetchProfile(p.fetchProfile); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// goLogin is variant go's handler: the same round trip and the same
// Session, without the library (the Session's greeting is the library's
// session_of).
func goLogin(p *pool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		user := userParam(r)
		if user == "" {
			http.Error(w, "missing or bad user", http.StatusBadRequest)
			return
		}
		profile, err := p.fetchProfile(r.Context(), user)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		writeSession(w, demo.Session{UserID: profile.UserID, Greeting: "Hello, " + profile.Name})
	}
}
