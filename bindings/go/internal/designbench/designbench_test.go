package designbench

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/hostcall/hostcall/bindings/go/demo"
)

func store(_ context.Context, userID string) (demo.Profile, error) {
	return demo.Profile{UserID: userID, Name: "N" + userID, Age: 7}, nil
}

var designs = []struct {
	name string
	open func(FetchProfile) (Design, error)
}{
	{"A_direct", func(f FetchProfile) (Design, error) { return NewDirect(f) }},
	{"B_queued", func(f FetchProfile) (Design, error) { return NewQueued(f) }},
}

func open(tb testing.TB, newDesign func(FetchProfile) (Design, error), fetch FetchProfile) Design {
	tb.Helper()
	d, err := newDesign(fetch)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(d.Close)
	return d
}

func ids(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprint("u", i)
	}
	return out
}

// TestDesigns: both designs give the same answers, so the benchmarks
// compare like with like.
func TestDesigns(t *testing.T) {
	for _, design := range designs {
		t.Run(design.name, func(t *testing.T) {
			d := open(t, design.open, store)
			ctx := context.Background()
			session, err := d.Login(ctx, "x")
			if err != nil || session != (demo.Session{UserID: "x", Greeting: "Hello, Nx"}) {
				t.Fatalf("Login = %+v, %v", session, err)
			}
			userIDs := ids(1000)
			var wg sync.WaitGroup
			for range 4 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					sessions, err := d.LoginMany(ctx, userIDs)
					if err != nil || len(sessions) != len(userIDs) {
						t.Errorf("LoginMany: %d sessions, %v", len(sessions), err)
						return
					}
					for i, s := range sessions {
						if s.UserID != userIDs[i] {
							t.Errorf("session %d is for %q", i, s.UserID)
							return
						}
					}
				}()
			}
			wg.Wait()
		})
	}
}

// TestDirectCancel: design A's cancel path works too (first_profile is not
// wired; a failing login_many drops the other fetches).
func TestDirectCancel(t *testing.T) {
	cancelled := make(chan struct{}, 3)
	d := open(t, func(f FetchProfile) (Design, error) { return NewDirect(f) },
		func(ctx context.Context, userID string) (demo.Profile, error) {
			if userID == "bad" {
				return demo.Profile{}, errors.New("no")
			}
			<-ctx.Done()
			cancelled <- struct{}{}
			return demo.Profile{}, ctx.Err()
		})
	if _, err := d.LoginMany(context.Background(), []string{"a", "b", "c", "bad"}); err == nil {
		t.Fatal("LoginMany succeeded")
	}
	for range 3 {
		<-cancelled
	}
}

const inFlight = 10_000

// BenchmarkLoginRoundTrip: one login at a time, each awaiting one Go
// fetch_profile.
func BenchmarkLoginRoundTrip(b *testing.B) {
	for _, design := range designs {
		b.Run(design.name, func(b *testing.B) {
			d := open(b, design.open, store)
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if _, err := d.Login(ctx, "u1"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkLoginMany10k: one login_many of 10 000 ids per op: 10 000 host
// calls in flight, answered by Go goroutines.
func BenchmarkLoginMany10k(b *testing.B) {
	for _, design := range designs {
		b.Run(design.name, func(b *testing.B) {
			d := open(b, design.open, store)
			userIDs := ids(inFlight)
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				sessions, err := d.LoginMany(ctx, userIDs)
				if err != nil || len(sessions) != inFlight {
					b.Fatalf("LoginMany: %d sessions, %v", len(sessions), err)
				}
			}
			b.ReportMetric(float64(b.N*inFlight)/b.Elapsed().Seconds(), "calls/s")
		})
	}
}

// BenchmarkLogin10kGoroutines: 10 000 goroutines each call Login once per
// op: 10 000 requests with a host call each in flight.
func BenchmarkLogin10kGoroutines(b *testing.B) {
	for _, design := range designs {
		b.Run(design.name, func(b *testing.B) {
			d := open(b, design.open, store)
			userIDs := ids(inFlight)
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				var wg sync.WaitGroup
				wg.Add(inFlight)
				for _, userID := range userIDs {
					go func() {
						defer wg.Done()
						if _, err := d.Login(ctx, userID); err != nil {
							b.Error(err)
						}
					}()
				}
				wg.Wait()
			}
			b.ReportMetric(float64(b.N*inFlight)/b.Elapsed().Seconds(), "calls/s")
		})
	}
}

var transports = []struct {
	name string
	open func() (Transport, error)
}{
	{"A_direct", func() (Transport, error) { return DirectTransport{}, nil }},
	{"B_queued", func() (Transport, error) { return NewQueuedTransport() }},
}

func openTransport(tb testing.TB, newTransport func() (Transport, error)) Transport {
	tb.Helper()
	tr, err := newTransport()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(tr.Close)
	return tr
}

func TestTransports(t *testing.T) {
	for _, transport := range transports {
		t.Run(transport.name, func(t *testing.T) {
			tr := openTransport(t, transport.open)
			if err := tr.Events(1000); err != nil {
				t.Fatal(err)
			}
			if err := tr.HostFns(1000); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// BenchmarkTransportEvent: the cost per callback of getting from a C
// thread into Go code, without the library: design A's cgo callback versus
// design B's trampoline, queue and dispatcher.
func BenchmarkTransportEvent(b *testing.B) {
	for _, transport := range transports {
		b.Run(transport.name, func(b *testing.B) {
			tr := openTransport(b, transport.open)
			b.ResetTimer()
			if err := tr.Events(b.N); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "calls/s")
		})
	}
}

// BenchmarkTransportHostFn: BenchmarkTransportEvent, plus what a host fn
// callback costs in Go: a context, the running-call map, and a goroutine
// that runs the (empty) host function and reports.
func BenchmarkTransportHostFn(b *testing.B) {
	for _, transport := range transports {
		b.Run(transport.name, func(b *testing.B) {
			tr := openTransport(b, transport.open)
			b.ResetTimer()
			if err := tr.HostFns(b.N); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "calls/s")
		})
	}
}
