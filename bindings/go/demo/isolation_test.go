package demo_test

import (
	"bufio"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hostcall/hostcall/bindings/go/demo"
	"github.com/hostcall/hostcall/bindings/go/hostcall"
)

// These tests make isolated contexts themselves, whichever mode the suite
// runs in: a crash in process would end the test binary.

// crashes are the kinds of demo's crash handler and how the helper dies of
// each (the runtime's text).
var crashes = []struct{ kind, death string }{
	{"segfault", "signal 11 (SIGSEGV)"},
	{"abort", "signal 6 (SIGABRT)"},
	{"stack_overflow", "signal 11 (SIGSEGV)"},
	{"oom", "signal 6 (SIGABRT)"},
}

// wantProcessDied fails the test unless err is method's RET_PROCESS_DIED
// failure saying death.
func wantProcessDied(tb testing.TB, err error, method, death string) {
	tb.Helper()
	if !errors.Is(err, demo.ErrProcessDied) {
		tb.Fatalf("%s: err = %v, want one matching ErrProcessDied", method, err)
	}
	for _, other := range []error{demo.ErrShuttingDown, demo.ErrPanicked, demo.ErrCancelled} {
		if errors.Is(err, other) {
			tb.Errorf("%s: %v matches %v too", method, err, other)
		}
	}
	var callErr *hostcall.CallError
	if !errors.As(err, &callErr) || callErr.Outcome != hostcall.OutcomeProcessDied || callErr.Method != method {
		tb.Fatalf("%s: err = %#v, want a *hostcall.CallError with OutcomeProcessDied", method, err)
	}
	if want := "library process died: " + death; callErr.Message != want {
		tb.Errorf("%s: message %q, want %q", method, callErr.Message, want)
	}
}

// holdingStore registers a fetch_profile that answers at once, except for
// user ids starting "hold", whose fetch only ends with its ctx: each such
// fetch sends its id on started when it starts and its ctx's error on
// ended when the ctx ends.
func holdingStore(tb testing.TB, c *demo.Context, n int) (started chan string, ended chan error) {
	tb.Helper()
	started, ended = make(chan string, n), make(chan error, n)
	err := c.RegisterFetchProfile(func(ctx context.Context, userID string) (demo.Profile, error) {
		if !strings.HasPrefix(userID, "hold") {
			return profileOf(userID), nil
		}
		started <- userID
		<-ctx.Done()
		ended <- ctx.Err()
		return demo.Profile{}, ctx.Err()
	})
	if err != nil {
		tb.Fatal(err)
	}
	return started, ended
}

// TestIsolatedCrash: with the library in a helper process, each kind of
// crash fails the call that crashed it and every call pending in it with
// ErrProcessDied (their host fns see their ctx cancelled), and the calls
// that follow run in a new helper, the host fns still registered.
func TestIsolatedCrash(t *testing.T) {
	// The address-space limit makes `oom` fail fast instead of eating the
	// machine's memory.
	c := newContext(t, demo.WithIsolation(demo.IsolationProcess), demo.WithLimitAddressSpaceMB(256))
	const pending = 3
	started, ended := holdingStore(t, c, pending)
	for _, crash := range crashes {
		t.Run(crash.kind, func(t *testing.T) {
			logins := make(chan error, pending)
			for i := range pending {
				// Plain and cancellable calls alike.
				ctx := context.Background()
				if i%2 == 1 {
					ctx = bounded(t)
				}
				go func() {
					_, err := c.Login(ctx, "hold-"+crash.kind)
					logins <- err
				}()
			}
			for range pending {
				receive(t, started, "a held fetch to start")
			}
			wantProcessDied(t, c.Crash(bounded(t), crash.kind), "crash", crash.death)
			for range pending {
				wantProcessDied(t, receive(t, logins, "a pending Login to fail"), "login", crash.death)
			}
			// The host calls the dead helper made are cancelled.
			for range pending {
				if err := receive(t, ended, "a held fetch's ctx to end"); !errors.Is(err, context.Canceled) {
					t.Errorf("held fetch: ctx.Err() = %v, want context.Canceled", err)
				}
			}
			// A new helper serves what follows, natively declared methods
			// and host calls alike.
			if got, err := c.Add(bounded(t), 40, 2); err != nil || got != 42 {
				t.Fatalf("Add after the crash = %d, %v", got, err)
			}
			if session, err := c.Login(context.Background(), "u1"); err != nil || session != sessionOf("u1") {
				t.Fatalf("Login after the crash = %+v, %v", session, err)
			}
			if n := demo.PendingCalls(c); n != 0 {
				t.Errorf("%d calls pending after the crash", n)
			}
		})
	}
	// An unknown kind crashes nothing: the library's own error.
	err := c.Crash(bounded(t), "gently")
	var callErr *hostcall.CallError
	if !errors.As(err, &callErr) || callErr.Outcome != hostcall.OutcomeErr || errors.Is(err, demo.ErrProcessDied) {
		t.Errorf("Crash(gently) = %v, want the library's error", err)
	}
}

// TestIsolatedCrashWithoutRestart: with WithRestart(false), the calls that
// follow a crash are refused with StatusShuttingDown, whose detail says how
// the helper died.
func TestIsolatedCrashWithoutRestart(t *testing.T) {
	c := newContext(t, demo.WithIsolation(demo.IsolationProcess), demo.WithRestart(false))
	started, ended := holdingStore(t, c, 1)
	login := make(chan error, 1)
	go func() {
		_, err := c.Login(bounded(t), "hold")
		login <- err
	}()
	receive(t, started, "the held fetch to start")
	wantProcessDied(t, c.Crash(context.Background(), "abort"), "crash", "signal 6 (SIGABRT)")
	wantProcessDied(t, receive(t, login, "the pending Login to fail"), "login", "signal 6 (SIGABRT)")
	if err := receive(t, ended, "the held fetch's ctx to end"); !errors.Is(err, context.Canceled) {
		t.Errorf("held fetch: ctx.Err() = %v, want context.Canceled", err)
	}
	// The loop records the death after it answered the crashing call: a
	// call made just before that is still accepted, and answered
	// RET_PROCESS_DIED. Each attempt is a full round trip; the number of
	// attempts and the time are bounded.
	var err error
	deadline := time.Now().Add(waitLimit)
	for attempt := 0; ; attempt++ {
		_, err = c.Add(bounded(t), 1, 2)
		if !errors.Is(err, demo.ErrProcessDied) {
			break
		}
		if attempt == 1000 || time.Now().After(deadline) {
			t.Fatalf("Add still answered %v after %d attempts", err, attempt+1)
		}
	}
	var status *hostcall.StatusError
	if !errors.As(err, &status) || status.Code != hostcall.StatusShuttingDown || status.Op != "add" {
		t.Fatalf("Add after the crash: err = %#v, want a *hostcall.StatusError with StatusShuttingDown", err)
	}
	if !strings.Contains(status.Detail, "library process died: signal 6 (SIGABRT)") || !strings.Contains(status.Detail, "restart") {
		t.Errorf("Add after the crash: detail %q does not say how the helper died and that restart is off", status.Detail)
	}
	// Every method, whatever its entry point in process.
	if _, err := c.Login(bounded(t), "u1"); !errors.As(err, &status) || status.Code != hostcall.StatusShuttingDown {
		t.Errorf("Login after the crash: err = %v, want StatusShuttingDown", err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("Close after the helper died: %v", err)
	}
	if _, err := c.Add(bounded(t), 1, 2); !errors.Is(err, demo.ErrClosed) {
		t.Errorf("Add after Close: err = %v, want ErrClosed", err)
	}
}

// libraryDir is the directory of the libdemo the tests link: the first -L
// directory of CGO_LDFLAGS that has it (hostcall-helper is built beside it).
func libraryDir(t *testing.T) string {
	t.Helper()
	flags := strings.Fields(os.Getenv("CGO_LDFLAGS"))
	for i, flag := range flags {
		dir, ok := strings.CutPrefix(flag, "-L")
		if ok && dir == "" && i+1 < len(flags) {
			dir = flags[i+1]
		}
		if !ok || dir == "" {
			continue
		}
		if _, err := os.Stat(filepath.Join(dir, "libdemo.so")); err == nil {
			return dir
		}
	}
	t.Fatalf("no -L directory of CGO_LDFLAGS (%q) has libdemo.so", os.Getenv("CGO_LDFLAGS"))
	return ""
}

func TestIsolationOptions(t *testing.T) {
	t.Run("every option", func(t *testing.T) {
		dir := libraryDir(t)
		c := newContext(t,
			demo.WithIsolation(demo.IsolationProcess),
			demo.WithHelperPath(filepath.Join(dir, "hostcall-helper")),
			demo.WithLibraryPath(filepath.Join(dir, "libdemo.so")),
			demo.WithRestart(true),
			demo.WithHandshakeTimeout(waitLimit),
			demo.WithLimitAddressSpaceMB(1<<16),
			demo.WithLimitCPUSeconds(3600),
			demo.WithLimitOpenFiles(1024),
		)
		if err := c.RegisterFetchProfile(store); err != nil {
			t.Fatal(err)
		}
		if session, err := c.Login(bounded(t), "u1"); err != nil || session != sessionOf("u1") {
			t.Fatalf("Login = %+v, %v", session, err)
		}
		if got, err := c.Echo(context.Background(), []byte{0, 1, 2}); err != nil || string(got) != "\x00\x01\x02" {
			t.Fatalf("Echo = %q, %v", got, err)
		}
	})
	t.Run("in process explicitly", func(t *testing.T) {
		c := newContext(t, demo.WithIsolation(demo.IsolationInProcess))
		if got, err := c.Add(context.Background(), 1, 2); err != nil || got != 3 {
			t.Fatalf("Add = %d, %v", got, err)
		}
	})
	t.Run("refusals", func(t *testing.T) {
		tests := []struct {
			name string
			opts []demo.Option
			want []string
		}{
			// The binding's own checks name the option.
			{"unknown mode", []demo.Option{demo.WithIsolation("thread")},
				[]string{`demo: new: invalid argument: WithIsolation("thread"): must be one of IsolationInProcess, IsolationProcess`}},
			{"empty path", []demo.Option{demo.WithIsolation(demo.IsolationProcess), demo.WithHelperPath("")},
				[]string{`demo: new: invalid argument: WithHelperPath(""): must not be empty`}},
			{"long handshake", []demo.Option{demo.WithIsolation(demo.IsolationProcess), demo.WithHandshakeTimeout(time.Hour)},
				[]string{"demo: new: invalid argument: WithHandshakeTimeout(1h0m0s): must be at most 600s"}},
			// The library's: an isolation key without isolation, and a
			// helper that is not there.
			{"restart without isolation", []demo.Option{demo.WithIsolation(demo.IsolationInProcess), demo.WithRestart(false)},
				[]string{"demo: new: invalid argument:", "restart", "applies only with isolation"}},
			{"missing helper", []demo.Option{demo.WithIsolation(demo.IsolationProcess), demo.WithHelperPath("/nonexistent/hostcall-helper")},
				[]string{"demo: new: invalid argument:", "the helper /nonexistent/hostcall-helper does not exist"}},
			{"missing library", []demo.Option{demo.WithIsolation(demo.IsolationProcess), demo.WithLibraryPath("/nonexistent/libdemo.so")},
				[]string{"demo: new: invalid argument:", "/nonexistent/libdemo.so does not exist"}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				c, err := demo.New(tt.opts...)
				if err == nil {
					c.Close()
					t.Fatalf("New accepted what should give %q", tt.want)
				}
				for _, want := range tt.want {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("New error %q does not contain %q", err, want)
					}
				}
				var status *hostcall.StatusError
				if !errors.As(err, &status) || status.Code != hostcall.StatusInvalidArg || status.Op != "new" {
					t.Errorf("New error %#v, want a *hostcall.StatusError with StatusInvalidArg", err)
				}
			})
		}
	})
}

// startHelper starts hostcall-helper serving libdemo at place (--socket
// PATH or --tcp ADDR) and returns the address it printed; the helper is
// killed when the test ends.
func startHelper(t *testing.T, flag, place string) (address string, helper *exec.Cmd) {
	t.Helper()
	dir := libraryDir(t)
	helper = exec.Command(filepath.Join(dir, "hostcall-helper"), "--library", filepath.Join(dir, "libdemo.so"), flag, place)
	helper.Stderr = os.Stderr
	stdout, err := helper.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := helper.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = helper.Process.Kill()
		_ = helper.Wait()
	})
	lines := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		lines <- line
	}()
	line := receive(t, lines, "the helper's address")
	if !strings.HasSuffix(line, "\n") {
		t.Fatalf("the helper ended before it listened (printed %q)", line)
	}
	return strings.TrimSuffix(line, "\n"), helper
}

// TestListeningHelper: contexts reach a helper already running, at a unix
// socket or a TCP address, with nothing but options; each has its own host
// fns, and the helper's death fails the calls pending in it with
// ErrProcessDied.
func TestListeningHelper(t *testing.T) {
	t.Run("socket", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "demo.sock")
		address, _ := startHelper(t, "--socket", path)
		if address != path {
			t.Fatalf("the helper listens at %q, not %q", address, path)
		}
		a := withStore(t, demo.WithIsolation(demo.IsolationSocket), demo.WithAddress(path))
		b := newContext(t, demo.WithIsolation(demo.IsolationSocket), demo.WithAddress(path))
		if err := b.RegisterFetchProfile(func(_ context.Context, userID string) (demo.Profile, error) {
			return demo.Profile{UserID: userID, Name: "B", Age: 1}, nil
		}); err != nil {
			t.Fatal(err)
		}
		for _, id := range ids("u", 20) {
			if session, err := a.Login(bounded(t), id); err != nil || session != sessionOf(id) {
				t.Fatalf("a.Login = %+v, %v", session, err)
			}
			if session, err := b.Login(bounded(t), id); err != nil || session.Greeting != "Hello, B" {
				t.Fatalf("b.Login = %+v, %v", session, err)
			}
		}
		if got, err := b.Add(bounded(t), 40, 2); err != nil || got != 42 {
			t.Fatalf("Add = %d, %v", got, err)
		}
	})
	t.Run("tcp", func(t *testing.T) {
		address, helper := startHelper(t, "--tcp", "127.0.0.1:0")
		c := newContext(t, demo.WithIsolation(demo.IsolationTCP), demo.WithAddress(address), demo.WithRestart(false))
		started, ended := holdingStore(t, c, 1)
		if session, err := c.Login(bounded(t), "u1"); err != nil || session != sessionOf("u1") {
			t.Fatalf("Login = %+v, %v", session, err)
		}
		failed := make(chan error, 1)
		go func() {
			_, err := c.Login(bounded(t), "hold")
			failed <- err
		}()
		receive(t, started, "the held fetch")
		if err := helper.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		wantProcessDied(t, receive(t, failed, "the held login's end"), "login", "its connection (tcp "+address+") ended")
		if err := receive(t, ended, "the held fetch's end"); !errors.Is(err, context.Canceled) {
			t.Errorf("the held fetch ended with %v, want context.Canceled", err)
		}
	})
	t.Run("refusals", func(t *testing.T) {
		_, err := demo.New(demo.WithIsolation(demo.IsolationSocket))
		if err == nil || !strings.Contains(err.Error(), `needs config key 'address'`) {
			t.Errorf("New without an address: %v", err)
		}
		missing := filepath.Join(t.TempDir(), "nobody.sock")
		_, err = demo.New(demo.WithIsolation(demo.IsolationSocket), demo.WithAddress(missing))
		if err == nil || !strings.Contains(err.Error(), "could not connect to the helper at socket "+missing) {
			t.Errorf("New with nobody at the address: %v", err)
		}
	})
}
