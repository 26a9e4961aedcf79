package demo_test

// Benchmarks of the Go bindings against the real libdemo. Figures and the
// commands that produced them are in docs/benchmarks.md ("Go bindings");
// measure against a release build of libdemo:
//
//	cargo build -p demo --release
//	CGO_LDFLAGS="-L$PWD/target/release -Wl,-rpath,$PWD/target/release" \
//	    go test -run '^$' -bench . -benchtime 2s ./demo   # from bindings/go
//
// Smoke mode (each benchmark once, nothing asserted about speed):
//
//	go test -run '^$' -bench . -benchtime 1x ./...

import (
	"context"
	"sync"
	"testing"

	"github.com/hostcall/hostcall/bindings/go/demo"
)

// inFlight is the number of host calls kept in flight by the throughput
// benchmarks.
const inFlight = 10_000

// reportCalls reports host calls per second over the benchmark's time.
func reportCalls(b *testing.B, calls int) {
	b.ReportMetric(float64(calls)/b.Elapsed().Seconds(), "calls/s")
}

// BenchmarkLogin: one login at a time, each awaiting one fetch_profile
// implemented in Go: a full round trip Go -> Rust -> Go host fn -> Rust -> Go.
func BenchmarkLogin(b *testing.B) {
	c := withStore(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := c.Login(ctx, "u1"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLoginMany10k: one login_many of 10 000 ids per op, so 10 000
// fetch_profile host calls in flight at once, answered by Go goroutines.
func BenchmarkLoginMany10k(b *testing.B) {
	benchmarkLoginMany10k(b)
}

// BenchmarkLoginMany10kNoSpin: BenchmarkLoginMany10k with the library's
// spin off: while it waits for host results the loop thread sleeps instead
// of spinning on a core the Go side could use.
func BenchmarkLoginMany10kNoSpin(b *testing.B) {
	benchmarkLoginMany10k(b, demo.WithSpin(0))
}

func benchmarkLoginMany10k(b *testing.B, opts ...demo.Option) {
	c := withStore(b, opts...)
	userIDs := ids("u", inFlight)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		sessions, err := c.LoginMany(ctx, userIDs)
		if err != nil || len(sessions) != inFlight {
			b.Fatalf("LoginMany: %d sessions, %v", len(sessions), err)
		}
	}
	reportCalls(b, b.N*inFlight)
}

// BenchmarkLogin10kGoroutines: 10 000 goroutines each call Login once per
// op: 10 000 requests, each with one host call, in flight at once.
func BenchmarkLogin10kGoroutines(b *testing.B) {
	c := withStore(b)
	userIDs := ids("u", inFlight)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		var wg sync.WaitGroup
		wg.Add(inFlight)
		for _, userID := range userIDs {
			go func() {
				defer wg.Done()
				if _, err := c.Login(ctx, userID); err != nil {
					b.Error(err)
				}
			}()
		}
		wg.Wait()
	}
	reportCalls(b, b.N*inFlight)
}

// BenchmarkAdd: the native path (typed C entry point, no CBOR), one at a time.
func BenchmarkAdd(b *testing.B) {
	c := newContext(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := c.Add(ctx, 1, 2); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAddParallel: the native path from GOMAXPROCS goroutines.
func BenchmarkAddParallel(b *testing.B) {
	c := newContext(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.Add(ctx, 1, 2); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkCBORCall: the CBOR path without a host call, for comparison with
// BenchmarkAdd: login_many of no ids encodes an argument array, decodes an
// empty result array, and calls nothing in the host.
func BenchmarkCBORCall(b *testing.B) {
	c := newContext(b)
	ctx := context.Background()
	none := []string{}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := c.LoginMany(ctx, none); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCBORCallParallel: BenchmarkCBORCall from GOMAXPROCS goroutines.
func BenchmarkCBORCallParallel(b *testing.B) {
	c := newContext(b)
	ctx := context.Background()
	none := []string{}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.LoginMany(ctx, none); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkPingHost: the native path with a host call (notify, in Go).
func BenchmarkPingHost(b *testing.B) {
	c := newContext(b)
	if err := c.RegisterNotify(func(context.Context, string) error { return nil }); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if err := c.PingHost(ctx, "hi"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLoginNoSpin: BenchmarkLogin with the library's spin turned off,
// to show what the spin buys on the Go round trip.
func BenchmarkLoginNoSpin(b *testing.B) {
	c := withStore(b, demo.WithSpin(0))
	ctx := context.Background()
	b.ResetTimer()
	for range b.N {
		if _, err := c.Login(ctx, "u1"); err != nil {
			b.Fatal(err)
		}
	}
}

// cancellable is a ctx that can end (and never does in the benchmarks):
// calls with it take the cancellable entry points and are tracked for
// their host calls' contexts.
func cancellable(b *testing.B) context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	return ctx
}

// BenchmarkLoginCancellable: BenchmarkLogin with a ctx that can end: the
// request is tracked, and fetch_profile runs in a ctx scoped to it.
func BenchmarkLoginCancellable(b *testing.B) {
	c := withStore(b)
	ctx := cancellable(b)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := c.Login(ctx, "u1"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAddCancellable: BenchmarkAdd with a ctx that can end (the
// native entry point's cancellable form).
func BenchmarkAddCancellable(b *testing.B) {
	c := newContext(b)
	ctx := cancellable(b)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := c.Add(ctx, 1, 2); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLoginMany10kCancellable: BenchmarkLoginMany10k with a ctx that
// can end: 10 000 host calls in flight, each in a ctx scoped to it.
func BenchmarkLoginMany10kCancellable(b *testing.B) {
	c := withStore(b)
	userIDs := ids("u", inFlight)
	ctx := cancellable(b)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		sessions, err := c.LoginMany(ctx, userIDs)
		if err != nil || len(sessions) != inFlight {
			b.Fatalf("LoginMany: %d sessions, %v", len(sessions), err)
		}
	}
	reportCalls(b, b.N*inFlight)
}
