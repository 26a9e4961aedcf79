package demo_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hostcall/hostcall/bindings/go/demo"
)

// waitLimit bounds every wait in these tests: long enough for a loaded CI
// machine, short enough that a hang fails instead of stalling the run.
const waitLimit = 10 * time.Second

// isolationEnv runs the suite against an isolated library:
// HOSTCALL_TEST_ISOLATION=process gives every test context (newContext,
// and the tests that call demo.New themselves with suiteOptions) the
// option WithIsolation(demo.IsolationProcess), so the library runs in a
// helper process. Unset or empty, the suite runs in process (scripts/test.sh
// runs it both ways).
const isolationEnv = "HOSTCALL_TEST_ISOLATION"

// suiteIsolation is the isolation the suite runs in: "" is in process
// (the default, no option), anything else is passed to WithIsolation,
// which refuses a value it does not know.
var suiteIsolation = demo.Isolation(os.Getenv(isolationEnv))

// suiteOptions is opts after the suite's own option: WithIsolation when
// the suite runs isolated (a later WithIsolation in opts wins).
func suiteOptions(opts ...demo.Option) []demo.Option {
	if suiteIsolation == "" {
		return opts
	}
	return append([]demo.Option{demo.WithIsolation(suiteIsolation)}, opts...)
}

// TestMain fails the run if goroutines of the runtime or of these tests
// outlive the tests.
func TestMain(m *testing.M) {
	before := goroutines()
	code := m.Run()
	if code == 0 {
		if leaked := settledLeaks(before); leaked != "" {
			fmt.Fprintf(os.Stderr, "goroutines leaked by the tests:\n%s\n", leaked)
			code = 1
		}
	}
	os.Exit(code)
}

// open counts the contexts newContext made that are not closed yet;
// baseline is the set of goroutines from before the first of them. Workers
// that run host fns belong to their context's runtime and live until it
// closes, so goroutines are checked only when no test context is open.
var (
	openMu   sync.Mutex
	open     int
	baseline map[string]bool
)

// newContext returns a fresh Context that is closed when the test ends (a
// Close that does not return within waitLimit fails the test as a
// deadlock instead of hanging it); when it is the last test context open,
// the cleanup then checks that no goroutine of the runtime (dispatcher,
// workers) or of the test is left.
func newContext(tb testing.TB, opts ...demo.Option) *demo.Context {
	tb.Helper()
	openMu.Lock()
	if open == 0 {
		baseline = goroutines()
	}
	open++
	openMu.Unlock()
	c, err := demo.New(suiteOptions(opts...)...)
	if err != nil {
		tb.Fatalf("demo.New: %v", err)
	}
	tb.Cleanup(func() {
		closed := make(chan error, 1)
		go func() { closed <- c.Close() }()
		timer := time.NewTimer(waitLimit)
		defer timer.Stop()
		var err error
		deadlocked := false
		select {
		case err = <-closed:
		case <-timer.C:
			deadlocked = true
		}
		if err != nil {
			tb.Errorf("Close: %v", err)
		}
		openMu.Lock()
		open--
		last, before := open == 0, baseline
		openMu.Unlock()
		if deadlocked {
			// What is stuck stays so; the goroutines check is moot.
			tb.Errorf("Close did not return within %v: deadlock", waitLimit)
			return
		}
		if !last {
			return
		}
		if leaked := settledLeaks(before); leaked != "" {
			tb.Errorf("goroutines still running after Close:\n%s", leaked)
		}
	})
	return c
}

// profileOf is the profile the test host's store holds for a user.
func profileOf(userID string) demo.Profile {
	return demo.Profile{UserID: userID, Name: "Name of " + userID, Age: uint32(len(userID))}
}

// sessionOf is the session the library makes of profileOf(userID).
func sessionOf(userID string) demo.Session {
	return demo.Session{UserID: userID, Greeting: "Hello, Name of " + userID}
}

// store is a fetch_profile implementation that answers at once.
func store(_ context.Context, userID string) (demo.Profile, error) {
	return profileOf(userID), nil
}

// withStore returns a Context whose fetch_profile is store.
func withStore(tb testing.TB, opts ...demo.Option) *demo.Context {
	tb.Helper()
	c := newContext(tb, opts...)
	if err := c.RegisterFetchProfile(store); err != nil {
		tb.Fatalf("RegisterFetchProfile: %v", err)
	}
	return c
}

func ids(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%d", prefix, i)
	}
	return out
}

// receive waits for a value on ch, failing the test after waitLimit.
func receive[T any](tb testing.TB, ch <-chan T, what string) T {
	tb.Helper()
	timer := time.NewTimer(waitLimit)
	defer timer.Stop()
	select {
	case v := <-ch:
		return v
	case <-timer.C:
		tb.Fatalf("timed out after %v waiting for %s", waitLimit, what)
		panic("unreachable")
	}
}

// bounded is a context that ends after waitLimit, for calls that must not
// hang a failing test.
func bounded(tb testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	tb.Cleanup(cancel)
	return ctx
}

// ownFrames mark goroutines that belong to the runtime support or to these
// tests (host functions, listeners, callers).
var ownFrames = []string{
	"bindings/go/hostcall.(*Runtime)",
	"bindings/go/demo.(*Context)",
	"bindings/go/demo_test.",
}

// stacks returns the stack of every goroutine but the caller's, by id.
func stacks() map[string][]byte {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	out := map[string][]byte{}
	for _, stack := range bytes.Split(buf, []byte("\n\n"))[1:] { // the first is the caller's
		id, _, _ := bytes.Cut(stack, []byte(" ["))
		out[string(id)] = stack
	}
	return out
}

// goroutines is the set of goroutines running now (but the caller).
func goroutines() map[string]bool {
	out := map[string]bool{}
	for id := range stacks() {
		out[id] = true
	}
	return out
}

// leaks lists goroutines, other than the caller and those in before, that
// run code of the runtime, the bindings or these tests. Tests here do not
// use t.Parallel, so whatever it finds outlived the test that started it.
func leaks(before map[string]bool) string {
	var out []string
	for id, stack := range stacks() {
		if before[id] {
			continue
		}
		if bytes.Contains(stack, []byte("testing.(*T).Run(")) || bytes.Contains(stack, []byte("testing.(*B).Run(")) {
			continue // a parent test waiting for its subtest
		}
		for _, frame := range ownFrames {
			if bytes.Contains(stack, []byte(frame)) {
				out = append(out, string(stack))
				break
			}
		}
	}
	return strings.Join(out, "\n\n")
}

// settledLeaks is leaks once the goroutines that are finishing have had
// the chance to: a host fn goroutine sends its result after its function
// returns, so it can outlive Close by a moment. It yields the processor
// between looks (no sleeping) for at most waitLimit.
func settledLeaks(before map[string]bool) string {
	deadline := time.Now().Add(waitLimit)
	for {
		leaked := leaks(before)
		if leaked == "" || time.Now().After(deadline) {
			return leaked
		}
		runtime.Gosched()
	}
}

// eventually waits until cond holds, yielding the processor between looks
// (no sleeping), failing the test after waitLimit.
func eventually(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %v waiting for %s", waitLimit, what)
		}
		runtime.Gosched()
	}
}

// unbounded runs call with a ctx that cannot end (context.Background(), so
// a handler with a native entry point takes it), bounded instead by
// waiting for it at most waitLimit.
func unbounded(tb testing.TB, call func(ctx context.Context) error) error {
	tb.Helper()
	done := make(chan error, 1)
	go func() { done <- call(context.Background()) }()
	return receive(tb, done, "a call with a ctx that cannot end")
}

// callPaths are the two ways a call is made: with a ctx that is exactly
// context.Background() (the plain entry point: natively for a handler with
// a native entry point, else plain CBOR), and with any other (the
// cancellable form of the same entry point, tracked for its host calls).
var callPaths = []struct {
	name string
	run  func(tb testing.TB, call func(ctx context.Context) error) error
}{
	{"plain", unbounded},
	{"cancellable", func(tb testing.TB, call func(ctx context.Context) error) error { return call(bounded(tb)) }},
}
